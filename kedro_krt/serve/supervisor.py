"""``--workers N``: N worker processes on one port (SO_REUSEPORT) under a supervising parent.

The parent checks the port, starts the workers (each a :mod:`kedro_krt.serve.worker` worker
with its share of the cores), announces the ready line once all of them report ready through a
pipe and forwards SIGTERM/SIGINT.

A worker that dies while the server serves (the OOM killer's SIGKILL, a crash in native code)
is replaced, as gunicorn's arbiter does: one log line names it and how it ended, a new worker
serves the same unpacked KRT (it holds the same scratch folder, which its supervisor keeps
locked anyway), and a second line says when it is ready. The others serve on meanwhile. More
than :data:`MAX_RESTARTS` deaths within :data:`RESTART_WINDOW_S` seconds stop the server
(exit 1): something kills workers as fast as they start, and restarting hides it. A worker that
fails before the server is first ready, or whose start reports an error (an init that fails),
stops it too: a replacement would fail the same way.
"""

from __future__ import annotations

import collections
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
from dataclasses import dataclass
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
    web_line,
    worker_thread_env,
)
from kedro_krt.serve.worker import run_serving, serve_worker

log = logging.getLogger("kedro_krt.serve")

#: A worker that dies is replaced, up to this many times within :data:`RESTART_WINDOW_S`; the
#: next death within the window stops the server (gunicorn and uvicorn have no bound; a bound
#: turns a crash loop into a clear exit that a process manager sees).
MAX_RESTARTS = 5
#: The window of :data:`MAX_RESTARTS`, in seconds.
RESTART_WINDOW_S = 60.0


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


def _how_it_ended(code: int) -> str:
    """``killed by SIGKILL`` or ``exited with code 3``, from a :attr:`Popen.returncode`."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exited with code {code}"


@dataclass
class _Slot:
    """One of the N workers: its current process and the pipe it reports on."""

    index: int
    proc: subprocess.Popen[bytes]
    fd: int
    buffer: bytes = b""
    ready: bool = False
    #: When the process it replaces died (None for a worker of the first start).
    replaces_since: float | None = None


class _Workers:
    """The worker processes: started, read, replaced, stopped."""

    def __init__(self, spec: dict[str, Any], env: dict[str, str], count: int) -> None:
        self.spec = spec
        self.env = env
        self.count = count
        self.slots: list[_Slot] = []
        self.selector = selectors.DefaultSelector()

    def start(self, index: int, replaces_since: float | None = None) -> _Slot:
        # From the main thread only: PR_SET_PDEATHSIG (the worker's stop_with_parent) fires
        # when the thread that started it ends, not the process.
        read_fd, write_fd = os.pipe()
        # A replacement listens once loaded: the others serve meanwhile.
        spec = {**self.spec, "status_fd": write_fd, "replacement": replaces_since is not None}
        env = {**self.env, WORKER_SPEC_ENV: json.dumps(spec)}
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "kedro_krt.serve", "--worker"],
                env=env, pass_fds=(write_fd,),
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        slot = _Slot(index, proc, read_fd, replaces_since=replaces_since)
        self.selector.register(read_fd, selectors.EVENT_READ, slot)
        if index < len(self.slots):
            self.slots[index] = slot
        else:
            self.slots.append(slot)
        return slot

    def all_ready(self) -> bool:
        return len(self.slots) == self.count and all(slot.ready for slot in self.slots)

    def read(self, timeout: float) -> list[tuple[_Slot, dict[str, Any]]]:
        """The events the workers reported within ``timeout`` seconds."""
        events = []
        for key, _ in self.selector.select(timeout=timeout):
            events.extend(self._read(key.data))
        return events

    def _read(self, slot: _Slot) -> list[tuple[_Slot, dict[str, Any]]]:
        try:
            chunk = os.read(slot.fd, 65536)
        except OSError:
            chunk = b""
        if not chunk:
            self._close(slot)
            return []
        slot.buffer += chunk
        events = []
        while b"\n" in slot.buffer:
            line, slot.buffer = slot.buffer.split(b"\n", 1)
            events.append((slot, json.loads(line)))
        return events

    def drain(self, slot: _Slot) -> list[tuple[_Slot, dict[str, Any]]]:
        """What a dead worker wrote before it died (its pipe is at its end: no wait)."""
        events = []
        while slot.fd >= 0:
            events.extend(self._read(slot))
        return events

    def _close(self, slot: _Slot) -> None:
        if slot.fd >= 0:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(slot.fd)
            with contextlib.suppress(OSError):
                os.close(slot.fd)
            slot.fd = -1

    def dead(self) -> list[_Slot]:
        return [slot for slot in self.slots if slot.proc.poll() is not None]

    def stop(self, grace: float) -> list[int]:
        """SIGTERM every worker, wait for them to drain (SIGKILL after ``grace`` + 5 s); their
        exit codes."""
        for slot in self.slots:
            if slot.proc.poll() is None:
                slot.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace + 5
        codes = []
        for slot in self.slots:
            try:
                codes.append(slot.proc.wait(timeout=max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                slot.proc.kill()
                codes.append(slot.proc.wait())
        return codes

    def close(self) -> None:
        """Kill what still runs (after an error of ours) and close the pipes."""
        for slot in self.slots:
            if slot.proc.poll() is None:
                slot.proc.kill()
                slot.proc.wait()
            self._close(slot)
        self.selector.close()


def run_supervisor(prepared: PreparedKrt, options: ServeOptions, state: Path, work: Path) -> int:
    """Start ``options.workers`` worker processes on one port and supervise them, replacing
    one that dies while serving; ``work`` is the server's owned scratch folder, which each
    worker holds while it lives."""
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
    workers = _Workers(spec, {**worker_thread_env(options.workers), **os.environ}, options.workers)
    web = None
    try:
        for index in range(options.workers):
            slot = workers.start(index)
            log.info("worker %d started (pid %d)", index + 1, slot.proc.pid)
        if options.web_port:
            web = start_web(prepared, options.host, options.web_port, workers.all_ready)
        return _supervise(prepared, options, port, workers, stop_requested)
    finally:
        workers.close()
        if web is not None:
            web.shutdown()
            web.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _supervise(
    prepared: PreparedKrt,
    options: ServeOptions,
    port: int,
    workers: _Workers,
    stop_requested: threading.Event,
) -> int:
    announced = False
    deaths: collections.deque[float] = collections.deque()

    def handle(events: list[tuple[_Slot, dict[str, Any]]]) -> None:
        for slot, event in events:
            if event["event"] == "error":
                # Its start failed (an init, an import): a replacement would fail alike.
                workers.stop(options.grace)
                raise ServeError(event["message"])
            if event["event"] == "ready" and not slot.ready:
                slot.ready = True
                if slot.replaces_since is not None:
                    log.info(
                        "worker %d (pid %d) replaced the dead one: serving, %.1f s after it died",
                        slot.index + 1, slot.proc.pid, time.monotonic() - slot.replaces_since,
                    )

    while not stop_requested.is_set():
        handle(workers.read(timeout=0.1))
        if not announced and workers.all_ready():
            announced = True
            announce(
                ready_line(prepared, options.host, port),
                options.ready_file,
                web_line(options.host, options.web_port),
            )
        for slot in workers.dead():
            handle(workers.drain(slot))
            if stop_requested.is_set():
                break  # it stopped because the stop reached it first (Ctrl-C's SIGINT)
            code = slot.proc.returncode
            how = _how_it_ended(code)
            if not announced:
                workers.stop(options.grace)
                raise ServeError(
                    f"worker process {slot.proc.pid} {how} before it was ready; see its log above"
                )
            now = time.monotonic()
            while deaths and deaths[0] < now - RESTART_WINDOW_S:
                deaths.popleft()
            deaths.append(now)
            if len(deaths) > MAX_RESTARTS:
                workers.stop(options.grace)
                raise ServeError(
                    f"{len(deaths)} worker processes died within {now - deaths[0]:.1f} s "
                    f"(the last: worker {slot.index + 1}, pid {slot.proc.pid}, {how}); not "
                    f"restarting more than {MAX_RESTARTS} in {RESTART_WINDOW_S:g} s. See the "
                    "workers' log above; a SIGKILL is often the OOM killer (dmesg, the "
                    "container's memory limit): give the server more memory or fewer --workers"
                )
            try:
                new = workers.start(slot.index, replaces_since=now)
            except OSError as exc:  # out of memory or processes: what killed it, likely
                workers.stop(options.grace)
                raise ServeError(
                    f"worker {slot.index + 1} (pid {slot.proc.pid}) {how} and no process "
                    f"could replace it: {exc}; check the machine's memory and process limits"
                ) from None
            log.warning(
                "worker %d (pid %d) %s; replacing it (pid %d, restart %d of %d allowed in "
                "%g s)",
                slot.index + 1, slot.proc.pid, how, new.proc.pid, len(deaths), MAX_RESTARTS,
                RESTART_WINDOW_S,
            )
    codes = workers.stop(options.grace)
    # A worker still starting Python when the stop came dies of the SIGTERM sent (no handler
    # yet, nothing made yet): stopped as asked. From its first import of the KRT on, it unwinds
    # and exits 0.
    return 0 if all(code in (0, -signal.SIGTERM) for code in codes) else 1


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
                    bind_after_load=spec.get("replacement", False),
                )
            )
    except StopRequested:
        return 0
    except ServeError as exc:
        send("error", message=str(exc))
        return 1
    finally:
        status.close()
