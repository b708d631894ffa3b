"""Load on a ``--workers`` server while its workers are killed: client threads, each with a
connection of its own, loop on one rpc and count what they get.

Used by tests/serve/test_worker_restart.py, and by hand for the figures in the docs::

    python -m tests.serve.worker_load [--clients 8] [--seconds 10] [--kill-at 3]

which builds the hand-written fixture KRT, serves it with ``--workers 2``, SIGKILLs one worker
``--kill-at`` seconds into the load and prints the counts and the recovery time.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import re
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.protobuf import json_format, message_factory

from kedro_krt.serve.client import _find_rpc
from tests.serve.serve_helpers import ServerProcess, build_krt_dir

#: The deadline of each call: a call that reaches it "hung".
CALL_DEADLINE_S = 5.0


def worker_pids(supervisor: int) -> list[int]:
    """The supervisor's live child processes (its workers), from /proc."""
    text = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text()
    pids = []
    for pid in map(int, text.split()):
        try:
            if " Z " not in Path(f"/proc/{pid}/stat").read_text():  # a zombie is dead
                pids.append(pid)
        except OSError:
            pass
    return pids


@dataclass
class Load:
    """``clients`` threads calling ``rpc`` with ``data`` (proto3 JSON) until :meth:`stop`."""

    address: str
    rpc: str
    data: str
    clients: int = 8
    #: A new connection for every call (as ``kedro krt call`` makes), not one per client.
    fresh: bool = False
    #: gRPC's wait_for_ready: a call waits while its channel reconnects instead of failing.
    wait_for_ready: bool = False
    codes: collections.Counter[str] = field(default_factory=collections.Counter)
    #: The failures by code and details.
    failures: collections.Counter[str] = field(default_factory=collections.Counter)
    #: (client, start, end, code) of every call, monotonic seconds.
    calls: list[tuple[int, float, float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        with grpc.insecure_channel(self.address) as channel:
            target = _find_rpc(channel, self.rpc, 10)
        request_cls = message_factory.GetMessageClass(target.method.input_type)
        self._path = target.path
        self._request = json_format.Parse(self.data, request_cls()).SerializeToString()
        self._threads = [
            threading.Thread(target=self._loop, args=(client,)) for client in range(self.clients)
        ]

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _loop(self, client: int) -> None:
        # A connection per client: channels share their subchannels (one connection, so one
        # worker) unless told not to.
        options = [("grpc.use_local_subchannel_pool", 1)]
        channel = grpc.insecure_channel(self.address, options=options)
        try:
            while not self._stop.is_set():
                if self.fresh:
                    channel.close()
                    channel = grpc.insecure_channel(self.address, options=options)
                started = time.monotonic()
                try:
                    channel.unary_unary(self._path)(
                        self._request, timeout=CALL_DEADLINE_S, wait_for_ready=self.wait_for_ready
                    )
                    code = "OK"
                except grpc.RpcError as exc:
                    code = exc.code().name
                    with self._lock:
                        self.failures[f"{code}: {exc.details()}"] += 1
                    if self.fresh and "starting" in (exc.details() or ""):
                        code += " (starting)"
                with self._lock:
                    self.codes[code] += 1
                    self.calls.append((client, started, time.monotonic(), code))
        finally:
            channel.close()

    def last_failure_after(self, moment: float) -> float | None:
        """When the last call that failed after ``moment`` ended (None: none failed)."""
        ends = [end for _, _, end, code in self.calls if code != "OK" and end >= moment]
        return max(ends) if ends else None

    def failing_clients(self, moment: float) -> dict[int, tuple[int, float]]:
        """For each client whose calls failed after ``moment``: how many, and for how long
        (from ``moment`` to the end of its last failure)."""
        spans: dict[int, tuple[int, float]] = {}
        for client, _, end, code in self.calls:
            if code != "OK" and end >= moment:
                count, _span = spans.get(client, (0, 0.0))
                spans[client] = (count + 1, max(_span, end - moment))
        return spans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--kill-at", type=float, default=3.0)
    parser.add_argument("--fresh", action="store_true", help="a new connection for every call")
    parser.add_argument("--wait-for-ready", action="store_true", help="gRPC's wait_for_ready")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        krt = build_krt_dir(tmp / "krt")
        server = ServerProcess(krt, tmp, "--workers", "2")
        try:
            server.wait_status("SERVING", timeout=120)
            while "Serving" not in server.stdout:
                time.sleep(0.05)
            load = Load(
                server.address, "Greet", json.dumps({"name": "Load"}), args.clients, args.fresh,
                args.wait_for_ready,
            )
            load.start()
            time.sleep(args.kill_at)
            victim = worker_pids(server.proc.pid)[0]
            killed = time.monotonic()
            os.kill(victim, signal.SIGKILL)  # as the OOM killer does
            time.sleep(max(0.0, args.seconds - args.kill_at))
            load.stop()
            replaced = re.search(r"serving, ([\d.]+) s after it died", server.stderr)
            last_failure = load.last_failure_after(killed)
            mode = " (a connection per call)" if args.fresh else ""
            mode += " (wait_for_ready)" if args.wait_for_ready else ""
            print(f"clients: {args.clients}{mode}, "
                  f"{args.seconds:g} s, worker pid {victim} SIGKILLed at {args.kill_at:g} s")
            print("calls by status:", dict(load.codes))
            for failure, count in load.failures.most_common():
                print(f"  {count} x {failure}")
            for client, (count, span) in sorted(load.failing_clients(killed).items()):
                print(f"  client {client}: {count} failed, the last {span:.2f} s after the kill")
            print("hung (DEADLINE_EXCEEDED at 5 s):", load.codes.get("DEADLINE_EXCEEDED", 0))
            after = "never" if last_failure is None else f"{last_failure - killed:.2f} s"
            print("last failed call ended:", after, "after the kill")
            print("replacement ready:",
                  f"{replaced.group(1)} s after the kill" if replaced else "not logged")
            print("workers now:", len(worker_pids(server.proc.pid)))
            server.proc.send_signal(signal.SIGTERM)
            print("exit on SIGTERM:", server.wait_exit(60))
            print("left in TMPDIR:", sorted(p.name for p in tmp.glob("kedro-krt-*")))
        finally:
            server.kill()
        print("--- server log ---")
        print(server.stderr)


if __name__ == "__main__":
    main()


def listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` has a socket listening on TCP ``port`` (from /proc)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == "0A" and fields[9] in inodes:
                    return True
    return False
