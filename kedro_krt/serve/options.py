"""How to serve, and what the single server, the supervisor and its workers say alike.

:class:`ServeOptions` (where to listen, how many workers, the timeout), the ready line and its
announcement, the log set-up, the worker spec's environment variable and the share of the
cores each process's native thread pools get. A module of its own so that
:mod:`~kedro_krt.serve.server` and :mod:`~kedro_krt.serve.supervisor` both import it and not
each other.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kedro_krt.serve.loader_base import PreparedKrt

__all__ = [
    "DEFAULT_START_TIMEOUT_S",
    "THREAD_POOL_VARS",
    "WORKER_SPEC_ENV",
    "ServeOptions",
    "announce",
    "ready_line",
    "setup_logging",
    "web_line",
    "worker_thread_env",
]

log = logging.getLogger("kedro_krt.serve")

#: Extra seconds after the request timeout for in-flight requests to finish at shutdown.
_GRACE_MARGIN_S = 2.0
#: How long every node's init (``--nats``: every runner's import, init and subscription) may
#: take before the server gives up starting: ``--start-timeout``.
DEFAULT_START_TIMEOUT_S = 300.0
#: The supervisor hands each worker its spec (JSON) in this environment variable.
WORKER_SPEC_ENV = "KEDRO_KRT_WORKER_SPEC"


@dataclass(frozen=True)
class ServeOptions:
    """How to serve: where to listen, how many workers, the per-request timeout."""

    host: str = "127.0.0.1"
    port: int = 9000
    web_port: int | None = 8080
    workers: int = 1
    timeout: float = 30.0
    config: Mapping[str, str] = field(default_factory=dict)
    state_dir: Path | None = None
    ready_file: Path | None = None
    #: KRE's topology: nats-server, one runner process per node (``serve --nats``).
    nats: bool = False
    nats_url: str | None = None
    #: Seconds the nodes may take to load and run their init before the server exits.
    start_timeout: float = DEFAULT_START_TIMEOUT_S

    @property
    def grace(self) -> float:
        """How long a stop waits for in-flight requests: no request outlives the timeout."""
        return self.timeout + _GRACE_MARGIN_S


def setup_logging() -> None:
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def ready_line(prepared: PreparedKrt, host: str, port: int) -> str:
    """The one line printed when every worker is SERVING."""
    workflows = ", ".join(f"{w.name} ({w.entrypoint})" for w in prepared.manifest.workflows)
    return f"Serving {prepared.manifest.version} on {host}:{port} (workflows: {workflows})"


def web_line(host: str, web_port: int | None) -> str:
    """The line under the ready line that says where the web port answers ("" without one)."""
    if not web_port:
        return ""
    url = f"http://{host}:{web_port}/endpoints"
    return f"Web port: {url} (fields, example requests)"


def announce(line: str, ready_file: Path | None, web: str = "") -> None:
    """Print the ready line (and the web port's line under it); ``ready_file`` gets the ready
    line alone."""
    print(line + (f"\n{web}" if web else ""), flush=True)
    if ready_file is not None:
        Path(ready_file).write_text(line + "\n", encoding="utf-8")


# -- native thread pools -----------------------------------------------------------------------


#: Native thread pools of numpy/scikit-learn/torch that size themselves to every core.
THREAD_POOL_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def worker_thread_env(workers: int) -> dict[str, str]:
    """Thread-pool sizes for one of `workers` processes: the cores shared out, at least one.

    Each worker's BLAS/OpenMP pool would otherwise take every core, and N workers fight over
    them: measured on the example with 2 workers on 2 cores, 159-165 -> 181-194 req/s. The
    user's own settings (in the environment) win, since they are applied over these.
    """
    per_worker = max(1, (os.cpu_count() or 1) // max(1, workers))
    return {name: str(per_worker) for name in THREAD_POOL_VARS}
