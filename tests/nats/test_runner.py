"""`python -m kedro_krt.node.runner` against kre-py 2.1.5's contract, on a real nats-server.

Every expectation cites konstellation-io/kre-runners @ kre-py-v2.1.5 (`kre-py/src/...`) or
KRE 7 (konstellation-io/kre @ kre-7.0.0); the runners are driven as kre-entrypoint 1.8.1 drives
them (nats_harness.py), without gRPC.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

from kedro_krt.formats.proto import descriptor_set_of
from kedro_krt.node.runner.config_base import RunnerConfigError
from kedro_krt.node.runner.config_v1 import ENV_VARS, RunnerConfig
from kedro_krt.node.runner.envelope_base import MessageTooLarge, refusal_in
from kedro_krt.node.runner.envelope_v1 import KreNatsMessage, compress_if_needed, decode
from tests.nats.nats_harness import Topology, unpack

HERE = Path(__file__).resolve().parent

NODE_A = '''
import os, sys
from google.protobuf import wrappers_pb2

def init(ctx):
    ctx.set("greeting", "hello")

async def handler(ctx, data):
    req = wrappers_pb2.StringValue()
    assert data.Unpack(req), data.type_url
    v = req.value
    if v == "boom":
        raise RuntimeError("boom requested")
    if v == "refuse":
        from kedro_krt.node.runtime import InvalidRequest
        raise InvalidRequest("row 0, column 'x' is wrong: send another")
    if v == "early":
        await ctx.early_reply(wrappers_pb2.StringValue(value="early answer"))
        return wrappers_pb2.StringValue(value="after early")
    if v == "exit":
        ctx.early_exit()
        return wrappers_pb2.StringValue(value="exited at a")
    if v == "huge":
        return wrappers_pb2.BytesValue(value=os.urandom(2 * 1024 * 1024))
    if v == "zeros":
        return wrappers_pb2.BytesValue(value=bytes(2 * 1024 * 1024))
    if v == "where":
        return wrappers_pb2.StringValue(value=f"{__name__}|{sys.path[-1]}|{os.getcwd()}")
    if v == "db":
        await ctx.db.save("things", {"n": 1})
        return wrappers_pb2.StringValue(value="saved")
    return wrappers_pb2.StringValue(value=f"{ctx.get('greeting')} {v}")
'''

NODE_B = '''
from google.protobuf import wrappers_pb2

async def handler(ctx, data):
    s = wrappers_pb2.StringValue()
    if data.Unpack(s):
        return wrappers_pb2.StringValue(value=s.value + "|b")
    b = wrappers_pb2.BytesValue()
    data.Unpack(b)
    return b
'''


@pytest.fixture(scope="module")
def krt_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runner-krt")
    for node, code in (("a", NODE_A), ("b", NODE_B)):
        (root / "src" / node).mkdir(parents=True)
        (root / "src" / node / "main.py").write_text(code)
    return root


def start_topology(root: Path, work: Path) -> Topology:
    topo = Topology(
        root, work, version="v1", rpc="Echo",
        nodes=[("a", "src/a/main.py"), ("b", "src/b/main.py")],
        command=[sys.executable, "-m", "kedro_krt.node.runner"],
    )
    return topo


@pytest.fixture(scope="module")
def topo(
    krt_root: Path, tmp_path_factory: pytest.TempPathFactory, loop: asyncio.AbstractEventLoop
) -> Iterator[Topology]:
    topology = start_topology(krt_root, tmp_path_factory.mktemp("runner-work"))
    loop.run_until_complete(topology.start())
    yield topology
    codes = loop.run_until_complete(topology.stop())
    assert codes == {"a": 0, "b": 0}, codes  # SIGTERM: both drain and exit 0


def ask(topo: Topology, loop: asyncio.AbstractEventLoop, value: str) -> Any:
    return loop.run_until_complete(topo.request(wrappers_pb2.StringValue(value=value)))


# -- the envelope (proto/kre_nats_msg.proto) ------------------------------------------------------


def test_envelope_is_kre_nats_msg_proto_field_for_field() -> None:
    (theirs,) = [
        f for f in descriptor_set_of(HERE / "kre_nats_msg.proto", [HERE]).file
        if f.name == "kre_nats_msg.proto"
    ]
    ours = descriptor_pb2.FileDescriptorProto()
    KreNatsMessage.DESCRIPTOR.file.CopyToProto(ours)

    def shape(file: descriptor_pb2.FileDescriptorProto) -> list[tuple[str, ...]]:
        out = []
        for message in file.message_type:
            for nested in (message, *message.nested_type):
                for f in nested.field:
                    out.append((nested.name, f.name, str(f.number), str(f.label), str(f.type),
                                f.type_name))
        return out

    assert shape(ours) == shape(theirs)
    assert len(shape(ours)) == 10
    assert ours.package == theirs.package == ""
    # And on the wire, both ways.
    message = KreNatsMessage(tracking_id="t", reply="r", error="e", replied=True, early_exit=True)
    message.tracking.add(node_name="n", start="s", end="x")
    assert decode(message.SerializeToString()) == message


def test_gzip_above_one_mib_and_kre_py_size_error() -> None:
    # kre-py src/compression.py: > 1048576 bytes -> gzip level 9; still over -> this message.
    small = bytes(1024 * 1024)
    assert compress_if_needed(small) is small
    packed = compress_if_needed(bytes(1024 * 1024 + 1))
    assert packed[:2] == b"\x1f\x8b" and gzip.decompress(packed) == bytes(1024 * 1024 + 1)
    noise = os.urandom(1024 * 1024 + 10_000)
    with pytest.raises(MessageTooLarge) as info:
        compress_if_needed(noise)
    assert str(info.value).startswith("compressed message ")
    assert str(info.value).endswith(" KB exceeds maximum size allowed of 1024.00 KB.")


# -- the settings (src/config.py) -------------------------------------------------------------


def test_config_needs_kre_py_sixteen_variables() -> None:
    env = {name: "x" for name in ENV_VARS}
    env["KRT_IS_LAST_NODE"] = "True"  # only the string "true" counts, as kre-py compares
    env["KRT_NATS_SERVER"] = "kre-nats:4222"
    config = RunnerConfig.from_env(env)
    assert not config.is_last_node and config.nats_url == "nats://kre-nats:4222"
    del env["KRT_NATS_INPUT"]
    with pytest.raises(RunnerConfigError, match="the 'KRT_NATS_INPUT' env var is missing"):
        RunnerConfig.from_env(env)


@pytest.mark.integration
def test_runner_without_environment_is_one_line_and_exit_1(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRT_")}
    proc = subprocess.run(
        [sys.executable, "-m", "kedro_krt.node.runner"], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error reading config: the 'KRT_WORKFLOW_NAME' env var is missing (KRE's k8s-manager "
        "sets every KRT_* variable of a node pod; `kedro-krt serve --nats` sets them for a "
        "local run)"
    ]


# -- messages (src/main.py) ---------------------------------------------------------------------


def test_a_message_goes_through_both_nodes_with_tracking(
    topo: Topology, loop: asyncio.AbstractEventLoop
) -> None:
    answer = ask(topo, loop, "world")
    assert unpack(answer, wrappers_pb2.StringValue).value == "hello world|b"  # type: ignore[attr-defined]
    sent = topo.last_sent
    assert (answer.tracking_id, answer.reply) == (sent.tracking_id, sent.reply)
    assert [t.node_name for t in answer.tracking] == ["entrypoint", "a", "b"]
    for entry in answer.tracking[1:]:
        # datetime.utcnow().isoformat(): naive, no 'Z'.
        start, end = dt.datetime.fromisoformat(entry.start), dt.datetime.fromisoformat(entry.end)
        assert start.tzinfo is None and start <= end
    assert not answer.replied and answer.error == ""


def test_the_consumer_is_kre_py_s(topo: Topology, loop: asyncio.AbstractEventLoop) -> None:
    assert topo.topology is not None
    stream = topo.topology.stream
    info = loop.run_until_complete(topo.js.consumer_info(stream, "v1-a"))
    config = info.config
    assert config.durable_name == config.deliver_group == "v1-a"
    assert config.filter_subject == f"{stream}.a"
    assert (str(config.deliver_policy), str(config.ack_policy)) == ("new", "explicit")
    assert config.ack_wait == 22 * 3600


def test_the_node_is_imported_as_worker_with_its_folder_appended(
    topo: Topology, loop: asyncio.AbstractEventLoop, krt_root: Path
) -> None:
    answer = unpack(ask(topo, loop, "where"), wrappers_pb2.StringValue)
    name, last, cwd = answer.value[: -len("|b")].split("|")  # type: ignore[attr-defined]
    assert name == "worker"
    assert Path(last) == krt_root / "src" / "a"
    assert Path(cwd) != krt_root  # the working directory is the runner's, not the KRT


def test_an_error_goes_to_the_entrypoint_in_kre_words(
    topo: Topology, loop: asyncio.AbstractEventLoop
) -> None:
    answer = ask(topo, loop, "boom")
    assert answer.error == "error in 'a': boom requested"
    assert not answer.HasField("payload")
    # The message was acked once: the next one is handled.
    assert unpack(ask(topo, loop, "again"), wrappers_pb2.StringValue).value == "hello again|b"  # type: ignore[attr-defined]
    assert "error executing handler: boom requested" in topo.log("a")


def test_a_refusal_keeps_kre_s_error_and_adds_the_caller_s_words(
    topo: Topology, loop: asyncio.AbstractEventLoop
) -> None:
    """A handler that raises InvalidRequest: KRE's entrypoint (its own KreNatsMessage, compiled
    here from kre-runners' proto) reads the same ``error`` as for any failure and skips the
    refusal; the ``--nats`` front reads the refusal. A failure carries none."""
    answer = ask(topo, loop, "refuse")
    words = "row 0, column 'x' is wrong: send another"
    assert answer.error == f"error in 'a': {words}"
    assert refusal_in(answer) == words
    (kre_file,) = [
        f for f in descriptor_set_of(HERE / "kre_nats_msg.proto", [HERE]).file
        if f.name == "kre_nats_msg.proto"
    ]
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(any_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(kre_file)
    kre_cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("KreNatsMessage"))
    as_kre_reads = kre_cls.FromString(answer.SerializeToString())
    assert as_kre_reads.error == f"error in 'a': {words}" and not as_kre_reads.HasField("payload")
    assert refusal_in(ask(topo, loop, "boom")) == ""


def test_early_reply_then_the_last_node_publishes_nothing(
    topo: Topology, loop: asyncio.AbstractEventLoop
) -> None:
    answer = ask(topo, loop, "early")
    assert unpack(answer, wrappers_pb2.StringValue).value == "early answer"  # type: ignore[attr-defined]
    assert len(answer.tracking) == 0  # kre-py's early reply carries only payload and reply
    later = ask(topo, loop, "after")  # nothing from b for "early" came in between
    assert unpack(later, wrappers_pb2.StringValue).value == "hello after|b"  # type: ignore[attr-defined]
    assert "ignoring the last node response because the message was replied previously" in (
        topo.log("b")
    )


def test_early_exit_answers_from_the_node(topo: Topology, loop: asyncio.AbstractEventLoop) -> None:
    answer = ask(topo, loop, "exit")
    assert unpack(answer, wrappers_pb2.StringValue).value == "exited at a"  # type: ignore[attr-defined]
    assert [t.node_name for t in answer.tracking] == ["entrypoint", "a"]


def test_big_messages_are_gzipped_and_too_big_ones_fail(
    topo: Topology, loop: asyncio.AbstractEventLoop
) -> None:
    answer = ask(topo, loop, "zeros")  # 2 MiB that gzip shrinks: travels a -> b -> entrypoint
    assert unpack(answer, wrappers_pb2.BytesValue).value == bytes(2 * 1024 * 1024)  # type: ignore[attr-defined]
    answer = ask(topo, loop, "huge")  # 2 MiB of noise: over 1 MiB even gzipped
    assert answer.error.startswith("error in 'a': compressed message ")
    assert answer.error.endswith("exceeds maximum size allowed of 1024.00 KB.")


def test_db_save_is_a_request_to_the_mongo_writer(
    topo: Topology, loop: asyncio.AbstractEventLoop
) -> None:
    received: list[dict] = []

    async def writer(msg: Any) -> None:
        received.append({"subject": msg.subject, "body": json.loads(msg.data)})
        await msg.respond(b'{"success": true}')

    async def run() -> Any:
        sub = await topo.nc.subscribe("mongo_writer_data.test", cb=writer)
        try:
            return await topo.request(wrappers_pb2.StringValue(value="db"))
        finally:
            await sub.unsubscribe()

    answer = loop.run_until_complete(run())
    assert unpack(answer, wrappers_pb2.StringValue).value == "saved|b"  # type: ignore[attr-defined]
    assert received == [
        {"subject": "mongo_writer_data.test", "body": {"coll": "things", "doc": {"n": 1}}}
    ]


def test_measurements_of_every_message(topo: Topology, loop: asyncio.AbstractEventLoop) -> None:
    ask(topo, loop, "measured")
    # kre-py main.py save_elapsed_time: every node, and the workflow on the last one. A node
    # saves its points after its output is published, and writes them in batches (once a
    # second, as kre-py's InfluxDB writer does): they follow the answer.
    wanted = {
        ("node_elapsed_time", "a"), ("node_elapsed_time", "b"), ("workflow_elapsed_time", None)
    }
    names: set[tuple[str, str | None]] = set()
    deadline = time.monotonic() + 5
    while not wanted <= names and time.monotonic() < deadline:
        time.sleep(0.01)
        store = topo.work / "state" / "measurements.jsonl"
        lines = store.read_text().splitlines() if store.is_file() else []
        points = [json.loads(line) for line in lines]
        names = {(p["measurement"], p["tags"].get("node")) for p in points}
    assert wanted <= names


def test_tracking_times_with_a_zone_are_read_too(
    topo: Topology, loop: asyncio.AbstractEventLoop
) -> None:
    # KRE's entrypoint writes naive UTC; another sender may write 'Z' (Python 3.11 reads it).
    answer = loop.run_until_complete(
        topo.request(wrappers_pb2.StringValue(value="zoned"), when="2024-01-01T00:00:00Z")
    )
    assert answer.error == ""
    assert unpack(answer, wrappers_pb2.StringValue).value == "hello zoned|b"  # type: ignore[attr-defined]


@pytest.mark.e2e
def test_measurements_go_to_influxdb_as_kre_py_writes_them(
    krt_root: Path, tmp_path: Path
) -> None:
    """Contract test: KRE's InfluxDB cannot run here, so a stand-in on 127.0.0.1 takes the
    writes of influxdb-client (InfluxDB's HTTP write API: POST /api/v2/write, line protocol),
    as kre-py's ContextMeasurement sends them: bucket KRT_RUNTIME_ID, tag `version` added."""
    import http.server
    import threading
    import urllib.parse

    writes: list[tuple[dict[str, list[str]], str]] = []

    class Influx(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            writes.append(({"path": [self.path.split("?")[0]], **query}, body.decode()))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Influx)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    loop = asyncio.new_event_loop()
    topo = Topology(
        krt_root, tmp_path, version="v1", rpc="Echo",
        nodes=[("a", "src/a/main.py"), ("b", "src/b/main.py")],
        command=[sys.executable, "-m", "kedro_krt.node.runner"],
        influx_uri=f"http://127.0.0.1:{server.server_address[1]}",
    )
    try:
        loop.run_until_complete(topo.start())
        loop.run_until_complete(topo.request(wrappers_pb2.StringValue(value="influx")))
    finally:
        codes = loop.run_until_complete(topo.stop())  # SIGTERM flushes the batch
        loop.close()
        server.shutdown()
    assert codes == {"a": 0, "b": 0}
    lines = [(q, line) for q, body in writes for line in body.splitlines()]
    node_lines = [(q, line) for q, line in lines if line.startswith("node_elapsed_time,")]
    assert len(node_lines) == 2, writes
    query, line = node_lines[0]
    assert query["path"] == ["/api/v2/write"] and query["bucket"] == ["test"]
    assert "version=v1" in line and "workflow=wf" in line and "elapsed_ms=" in line
    assert any(line.startswith("workflow_elapsed_time,") for _, line in lines)
