"""`python -m kedro_krt.node.runner` running KRT v2 nodes, against kre-py 3.4.1's contract, on a
real nats-server.

Every expectation cites konstellation-io/kre-runners @ kre-py/v3.4.1 (`kre-py/src/...`) or
KRE 8 (konstellation-io/kre @ v8.2.0); the runners are driven as kre-entrypoint 3.3.6 drives
them (nats_harness_v2.py), without gRPC. The workflow:

    entrypoint -> split -> left (2 replicas) -> exit
                      \\-> split.side -> side -> exit
                      \\--------------------------> exit
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import wrappers_pb2

from kedro_krt.node.krt_version import KrtVersion
from kedro_krt.node.runner.config_base import RunnerConfigError
from kedro_krt.node.runner.config_v2 import ENV_VARS_V2, RunnerConfigV2
from kedro_krt.node.runner.envelope_base import refusal_in
from kedro_krt.node.runner.envelope_v2 import EARLY_REPLY, ERROR, OK
from kedro_krt.node.runner.formats import krt_version_from_env
from kedro_krt.serve.topology_v2 import NodeV2
from tests.nats.nats_harness_v2 import TopologyV2

pytestmark = pytest.mark.slow

SPLIT = '''
from google.protobuf import wrappers_pb2 as w

def init(ctx):
    ctx.logger.info("split ready")

async def default_handler(ctx, data):
    req = w.StringValue()
    assert data.Unpack(req), data.type_url
    v = req.value
    await ctx.configuration.set("last", v)
    await ctx.configuration.set("shared", "from-split:" + v, "project")
    if v == "boom":
        raise RuntimeError("boom requested")
    if v == "refuse":
        from kedro_krt.node.runtime import InvalidRequest
        raise InvalidRequest("row 0, column 'x' is wrong: send another")
    if v == "early":
        await ctx.send_early_reply(w.StringValue(value="early answer"))
    if v.startswith("side") or v == "slow":
        await ctx.send_output(w.StringValue(value=v), "side")
    if v == "store":
        await ctx.object_store.save(ctx.get_request_id(), b"stored by split")
    await ctx.send_output(w.StringValue(value=v + "|split"))
'''

#: A branch's busy work for "slow" (blocking, as CPU-bound node code is): its interval.
BUSY = '''
import time

def busy():
    start = time.time()
    time.sleep(0.6)
    return f"[{start:.3f},{time.time():.3f}]"
'''

LEFT = BUSY + '''
import os
from google.protobuf import wrappers_pb2 as w

async def default_handler(ctx, data):
    if not ctx.is_message_ok():
        return
    req = w.StringValue()
    data.Unpack(req)
    v = req.value
    extra = ""
    if v == "kv|split":
        extra = "(" + await ctx.configuration.get("shared") + ")"
    if v == "store|split":
        extra = "(" + (await ctx.object_store.get(ctx.get_request_id())).decode() + ")"
    if v == "pid|split":
        extra = "(" + str(os.getpid()) + ")"
    if v == "slow|split":
        extra = busy()
    await ctx.send_output(w.StringValue(value=v + "|left" + extra))
'''

SIDE = BUSY + '''
from google.protobuf import wrappers_pb2 as w

async def default_handler(ctx, data):
    req = w.StringValue()
    data.Unpack(req)
    extra = busy() if req.value == "slow" else ""
    await ctx.send_output(w.StringValue(value=req.value + "|side" + extra))
'''

EXIT = '''
from google.protobuf import wrappers_pb2 as w

async def from_split(ctx, data):
    if ctx.is_message_early_reply():
        await ctx.send_any(data)
    elif ctx.is_message_error():
        raise RuntimeError("split failed")

async def from_side(ctx, data):
    req = w.StringValue()
    data.Unpack(req)
    await ctx.send_output(w.StringValue(value=req.value + "|exit-side"))

async def default_handler(ctx, data):
    req = w.StringValue()
    data.Unpack(req)
    if req.value.startswith("side"):
        return
    await ctx.send_output(w.StringValue(value=req.value + "|exit"))

custom_handlers = {"split": from_split, "side": from_side}
'''

V1_ONLY = '''
async def handler(ctx, data):
    return data
'''

NODES = [
    NodeV2("split", "src/split/main.py", ("entrypoint",), object_store=("things", "workflow")),
    NodeV2("left", "src/left/main.py", ("split",), replicas=2,
           object_store=("things", "workflow")),
    NodeV2("side", "src/side/main.py", ("split.side",)),
    NodeV2("exit", "src/exit/main.py", ("split", "left", "side")),
]


@pytest.fixture(scope="module")
def krt_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runner-v2-krt")
    for node, code in (
        ("split", SPLIT), ("left", LEFT), ("side", SIDE), ("exit", EXIT), ("v1only", V1_ONLY)
    ):
        (root / "src" / node).mkdir(parents=True)
        (root / "src" / node / "main.py").write_text(code)
    return root


@pytest.fixture(scope="module")
def topo(
    krt_root: Path, tmp_path_factory: pytest.TempPathFactory, loop: asyncio.AbstractEventLoop
) -> Iterator[TopologyV2]:
    topology = TopologyV2(
        krt_root, tmp_path_factory.mktemp("runner-v2-work"), version="v2test", rpc="Echo",
        exitpoint="exit", nodes=NODES, command=[sys.executable, "-m", "kedro_krt.node.runner"],
    )
    loop.run_until_complete(topology.start())
    yield topology
    codes = loop.run_until_complete(topology.stop())
    assert set(codes.values()) == {0}, codes  # SIGTERM: every runner drains and exits 0


def ask(topo: TopologyV2, loop: asyncio.AbstractEventLoop, value: str) -> Any:
    return loop.run_until_complete(topo.request(wrappers_pb2.StringValue(value=value)))


def seen_once(
    topo: TopologyV2,
    loop: asyncio.AbstractEventLoop,
    request_id: str,
    ready: Callable[[list[tuple[str, Any]]], bool],
    timeout: float = 10.0,
) -> list[tuple[str, Any]]:
    """The request's messages once `ready` holds of them: the answer can come through one branch
    before the test's observer has seen another branch's message (they travel independently)."""
    deadline = time.monotonic() + timeout
    while True:
        found = topo.messages(request_id)
        if ready(found) or time.monotonic() > deadline:
            return found
        loop.run_until_complete(asyncio.sleep(0.02))


def text(message: Any) -> str:
    out = wrappers_pb2.StringValue()
    assert message.payload.Unpack(out), message.payload.type_url
    return out.value


# -- the environment (kre-py 3.4.1 src/config.py; KRE 8.2 k8s-manager manager_node.go) ----------


def test_v2_env_is_kre_py_3s_and_a_missing_variable_is_named() -> None:
    env = {name: "x" for name in ENV_VARS_V2} | {"KRT_NATS_INPUTS": "s.entrypoint,s.a.sub"}
    assert krt_version_from_env(env) is KrtVersion.V2
    assert krt_version_from_env({"KRT_NATS_INPUT": "s.a"}) is KrtVersion.V1
    config = RunnerConfigV2.from_env(env)
    # os.environ["KRT_NATS_INPUTS"].split(","); optional ones default as kre-py's os.getenv.
    assert config.nats_inputs == ("s.entrypoint", "s.a.sub")
    assert config.nats_object_store is None and config.nats_max_ack_pending == -1
    # main.py: queue = durable = f'{subject.replace(".", "-")}-{node}'
    assert config.queue("s.a.sub") == "s-a-sub-x"
    # main.py __get_output_subject__: the channel is a subtopic of KRT_NATS_OUTPUT
    assert config.output_subject("repairs") == "x.repairs" and config.output_subject() == "x"
    for name in ENV_VARS_V2:
        with pytest.raises(RunnerConfigError, match=f"the '{name}' env var is missing"):
            RunnerConfigV2.from_env({k: v for k, v in env.items() if k != name})


@pytest.mark.integration
def test_runner_process_refuses_a_v2_env_without_kv_stores(krt_root: Path) -> None:
    env = {name: "x" for name in ENV_VARS_V2 if name != "KRT_NATS_KEY_VALUE_STORE_NODE"}
    env |= {"KRT_BASE_PATH": str(krt_root), "KRT_HANDLER_PATH": "src/split/main.py"}
    out = subprocess.run(
        [sys.executable, "-m", "kedro_krt.node.runner"], env={**os.environ, **env},
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 1
    assert "error reading config: the 'KRT_NATS_KEY_VALUE_STORE_NODE' env var is missing" in (
        out.stderr
    )


@pytest.mark.integration
def test_a_v1_handler_alone_is_refused_for_a_v2_node(krt_root: Path) -> None:
    env = {name: "x" for name in ENV_VARS_V2}
    env |= {"KRT_BASE_PATH": str(krt_root), "KRT_HANDLER_PATH": "src/v1only/main.py"}
    out = subprocess.run(
        [sys.executable, "-m", "kedro_krt.node.runner"], env={**os.environ, **env},
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 1
    assert "must implement 'default_handler(ctx, data)' or 'custom_handlers'" in out.stdout
    assert "kre-py 3 (KRT v2) calls 'default_handler(ctx, data)' and never 'handler'" in out.stdout


# -- messages ----------------------------------------------------------------------------------


def test_several_subscriptions_and_a_handler_per_origin(
    topo: TopologyV2, loop: asyncio.AbstractEventLoop
) -> None:
    """exit subscribes to split, left and side; left's messages go to default_handler
    (handlers.py: custom_handlers.get(from_node) or default_handler)."""
    answer = ask(topo, loop, "hi")
    assert text(answer) == "hi|split|left|exit"
    # main.py new_response_msg: the request's id, this node as from_node, type OK.
    assert answer.from_node == "exit" and answer.message_type == OK and not answer.error
    hops = [(s.rsplit(".", 1)[1], m.from_node) for s, m in topo.messages(answer.request_id)]
    assert hops == [
        ("entrypoint", "entrypoint"), ("split", "split"), ("left", "left"), ("exit", "exit")
    ]


def test_send_output_to_a_subtopic_reaches_only_its_subscribers(
    topo: TopologyV2, loop: asyncio.AbstractEventLoop
) -> None:
    """send_output(msg, "side") publishes to <output>.side (main.py __get_output_subject__);
    side subscribes to `split.side` (KRE 8.2 nats-manager: <stream>.<subscription>)."""
    answer = ask(topo, loop, "side-1")
    assert text(answer) == "side-1|side|exit-side"  # custom_handlers["side"]
    stream = topo.topology.stream  # type: ignore[union-attr]
    wanted = {f"{stream}.split.side", f"{stream}.left"}
    seen = seen_once(topo, loop, answer.request_id, lambda ms: wanted <= {s for s, _ in ms})
    subjects = [s for s, _ in seen]
    assert f"{stream}.split.side" in subjects
    # left got split's plain output only: its value shows no subtopic message reached it.
    left = [text(m) for s, m in seen if s == f"{stream}.left"]
    assert left == ["side-1|split|left"]


def test_early_reply_is_a_typed_message_the_exitpoint_forwards(
    topo: TopologyV2, loop: asyncio.AbstractEventLoop
) -> None:
    """send_early_reply = send_output typed EARLY_REPLY (context.py); the exitpoint forwards it
    with send_any, and the entrypoint answers the first exitpoint message of the request."""
    answer = ask(topo, loop, "early")
    assert text(answer) == "early answer"

    def kinds_of(ms: list[tuple[str, Any]]) -> list[tuple[str, int]]:
        return [(s.rsplit(".", 1)[1], m.message_type) for s, m in ms]

    kinds = kinds_of(
        seen_once(topo, loop, answer.request_id, lambda ms: ("split", OK) in kinds_of(ms))
    )
    assert ("split", EARLY_REPLY) in kinds and ("split", OK) in kinds


def test_an_error_goes_to_the_subscribers_typed_error(
    topo: TopologyV2, loop: asyncio.AbstractEventLoop
) -> None:
    """main.py: an exception publishes `Error in node '<node>' executing handler for node
    '<from>': <err>` typed ERROR on the node's own subject."""
    answer = ask(topo, loop, "boom")
    assert answer.message_type == ERROR and answer.from_node == "exit"
    assert answer.error == (
        "Error in node 'exit' executing handler for node 'split': split failed"
    )
    (split_error,) = [
        m for s, m in topo.messages(answer.request_id) if s.endswith(".split")
    ]
    assert split_error.message_type == ERROR and split_error.error == (
        "Error in node 'split' executing handler for node 'entrypoint': boom requested"
    )


def test_a_refusal_travels_with_the_errors_down_to_the_exitpoint(
    topo: TopologyV2, loop: asyncio.AbstractEventLoop
) -> None:
    """split refuses (InvalidRequest); exit fails on split's error as on any. Both errors keep
    kre-py 3's words, and both carry split's refusal after the envelope (refusal_in), which
    the ``--nats`` front answers as INVALID_ARGUMENT; kre-py and KRE's entrypoint skip it."""
    words = "row 0, column 'x' is wrong: send another"
    answer = ask(topo, loop, "refuse")
    assert answer.message_type == ERROR and answer.from_node == "exit"
    assert answer.error == "Error in node 'exit' executing handler for node 'split': split failed"
    assert refusal_in(answer) == words
    (split_error,) = [m for s, m in topo.messages(answer.request_id) if s.endswith(".split")]
    assert split_error.error == (
        f"Error in node 'split' executing handler for node 'entrypoint': {words}"
    )
    assert refusal_in(split_error) == words
    assert refusal_in(ask(topo, loop, "boom")) == ""  # a failure is not a refusal


def test_key_value_stores_by_scope(topo: TopologyV2, loop: asyncio.AbstractEventLoop) -> None:
    """context_configuration.py: set() defaults to the node scope; get() without a scope looks
    in node, workflow, project; KRE 8.2 nats-manager names the buckets key-store_..."""
    answer = ask(topo, loop, "kv")
    assert text(answer) == "kv|split|left(from-split:kv)|exit"

    async def read() -> tuple[str, str]:
        node = await topo.js.key_value("key-store_test_v2test_wf_split")
        project = await topo.js.key_value("key-store_test_v2test")
        return (await node.get("last")).value.decode(), (await project.get("shared")).value.decode()

    assert loop.run_until_complete(read()) == ("kv", "from-split:kv")


def test_object_store_shared_by_the_workflow(
    topo: TopologyV2, loop: asyncio.AbstractEventLoop
) -> None:
    """objectStore {name: things, scope: workflow} is <runtime>_<version>_<workflow>_things
    (KRE 8.2 nats-manager); context_objectstore.py save/get bytes by key."""
    answer = ask(topo, loop, "store")
    assert text(answer) == "store|split|left(stored by split)|exit"

    async def read() -> bytes:
        store = await topo.js.object_store("test_v2test_wf_things")
        return bytes((await store.get(answer.request_id)).data)

    assert loop.run_until_complete(read()) == b"stored by split"


def test_replicas_share_the_queue_groups(topo: TopologyV2, loop: asyncio.AbstractEventLoop) -> None:
    """left runs two processes with the same durable queue groups (KRE 8.2: a Deployment with
    `replicas` pods): each message is handled by one of them, never both."""
    answers = [ask(topo, loop, "pid") for _ in range(8)]
    for answer in answers:
        lefts = [m for s, m in topo.messages(answer.request_id) if s.endswith(".left")]
        assert len(lefts) == 1
    pids = {text(a).split("(")[1].split(")")[0] for a in answers}
    live = {str(p.pid) for k, p in topo.procs.items() if k.startswith("left")}
    assert pids <= live and len(live) == 2


def test_branches_run_at_the_same_time(topo: TopologyV2, loop: asyncio.AbstractEventLoop) -> None:
    """split's output goes to left and, on the `side` subtopic, to side: two runner processes,
    each busy (blocking) for a while on the same request; their intervals overlap."""
    answer = ask(topo, loop, "slow")
    stream = topo.topology.stream  # type: ignore[union-attr]

    def interval(node: str) -> tuple[float, float] | None:
        for subject, message in topo.messages(answer.request_id):
            if subject == f"{stream}.{node}":
                start, end = text(message).split("[")[1].rstrip("]").split(",")
                return float(start), float(end)
        return None

    for _ in range(200):  # either branch's message may come after the answer
        if interval("side") is not None and interval("left") is not None:
            break
        loop.run_until_complete(asyncio.sleep(0.05))
    left, side = interval("left"), interval("side")
    assert left is not None and side is not None
    assert max(left[0], side[0]) < min(left[1], side[1]), (left, side)


def test_node_elapsed_time_is_measured_with_kre_py_3s_tags(
    topo: TopologyV2, loop: asyncio.AbstractEventLoop
) -> None:
    """main.py save_elapsed_time: `node_elapsed_time` {elapsed_ms, success} tagged from_node;
    context_measurement.py adds version, workflow and node (here in the file:// store)."""
    ask(topo, loop, "measured")
    ask(topo, loop, "boom")  # split fails on it
    # The runner batches its points (one write a second, as kre-py's InfluxDB writer does).
    store = topo.work / "state" / "measurements.jsonl"
    deadline = time.monotonic() + 5
    split: list[dict[str, Any]] = []
    while len(split) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        lines = store.read_text().splitlines() if store.is_file() else []
        points = [json.loads(line) for line in lines]
        split = [
            p for p in points
            if p["measurement"] == "node_elapsed_time" and p["tags"]["node"] == "split"
        ]
    assert split, points[:3]
    assert split[-1]["tags"] == {
        "from_node": "entrypoint", "workflow": "wf", "node": "split", "version": "v2test"
    }
    assert set(split[-1]["fields"]) == {"elapsed_ms", "success"}
    assert {p["fields"]["success"] for p in split} == {True, False}
