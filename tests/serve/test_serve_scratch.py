"""`kedro-krt serve` leaves nothing in the temporary folder when it is stopped: no
``kedro-krt-serve-*`` (its scratch folder), no ``krt-protoc-*``, no ``kedro-krt-pb2-*``.

A SIGTERM while it starts (the KRT is checked and its protos compiled, before the event loop
and its signal handler) used to kill it at once, so no ``finally`` ran. Each server gets a
temporary folder of its own (``TMPDIR``), so what it leaves is its own. SIGKILL is the one exit
that cannot clean (test harnesses give their servers the test's folder as ``TMPDIR``).
"""

from __future__ import annotations

import re
import signal
import tempfile
import time
from pathlib import Path

import pytest

from kedro_krt.serve import gencode
from tests.serve.serve_helpers import ServerProcess

pytestmark = pytest.mark.e2e

@pytest.mark.slow
@pytest.mark.parametrize("when", ["starting", "serving", "workers starting"])
def test_sigterm_leaves_nothing_in_the_temporary_folder(
    krt_dir: Path, tmp_path: Path, when: str
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    workers = ["--workers", "2"] if when == "workers starting" else []
    server = ServerProcess(krt_dir, tmp_path, *workers, env={"TMPDIR": str(tmp)})
    try:
        if when == "serving":
            server.wait_status("SERVING", timeout=90)
        elif workers:
            # The supervisor forwards it to workers still starting, before their event loop:
            # each unwinds, or dies of it before its first import of the KRT, having made
            # nothing; either is a clean stop (it used to end the supervisor with 1).
            deadline = time.monotonic() + 60
            while "worker 2 started" not in server.stderr:
                assert server.proc.poll() is None, server.stderr
                assert time.monotonic() < deadline, server.stderr
                time.sleep(0.005)
        else:
            # Its scratch folder is made first thing; then the KRT is checked for a while.
            deadline = time.monotonic() + 60
            while not list(tmp.glob("kedro-krt-serve-*")):
                assert server.proc.poll() is None, server.stderr
                assert time.monotonic() < deadline, server.stderr
                time.sleep(0.005)
        server.proc.send_signal(signal.SIGTERM)
        assert server.wait_exit(timeout=60) == 0, server.stderr
        assert sorted(p.name for p in tmp.iterdir()) == [], server.stderr
    finally:
        server.kill()


def test_nodes_without_old_generated_code_make_no_scratch_folder(
    krt_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(gencode, "_SCRATCH", None)
    monkeypatch.setattr(gencode, "_SHADOWS", {})
    assert gencode.shadow_for(krt_dir / "src" / "prep", krt_dir, "prep") is None
    assert list(tmp_path.iterdir()) == []


def _alive(pid: int) -> bool:
    try:
        return " Z " not in Path(f"/proc/{pid}/stat").read_text()  # a zombie is dead
    except OSError:
        return False


@pytest.mark.slow
def test_a_killed_supervisors_workers_stop_and_the_next_server_removes_its_folder(
    krt_dir: Path, tmp_path: Path
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    killed = ServerProcess(krt_dir, tmp_path, "--workers", "2", env={"TMPDIR": str(tmp)})
    try:
        killed.wait_status("SERVING", timeout=90)
        workers = [int(pid) for pid in re.findall(r"started \(pid (\d+)\)", killed.stderr)]
        assert len(workers) == 2, killed.stderr
        killed.proc.kill()  # SIGKILL: no code of the supervisor runs
        killed.proc.wait()
    finally:
        killed.kill()
    # They get SIGTERM from the kernel (PR_SET_PDEATHSIG) and drain; they used to serve on.
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in workers if _alive(pid)]
    (left,) = tmp.glob("kedro-krt-serve-*")
    server = ServerProcess(krt_dir, tmp_path, env={"TMPDIR": str(tmp)})
    try:
        server.wait_status("SERVING", timeout=90)
        assert not left.exists(), server.stderr
        assert f"left by killed processes: {left.name}" in server.stderr
    finally:
        server.kill()
    assert list(tmp.iterdir()) == [], server.stderr
