"""Serve a KRT: the entry point (``kedro-krt serve``, ``python -m kedro_krt.serve``).

One worker is one asyncio process serving every workflow, with the in-process engine or the
NATS back end (``--nats``): :mod:`kedro_krt.serve.worker`. ``workers=N`` starts N worker
processes on one port under a parent: see :mod:`kedro_krt.serve.supervisor`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro_krt.scratch import StopRequested, scratch_folder, sigterm_unwinds
from kedro_krt.serve.errors import ServeError
from kedro_krt.serve.loader import PreparedKrt, prepare_krt
from kedro_krt.serve.options import (
    DEFAULT_START_TIMEOUT_S,
    ServeOptions,
    announce,
    ready_line,
    setup_logging,
    web_line,
)
from kedro_krt.serve.supervisor import run_supervisor
from kedro_krt.serve.worker import Worker, run_serving, serve_worker

__all__ = ["run_server"]

log = logging.getLogger("kedro_krt.serve")


def _state_dir(work: Path, options: ServeOptions) -> Path:
    """The state folder (db, measurements): ``--state-dir``, else inside the scratch folder."""
    if options.state_dir is not None:
        state = Path(options.state_dir)
        state.mkdir(parents=True, exist_ok=True)
        return state.resolve()
    state = work / "state"
    state.mkdir()
    return state


def run_server(
    source: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 9000,
    web_port: int | None = 8080,
    workers: int = 1,
    timeout: float = 30.0,
    config: Mapping[str, str] | None = None,
    state_dir: Path | None = None,
    ready_file: Path | None = None,
    nats: bool = False,
    nats_url: str | None = None,
    start_timeout: float = DEFAULT_START_TIMEOUT_S,
) -> int:
    """Serve the KRT at ``source`` (a ``.krt``, a KRT folder or its krt.yml) until stopped.

    Prints ``Serving <version> on <host>:<port> (workflows: ...)`` once every node's init has run
    (and writes that line to ``ready_file`` when given), then serves until SIGTERM/SIGINT, lets
    in-flight requests finish and returns 0. A SIGTERM while it starts returns 0 too (SIGINT
    raises KeyboardInterrupt); either way its scratch folder is removed (after a SIGKILL, by
    the next server: an owned folder, :mod:`kedro_krt.scratch`).

    Raises:
        ServeError: when it cannot start: an invalid or unsafe KRT, a missing config value, a
            port in use, a node that fails to import or whose init fails, or does not return
            within ``start_timeout`` seconds.
    """
    setup_logging()
    if workers < 1:
        raise ServeError(f"workers must be 1 or more, got {workers}")
    if timeout <= 0:
        raise ServeError(f"timeout must be a positive number of seconds, got {timeout}")
    if start_timeout <= 0:
        raise ServeError(
            f"start timeout must be a positive number of seconds, got {start_timeout}"
        )
    if nats_url and not nats:
        nats = True
    if nats and workers != 1:
        raise ServeError(
            "--workers does not apply to --nats: every node runs in a process of its own; "
            "leave --workers out"
        )
    options = ServeOptions(
        host=host, port=port, web_port=web_port or None, workers=workers, timeout=timeout,
        config=dict(config or {}), state_dir=state_dir, ready_file=ready_file, nats=nats,
        nats_url=nats_url, start_timeout=start_timeout,
    )
    try:
        # The scratch folder holds the unpacked .krt and, unless --state-dir, the state.
        with sigterm_unwinds(), scratch_folder("kedro-krt-serve-", owned=True) as work:
            state = _state_dir(work, options)
            prepared = prepare_krt(Path(source), work_dir=work, config=options.config)
            for warning in prepared.warnings:
                log.warning("%s", warning)
            log.info("state (db, measurements) in %s", state)
            if workers == 1:
                return _run_single(prepared, options, state)
            return run_supervisor(prepared, options, state, work)
    except StopRequested:
        log.info("stopped while starting")
        return 0


def _run_single(prepared: PreparedKrt, options: ServeOptions, state: Path) -> int:
    from kedro_krt.serve.web import start_web

    web: list[Any] = []

    def on_start(worker: Worker) -> None:
        if options.web_port:
            web.append(start_web(prepared, options.host, options.web_port, lambda: worker.ready))

    def on_ready(worker: Worker) -> None:
        announce(
            ready_line(prepared, options.host, worker.port),
            options.ready_file,
            web_line(options.host, options.web_port),
        )

    try:
        return run_serving(
            serve_worker(
                prepared, options, state, reuse_port=False, on_ready=on_ready, on_start=on_start
            )
        )
    finally:
        for server in web:
            server.shutdown()
            server.server_close()
