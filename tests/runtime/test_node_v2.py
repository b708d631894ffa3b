"""KRT v2 nodes of the example, driven by hand as kre-py 3 drives them, and their joins.

The example compiled with ``--krt-version v2`` is extracted; each ``src/<node>/main.py`` is
imported as kre-py 3.4.1 imports it (konstellation-io/kre-runners @ kre-py/v3.4.1:
``kre-py/src/main.py``: module ``worker``, folder appended to sys.path), ``init`` runs once, and
each message goes to ``custom_handlers[from_node]`` else ``default_handler`` (``handlers.py``)
with a ctx bound to a real ``KreNatsMessage`` (kedro_krt's kre-py 3 ctx,
``kedro_krt.runtime.context_v2.ContextV2Base``, and envelope, ``kedro_krt.runner.envelope_v2``).
What a handler sends goes to every node subscribed to it in krt.yml; a handler that raises
sends an ERROR message instead, as kre-py 3's ``message_cb`` does. The messages of several
requests are delivered in a shuffled order, so every join sees them interleaved.

The v1 build of the example cannot be loaded beside it (both define ``entrypoint.*`` messages
of the same names in protobuf's default pool): the replies are compared with Kedro's own run
here, and with v1's over gRPC in tests/e2e.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest
from e2e_helpers import as_parsed, assert_same_quotes, kedro_reference, quotes_frame, request_json
from google.protobuf import any_pb2, json_format, struct_pb2, wrappers_pb2
from google.protobuf.message import Message

from kedro_krt.krt.archive import extract_krt
from kedro_krt.krt.manifest_v2 import ManifestV2
from kedro_krt.runner.envelope_v2 import KreNatsMessageV2
from kedro_krt.runtime.context_v2 import ERROR, OK, ContextV2Base, select_handler
from kedro_krt.runtime.join import RequestJoin, join_settings


def _load_worker(krt: Path, node: str) -> ModuleType:
    folder = krt / "src" / node
    sys.path.append(str(folder))
    spec = importlib.util.spec_from_file_location("worker", folder / "main.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


# -- the join alone --------------------------------------------------------------------------


def _any(value: str) -> any_pb2.Any:
    return _pack(wrappers_pb2.StringValue(value=value))


def test_interleaved_requests_are_joined_each_with_its_own_messages() -> None:
    join = RequestJoin(["entrypoint", "left", "right"], node="join")
    arrivals = [
        (f"r{i}", source, _any(f"{source}-of-r{i}"))
        for i in range(40)
        for source in ("entrypoint", "left", "right")
    ]
    random.Random(7).shuffle(arrivals)
    done: dict[str, dict[str, Any]] = {}
    for request_id, source, message in arrivals:
        joined = join.add(request_id, source, message)
        if joined is not None:
            assert request_id not in done, "a request was completed twice"
            done[request_id] = joined
    assert sorted(done) == sorted(f"r{i}" for i in range(40))
    for request_id, joined in done.items():
        assert list(joined) == ["entrypoint", "left", "right"]
        for source, message in joined.items():
            value = wrappers_pb2.StringValue()
            assert message.Unpack(value)
            assert value.value == f"{source}-of-{request_id}"
    assert len(join) == 0


def test_at_most_max_pending_requests_wait_and_the_oldest_goes_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    join = RequestJoin(["a", "b"], node="n", max_pending=3)
    with caplog.at_level(logging.WARNING):
        for i in range(5):
            assert join.add(f"r{i}", "a", _any("x")) is None
    assert join.pending() == ["r2", "r3", "r4"]
    assert join.evicted == 2
    assert "node 'n' dropped request r0 (more than 3 requests waiting)" in caplog.text
    assert "it had messages from a, none from b" in caplog.text
    # A late message of an evicted request starts over; the others still join.
    assert join.add("r4", "b", _any("y")) is not None


def test_a_request_waits_no_longer_than_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    join = RequestJoin(["a", "b"], node="n", timeout=0.2)
    join.add("old", "a", _any("x"))
    time.sleep(0.3)
    with caplog.at_level(logging.WARNING):
        assert join.add("new", "a", _any("x")) is None  # every arrival expires the old ones
    assert join.pending() == ["new"]
    assert "dropped request old (waited more than 0.2 s)" in caplog.text
    time.sleep(0.3)
    assert join.expire() == 1 and len(join) == 0


def test_redelivery_keeps_the_later_message_and_unknown_sources_are_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    join = RequestJoin(["a", "b"], node="n")
    join.add("r", "a", _any("first"))
    with caplog.at_level(logging.WARNING):
        join.add("r", "a", _any("second"))
    assert "a second message from 'a' for request r" in caplog.text
    joined = join.add("r", "b", _any("b"))
    assert joined is not None
    value = wrappers_pb2.StringValue()
    joined["a"].Unpack(value)
    assert value.value == "second"
    with pytest.raises(ValueError, match="does not subscribe to"):
        join.add("r", "c", _any("c"))
    assert join.discard("nothing", "test") is False


def test_join_settings_come_from_the_environment() -> None:
    assert join_settings({}) == (1000, 60.0)
    env = {"KEDRO_KRT_JOIN_MAX_PENDING": "10", "KEDRO_KRT_JOIN_TIMEOUT": "2.5"}
    assert join_settings(env) == (10, 2.5)
    with pytest.raises(ValueError, match="KEDRO_KRT_JOIN_TIMEOUT='soon'"):
        join_settings({"KEDRO_KRT_JOIN_TIMEOUT": "soon"})


# -- the compiled example as v2 ----------------------------------------------------------------


class Bus:
    """KRE 8's subjects on one machine: a node's output goes to every node subscribed to it.

    Deliveries wait in a list and are made in a shuffled order (``seed``).
    """

    def __init__(self, krt: Path, workers: dict[str, ModuleType], seed: int) -> None:
        manifest = ManifestV2.from_yaml((krt / "krt.yml").read_text())
        (self.workflow,) = manifest.workflows
        self.workers = workers
        self.rng = random.Random(seed)
        self.queue: list[tuple[str, Any]] = []
        self.answers: dict[str, Any] = {}
        logger = logging.getLogger("test-v2")
        self.ctxs = {
            node: ContextV2Base(
                node=node, base_path=krt, logger=logger, publish=self._publisher(node)
            )
            for node in workers
        }

    def _publisher(self, node: str) -> Any:
        async def publish(payload: Any, message_type: int, channel: str, request: Any) -> None:
            self.emit(node, request.request_id, payload, message_type)

        return publish

    def emit(self, origin: str, request_id: str, payload: Any, message_type: int, error: str = ""):
        envelope = KreNatsMessageV2(
            request_id=request_id, from_node=origin, message_type=message_type, error=error
        )
        envelope.payload.CopyFrom(payload)
        if origin == self.workflow.exitpoint:
            self.answers[request_id] = envelope
        for node in self.workflow.subscribers(origin):
            self.queue.append((node.name, envelope))

    def request(self, request_id: str, message: Message) -> None:
        self.emit("entrypoint", request_id, _pack(message), OK)

    def run(self) -> None:
        while self.queue:
            node, envelope = self.queue.pop(self.rng.randrange(len(self.queue)))
            handler = select_handler(self.workers[node], envelope.from_node)
            ctx = self.ctxs[node]._bound(envelope)
            try:
                asyncio.run(handler(ctx, envelope.payload))
            except Exception as exc:  # kre-py 3: the error goes to the node's subscribers
                text = (
                    f"Error in node '{node}' executing handler for node "
                    f"'{envelope.from_node}': {exc}"
                )
                self.emit(node, envelope.request_id, any_pb2.Any(), ERROR, text)


@pytest.fixture(scope="module")
def krt_v2(example_krt_v2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return extract_krt(example_krt_v2, tmp_path_factory.mktemp("node-v2") / "krt")


@pytest.fixture(scope="module")
def workers(krt_v2: Path) -> Iterator[dict[str, ModuleType]]:
    before = list(sys.path)
    manifest = ManifestV2.from_yaml((krt_v2 / "krt.yml").read_text())
    v2 = {n.name: _load_worker(krt_v2, n.name) for n in manifest.nodes}
    for module in v2.values():
        module.init(None)
    yield v2
    sys.path[:] = before


def _request_cls(v2: dict[str, ModuleType]) -> Any:
    return v2["etl"]._node.upstreams["entrypoint"].cls


def test_the_compiled_nodes_keep_kre_py_3s_contract(workers: dict[str, ModuleType]) -> None:
    v2 = workers
    assert set(v2) == {"etl", "model", "output", "exitpoint"}
    assert set(v2["model"].custom_handlers) == {"entrypoint", "etl"}
    assert set(v2["output"].custom_handlers) == {"entrypoint", "model"}
    assert set(v2["exitpoint"].custom_handlers) == {"output"}
    for module in v2.values():
        assert callable(module.init) and callable(module.default_handler)
        assert asyncio.iscoroutinefunction(module.default_handler)
        assert not hasattr(module, "handler")  # kre-py 3 calls no v1 handler


def test_interleaved_requests_each_answer_as_kedro_runs_them(
    workers: dict[str, ModuleType], krt_v2: Path, trained_project: Path
) -> None:
    v2 = workers
    sample = as_parsed(pd.read_csv(trained_project / "data" / "01_raw" / "sample_shuttles.csv"))
    request_cls = _request_cls(v2)
    cases: dict[str, tuple[pd.DataFrame, dict[str, Any] | None]] = {
        "plain": (sample, None),
        "params": (sample, {"output": {"markup": 0.5}, "model": {"clip_negative": False}}),
        "head": (sample.head(3).reset_index(drop=True), None),
        "tail": (sample.tail(4).reset_index(drop=True), {"output": {"currency": "EUR"}}),
    }
    requests = {
        rid: json_format.ParseDict(request_json(rows, params), request_cls())
        for rid, (rows, params) in cases.items()
    }
    bus = Bus(krt_v2, v2, seed=3)
    for rid, request in requests.items():
        bus.request(rid, request)
    bus.run()

    assert sorted(bus.answers) == sorted(requests)
    response_cls = v2["exitpoint"]._node.output_cls
    for rid, (rows, params) in cases.items():
        answer = bus.answers[rid]
        assert answer.message_type == OK and not answer.error, answer.error
        reply = response_cls()
        assert answer.payload.Unpack(reply)
        assert_same_quotes(quotes_frame(reply), kedro_reference(trained_project, rows, params))
    for name in ("model", "output", "exitpoint"):
        assert len(v2[name]._node.join) == 0, f"{name} kept a request"


def test_an_upstream_error_reaches_the_exitpoint_and_frees_the_joins(
    workers: dict[str, ModuleType], krt_v2: Path, trained_project: Path
) -> None:
    v2 = workers
    sample = as_parsed(pd.read_csv(trained_project / "data" / "01_raw" / "sample_shuttles.csv"))
    body = request_json(sample)
    del body["shuttles"][0]["launched_at"]  # etl refuses it
    bus = Bus(krt_v2, v2, seed=11)
    bus.request("bad", json_format.ParseDict(body, _request_cls(v2)()))
    bus.request("good", json_format.ParseDict(request_json(sample), _request_cls(v2)()))
    bus.run()
    bad = bus.answers["bad"]
    assert bad.message_type == ERROR
    assert bad.error.startswith("Error in node 'exitpoint' executing handler for node 'output'")
    assert "row 0 has no 'launched_at'" in bad.error
    assert bus.answers["good"].message_type == OK
    for name in ("model", "output", "exitpoint"):
        assert len(v2[name]._node.join) == 0, f"{name} kept the failed request"


def test_a_message_of_the_wrong_type_from_an_upstream_is_refused(
    workers: dict[str, ModuleType], krt_v2: Path
) -> None:
    v2 = workers
    bus = Bus(krt_v2, v2, seed=1)
    bus.emit("etl", "odd", _pack(struct_pb2.Struct()), OK)  # model waits for an EtlOutput
    bus.emit("entrypoint", "odd", _pack(struct_pb2.Struct()), OK)
    bus.queue = [q for q in bus.queue if q[0] == "model"]
    bus.run()
    assert "expects a entrypoint.InferenceRequest from 'entrypoint'" in bus.answers["odd"].error
