"""Load on a ``serve --nats`` server while one of its node runners is SIGKILLed: client threads,
each with a connection of its own, loop on one rpc and count what they get (tests.serve.worker_load
does the same for ``--workers``).

By hand, for the figures in the docs::

    python -m tests.nats.nats_load [--krt dist/shuttle-prices.krt --node model] [--clients 8] \\
        [--seconds 12] [--kill-at 4] [--deadline 5]

serves the example's .krt with ``--nats`` (without ``--krt``: the hand-written fixture KRT of
tests/fixtures/handwritten_krt, its rpc ``Greet``), sends the sample request
from ``--clients`` threads, SIGKILLs the runner of ``--node`` ``--kill-at`` seconds into the load
(as the OOM killer does) and prints the calls by status, the failures, the calls that reached
the client's ``--deadline`` ("hung"), when the first call sent after the kill was answered, and
the longest call.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import time
from pathlib import Path

from tests.e2e.e2e_helpers import ServedKrt
from tests.serve import worker_load
from tests.serve.malformed import sample_request
from tests.serve.serve_helpers import build_krt_dir
from tests.serve.worker_load import Load


def runner_pid(server: int, node: str) -> int:
    """The pid of the runner of ``node``, a child of the serving process (from /proc)."""
    children = Path(f"/proc/{server}/task/{server}/children").read_text().split()
    for pid in children:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"kedro_krt.node.runner" in cmdline and f"KRT_NODE_NAME={node}".encode() in environ:
            return int(pid)
    raise LookupError(f"no runner of node '{node}' under pid {server}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--krt", type=Path, help="the example's .krt (default: the fixture KRT)")
    parser.add_argument("--node", help="the node whose runner is killed (default: model)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--kill-at", type=float, default=4.0)
    parser.add_argument("--deadline", type=float, default=5.0, help="each call's, in seconds")
    args = parser.parse_args()
    worker_load.CALL_DEADLINE_S = args.deadline
    with tempfile.TemporaryDirectory() as folder:
        if args.krt is None:
            krt, rpc, body = build_krt_dir(Path(folder) / "krt"), "Greet", {"name": "Load"}
            extra = ("--config", "GREETING=Hello")
        else:
            krt, rpc, body, extra = args.krt, "Inference", sample_request(), ()
        args.node = args.node or "model"
        server = ServedKrt(krt, Path(folder), "--nats", *extra)
        try:
            server.wait_serving(timeout=300)
            load = Load(server.address, rpc, json.dumps(body), args.clients)
            load.start()
            time.sleep(args.kill_at)
            victim = runner_pid(server.proc.pid, args.node)
            killed = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            time.sleep(max(0.0, args.seconds - args.kill_at))
            load.stop()
            calls = load.calls
            after = [end for _, start, end, code in calls if code == "OK" and start > killed]
            first_ok = min(after, default=None)
            longest = max(end - start for _, start, end, _ in calls)
            print(
                f"serve --nats {krt.name}, clients: {args.clients}, {args.seconds:g} s, "
                f"deadline {args.deadline:g} s, runner of node "
                f"'{args.node}' (pid {victim}) SIGKILLed at {args.kill_at:g} s"
            )
            print("calls by status:", dict(load.codes))
            for failure, count in load.failures.most_common():
                print(f"  {count} x {failure[:240]}")
            print(
                f"hung (DEADLINE_EXCEEDED at {args.deadline:g} s):",
                load.codes.get("DEADLINE_EXCEEDED", 0),
            )
            last_failure = load.last_failure_after(killed)
            print(
                "last failed call ended:",
                "never" if last_failure is None else f"{last_failure - killed:.2f} s",
                "after the kill",
            )
            print(
                "first call sent after the kill answered:",
                "never" if first_ok is None else f"{first_ok - killed:.2f} s after the kill",
            )
            print(f"longest call: {longest:.2f} s")
            restarted = [line for line in server.logs().splitlines() if "restarting it" in line]
            print("server log:", restarted[-1].strip() if restarted else "no restart logged")
            print("runner now:", runner_pid(server.proc.pid, args.node))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
