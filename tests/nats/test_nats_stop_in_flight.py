"""A stop of `serve --nats` lets the handlers already running finish their work and publish it.

SIGTERM to the server reaches each runner as KRE's SIGTERM reaches a pod: it stops taking
messages and handles those already delivered (kre-py drains its NATS connection). The
hand-written KRT's 'early-greeting' workflow answers the caller from its first node (early
reply), then its 'tail' node keeps working for 0.5 s, saves a document and returns its result.
A stop right after the answer must let 'tail' finish: its document saved, its result published
while the connection is whole, the runner out without nats-py's drain timeout (its result's
acknowledgement used to arrive on an inbox the connection's drain had already closed).
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from kedro_krt.serve.client import call
from tests.serve.serve_helpers import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_a_stop_lets_a_running_handler_finish_and_publish(krt_dir: Path, tmp_path: Path) -> None:
    server = ServerProcess(krt_dir, tmp_path, "--nats")
    try:
        server.wait_status("SERVING", timeout=90)
        reply = call("EarlyGreet", '{"name": "Ann"}', server.address, timeout=30)
        assert json.loads(reply) == {"greeting": "early hello, Ann"}
        server.proc.send_signal(signal.SIGTERM)  # 'tail' is still at work
        assert server.wait_exit(timeout=60) == 0, server.stderr
        out = server.stdout + server.stderr
        assert "draining connection timed out" not in out, out
        assert "Error publishing response" not in out, out
        assert "a handler still runs" not in out, out
        # ctx.db under serve: one JSON line per document, a file per collection
        (saved,) = server.state.rglob("tail_done.jsonl")
        assert [json.loads(line)["name"] for line in saved.read_text().splitlines()] == ["Ann"]
    finally:
        server.kill()
