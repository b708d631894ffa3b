"""``--workers N``: N worker processes on one port (SO_REUSEPORT) under a supervising parent.

The parent checks the port, starts the workers (each a :mod:`kedro_krt.serve.worker` worker
with its share of the cores), announces the ready line once all of them report ready through a
pipe, forwards SIGTERM/SIGINT and stops them all if one fails.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from kedro_krt.scratch import StopRequested, hold, sigterm_unwinds
from kedro_krt.serve.errors import ServeError
from kedro_krt.serve.loader import PreparedKrt, prepare_krt
from kedro_krt.serve.options import (
    WORKER_SPEC_ENV,
    ServeOptions,
    announce,
    ready_line,
    setup_logging,
    worker_thread_env,
)
from kedro_krt.serve.worker import run_serving, serve_worker

log = logging.getLogger("kedro_krt.serve")


def _pick_port(host: str, port: int) -> int:
    """Check that nobody listens on ``port`` (0: pick a free one), without SO_REUSEPORT."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ServeError(
                f"cannot listen on {host}:{port}: {exc.strerror}; stop the other server or "
                "choose another port with --port"
            ) from None
        return int(sock.getsockname()[1])


def run_supervisor(prepared: PreparedKrt, options: ServeOptions, state: Path, work: Path) -> int:
    """Start ``options.workers`` worker processes on one port and supervise them; ``work`` is
    the server's owned scratch folder, which each worker holds while it lives."""
    from kedro_krt.serve.web import start_web

    port = _pick_port(options.host, options.port)
    spec = {
        "root": str(prepared.root),
        "host": options.host,
        "port": port,
        "timeout": options.timeout,
        "start_timeout": options.start_timeout,
        "config": dict(prepared.config),
        "state_dir": str(state),
        "parent": os.getpid(),
        "work": str(work),
    }
    stop_requested = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop_requested.set())
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    children: list[tuple[subprocess.Popen[bytes], int]] = []
    ready: set[int] = set()
    web = None
    threads = worker_thread_env(options.workers)
    try:
        for index in range(options.workers):
            read_fd, write_fd = os.pipe()
            env = {
                **threads,
                **os.environ,
                WORKER_SPEC_ENV: json.dumps({**spec, "status_fd": write_fd}),
            }
            proc = subprocess.Popen(
                [sys.executable, "-m", "kedro_krt.serve", "--worker"],
                env=env, pass_fds=(write_fd,),
            )
            os.close(write_fd)
            children.append((proc, read_fd))
            log.info("worker %d started (pid %d)", index + 1, proc.pid)
        if options.web_port:
            web = start_web(
                prepared, options.host, options.web_port, lambda: len(ready) == len(children)
            )
        return _supervise(prepared, options, port, children, ready, stop_requested)
    finally:
        for proc, fd in children:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            with contextlib.suppress(OSError):
                os.close(fd)
        if web is not None:
            web.shutdown()
            web.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _supervise(
    prepared: PreparedKrt,
    options: ServeOptions,
    port: int,
    children: list[tuple[subprocess.Popen[bytes], int]],
    ready: set[int],
    stop_requested: threading.Event,
) -> int:
    selector = selectors.DefaultSelector()
    buffers: dict[int, bytes] = {}
    for proc, fd in children:
        selector.register(fd, selectors.EVENT_READ, proc)
        buffers[fd] = b""
    announced = False
    while True:
        if stop_requested.is_set():
            break
        for key, _ in selector.select(timeout=0.1):
            fd = int(key.fd)
            chunk = os.read(fd, 65536)
            if not chunk:
                selector.unregister(fd)
                continue
            buffers[fd] += chunk
            while b"\n" in buffers[fd]:
                line, buffers[fd] = buffers[fd].split(b"\n", 1)
                event = json.loads(line)
                if event["event"] == "ready":
                    ready.add(fd)
                elif event["event"] == "error":
                    _stop_children(children, options.grace)
                    raise ServeError(event["message"])
        if not announced and len(ready) == len(children):
            announced = True
            announce(ready_line(prepared, options.host, port), options.ready_file)
        for proc, _ in children:
            code = proc.poll()
            if code is not None:
                _stop_children(children, options.grace)
                raise ServeError(
                    f"worker process {proc.pid} exited with code {code} "
                    f"{'while serving' if announced else 'before it was ready'}; see its log above"
                )
    codes = _stop_children(children, options.grace)
    # A worker still starting Python when the stop came dies of the SIGTERM sent (no handler
    # yet, nothing made yet): stopped as asked. From its first import of the KRT on, it unwinds
    # and exits 0.
    return 0 if all(code in (0, -signal.SIGTERM) for code in codes) else 1


def _stop_children(
    children: list[tuple[subprocess.Popen[bytes], int]], grace: float
) -> list[int]:
    for proc, _ in children:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace + 5
    codes = []
    for proc, _ in children:
        try:
            codes.append(proc.wait(timeout=max(0.1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            proc.kill()
            codes.append(proc.wait())
    return codes


def run_worker_from_env() -> int:
    """Entry of a worker process started by the supervisor (spec in an env var)."""
    from kedro_krt.node.runner import stop_with_parent

    setup_logging()
    spec = json.loads(os.environ.pop(WORKER_SPEC_ENV))
    # A supervisor killed outright (SIGKILL) must not leave its workers serving, on a port and
    # a state folder nobody owns any more: they get SIGTERM and stop as asked.
    stop_with_parent(spec["parent"])
    hold(Path(spec["work"]))  # a worker still draining keeps its folder from the next server
    status = os.fdopen(spec["status_fd"], "w", buffering=1)

    def send(event: str, **extra: Any) -> None:
        with contextlib.suppress(OSError):
            status.write(json.dumps({"event": event, **extra}) + "\n")

    options = ServeOptions(
        host=spec["host"], port=spec["port"], web_port=None, workers=1,
        timeout=spec["timeout"], config=spec["config"], start_timeout=spec["start_timeout"],
    )
    try:
        # A SIGTERM from the supervisor before the event loop has its handler unwinds, as in
        # run_server; the supervisor validated the KRT already.
        with sigterm_unwinds():
            prepared = prepare_krt(
                Path(spec["root"]), work_dir=Path(spec["state_dir"]), config=spec["config"],
                validate=False,
            )
            return run_serving(
                serve_worker(
                    prepared, options, Path(spec["state_dir"]), reuse_port=True,
                    on_ready=lambda worker: send("ready", pid=os.getpid()),
                )
            )
    except StopRequested:
        return 0
    except ServeError as exc:
        send("error", message=str(exc))
        return 1
    finally:
        status.close()
