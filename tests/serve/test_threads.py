"""Worker processes share the cores out among their native thread pools."""

from __future__ import annotations

import os

from kedro_krt.serve.options import THREAD_POOL_VARS, worker_thread_env


def test_each_worker_gets_its_share_of_the_cores_and_at_least_one() -> None:
    cores = os.cpu_count() or 1
    assert worker_thread_env(1) == {name: str(cores) for name in THREAD_POOL_VARS}
    assert set(worker_thread_env(cores * 4).values()) == {"1"}
    assert set(worker_thread_env(2).values()) == {str(max(1, cores // 2))}
