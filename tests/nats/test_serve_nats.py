"""`serve --nats`: the life of KRE's topology on one machine, on a real nats-server.

The hand-written KRT of tests/fixtures runs unchanged under `python -m kedro_krt.node.runner`, one
process per node (tests/serve/test_server.py runs all its behaviour in both modes); here: what
only a topology of processes has: draining on SIGTERM, a runner that dies, timeouts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from kedro_krt.serve.client import CallError, call
from tests.serve.serve_helpers import ServerProcess

pytestmark = pytest.mark.slow


def greet(server: ServerProcess, name: str, rpc: str = "Greet", **extra: object) -> dict:
    return json.loads(call(rpc, json.dumps({"name": name, **extra}), server.address, timeout=30))


def runner_pids(server: ServerProcess) -> dict[str, int]:
    """{node: pid} of the runner processes the server started (children with KRT_NODE_NAME)."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != server.proc.pid:
                continue
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        for item in environ:
            if item.startswith(b"KRT_NODE_NAME="):
                found[item.split(b"=", 1)[1].decode()] = int(entry.name)
    return found


def call_in_thread(server: ServerProcess, name: str, **extra: object) -> dict[str, object]:
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["reply"] = greet(server, name, **extra)
        except CallError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    outcome["thread"] = thread
    return outcome


def test_one_runner_per_node_with_kre_environment(krt_dir: Path, start_nats_server) -> None:  # type: ignore[no-untyped-def]
    server = start_nats_server(krt_dir)
    pids = runner_pids(server)
    assert set(pids) == {"prep", "model", "early", "tail"}
    environ = dict(
        item.split("=", 1)
        for item in (Path("/proc") / str(pids["prep"]) / "environ")
        .read_bytes()
        .decode()
        .split("\0")
        if "=" in item
    )
    # KRE 7's k8s-manager names (engine/k8s-manager/kubernetes/version/config.go), runtime 'local'.
    stream = "local-handwritten-v1-Greet"
    assert environ["KRT_NATS_STREAM"] == stream
    assert environ["KRT_NATS_INPUT"] == f"{stream}.prep"
    assert environ["KRT_NATS_OUTPUT"] == f"{stream}.model"
    assert environ["KRT_NATS_ENTRYPOINT_SUBJECT"] == f"{stream}.entrypoint"
    assert environ["KRT_IS_LAST_NODE"] == "false"
    assert environ["KRT_NATS_MONGO_WRITER"] == "mongo_writer_data.local"
    assert environ["KRT_HANDLER_PATH"] == "src/prep/main.py"
    assert environ["GREETING"] == "Hello"  # config.variables reach every pod
    # Each node answered through its own process.
    assert int(greet(server, "Pid")["pid"]) == pids["model"]


def test_sigterm_drains_in_flight_requests_and_exits_0(krt_dir: Path, start_nats_server) -> None:  # type: ignore[no-untyped-def]
    server = start_nats_server(krt_dir)
    pids = runner_pids(server)
    slow = call_in_thread(server, "Draining", sleep=1.5)
    time.sleep(0.5)
    server.terminate()
    slow["thread"].join(timeout=30)  # type: ignore[attr-defined]
    assert "error" not in slow, slow.get("error")
    assert slow["reply"]["greeting"].startswith("Hello, Draining")  # type: ignore[index]
    assert server.wait_exit(timeout=30) == 0
    for pid in pids.values():  # every runner is gone too
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


def test_a_killed_runner_fails_its_request_and_comes_back(
    krt_dir: Path, start_nats_server  # type: ignore[no-untyped-def]
) -> None:
    server = start_nats_server(krt_dir)
    prep = runner_pids(server)["prep"]
    held = call_in_thread(server, "Doomed", sleep=5)
    time.sleep(1.0)  # the request is inside prep's handler now
    os.kill(prep, signal.SIGKILL)
    held["thread"].join(timeout=30)  # type: ignore[attr-defined]
    error = held.get("error")
    assert isinstance(error, CallError), held
    assert error.code == "INTERNAL"
    assert "error in 'prep': the runner of node 'prep' exited (code -9)" in error.details
    # The server kept serving: the runner is started again and answers.
    assert greet(server, "Again")["greeting"].startswith("Hello, Again")
    assert runner_pids(server)["prep"] != prep
    assert "node 'prep' (workflow 'greeting') exited with code -9" in server.stderr


def test_timeout_names_the_running_node(krt_dir: Path, start_nats_server) -> None:  # type: ignore[no-untyped-def]
    server = start_nats_server(krt_dir, "--timeout", "0.5")
    with pytest.raises(CallError) as info:
        greet(server, "Slow", sleep=2)
    assert info.value.code == "DEADLINE_EXCEEDED"
    assert "node 'prep' was running" in info.value.details
    # As in a KRE pod, prep goes on with the slow message (one at a time), then takes the next;
    # the late answer of the first finds nobody waiting and is dropped.
    time.sleep(2.0)
    assert greet(server, "Quick")["greeting"].startswith("Hello, Quick")


_SLOW_MODEL = """

_handler = handler


async def handler(ctx, data):
    import asyncio

    prepared = Prepared()
    data.Unpack(prepared)
    if prepared.name == "SlowModel":
        await asyncio.sleep(2)
    return await _handler(ctx, data)
"""


def test_timeout_names_a_later_node_from_the_hops(
    krt_dir: Path, tmp_path: Path, start_nats_server  # type: ignore[no-untyped-def]
) -> None:
    """The front learns that a request left 'prep' for 'model' only from the hop it observes
    (it reads the envelope's ``reply`` and nothing else): the timeout names 'model'."""
    slow = tmp_path / "slow-model"
    shutil.copytree(krt_dir, slow)
    model = slow / "src" / "model" / "main.py"
    model.write_text(model.read_text() + _SLOW_MODEL)
    server = start_nats_server(slow, "--timeout", "0.8")
    with pytest.raises(CallError) as info:
        greet(server, "SlowModel")
    assert info.value.code == "DEADLINE_EXCEEDED"
    assert "node 'model' was running" in info.value.details


def test_the_hop_headers_read_the_envelopes_fields() -> None:
    """The hop observer's headers read, from the bytes of both envelopes (payload and tracking
    left unread), the same id, type and error as the full decode."""
    from google.protobuf import wrappers_pb2

    from kedro_krt.node.runner.envelope_base import gunzip
    from kedro_krt.node.runner.envelope_v1 import KreNatsMessage, compress_if_needed
    from kedro_krt.node.runner.envelope_v2 import ERROR, KreNatsMessageV2
    from kedro_krt.serve.serving_v1 import HopV1 as _HopV1
    from kedro_krt.serve.serving_v2 import HopV2 as _HopV2

    v1 = KreNatsMessage(tracking_id="t", reply="req-1", replied=True)
    v1.tracking.add(node_name="entrypoint", start="s", end="e")
    v1.payload.Pack(wrappers_pb2.BytesValue(value=b"k" * (2 << 20)))  # gzipped on the wire
    wire = compress_if_needed(v1.SerializeToString())
    assert wire[:2] == b"\x1f\x8b"
    assert _HopV1.FromString(gunzip(wire)).reply == "req-1"
    v2 = KreNatsMessageV2(request_id="req-2", from_node="a", message_type=ERROR, error="bad")
    v2.payload.Pack(wrappers_pb2.StringValue(value="x"))
    hop = _HopV2.FromString(v2.SerializeToString())
    assert (hop.request_id, hop.message_type, hop.error) == ("req-2", ERROR, "bad")


def test_the_observer_skips_the_front_s_own_subjects() -> None:
    """Each observed message wakes the front: it listens where a request goes next, not to the
    subject it publishes requests to (it knows who reads them), nor to the answers' subject."""
    from kedro_krt.serve.serving_v1 import observed as observed_v1
    from kedro_krt.serve.serving_v2 import observed as observed_v2
    from kedro_krt.serve.topology_v1 import topology
    from kedro_krt.serve.topology_v2 import NodeV2, topology_v2

    pods = {"runtime_id": "local", "nats_server": "nats://127.0.0.1:4222"}
    (three,) = topology(
        version="v", workflows=[("wf", "Rpc", [("a", "a.py"), ("b", "b.py"), ("c", "c.py")])],
        **pods,  # type: ignore[arg-type]
    )
    assert observed_v1(three) == ["local-v-Rpc.b", "local-v-Rpc.c"]
    (one,) = topology(version="v", workflows=[("wf", "Rpc", [("a", "a.py")])], **pods)  # type: ignore[arg-type]
    assert observed_v1(one) == []
    (v2,) = topology_v2(
        version="v",
        workflows=[(
            "wf", "Rpc", "exit",
            [NodeV2("etl", "etl.py", ("entrypoint",)), NodeV2("exit", "exit.py", ("etl",))],
        )],
        **pods,  # type: ignore[arg-type]
    )
    stream = v2.stream
    assert observed_v2(v2) == [f"{stream}.etl", f"{stream}.etl.*", f"{stream}.exit.*"]
    assert v2.entrypoint_subject not in observed_v2(v2)


@pytest.mark.e2e
def test_workers_do_not_apply(krt_dir: Path, tmp_path: Path) -> None:
    server = ServerProcess(krt_dir, tmp_path, "--nats", "--workers", "2")
    assert server.wait_exit(timeout=30) == 1
    assert "--workers does not apply to --nats" in server.stderr


def test_a_killed_server_leaves_no_process_behind(krt_dir: Path, start_nats_server) -> None:  # type: ignore[no-untyped-def]
    server = start_nats_server(krt_dir)
    children = set(runner_pids(server).values())
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == server.proc.pid:
                children.add(int(entry.name))  # nats-server too
    assert len(children) >= 5  # four runners and nats-server
    server.proc.kill()  # SIGKILL: the server cannot stop anything itself
    server.proc.wait()
    deadline = time.monotonic() + 15
    alive = children
    while alive and time.monotonic() < deadline:
        alive = {
            pid for pid in alive
            if Path(f"/proc/{pid}").exists() and " Z " not in Path(f"/proc/{pid}/stat").read_text()
        }
        time.sleep(0.1)
    assert not alive, f"still running after the server was killed: {sorted(alive)}"
