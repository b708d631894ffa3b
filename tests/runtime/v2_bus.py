"""Drive the KRT v2 nodes of an extracted .krt by hand, as kre-py 3 and KRE 8's subjects would.

Run in a process of its own (tests/runtime/test_node_v2.py spawns it): the generated
``*_pb2`` modules of a v2 KRT define ``entrypoint.*`` messages under the same file and message
names as the v1 build's, which other tests of this folder load; protobuf's default pool takes
one definition per name and process.

Each ``src/<node>/main.py`` is imported as kre-py 3.4.1 imports it (konstellation-io/
kre-runners @ kre-py/v3.4.1: ``kre-py/src/main.py``: module ``worker``, folder appended to
sys.path), ``init`` runs once, and each message goes to ``custom_handlers[from_node]`` else
``default_handler`` (``handlers.py``) with a ctx bound to a real ``KreNatsMessage``
(kedro_krt's kre-py 3 ctx, ``kedro_krt.node.runtime.context_v2.ContextV2Base``, and envelope,
``kedro_krt.node.runner.envelope_v2``). What a handler sends goes to every node subscribed to it in
krt.yml; a handler that raises sends an ERROR message instead, as kre-py 3's ``message_cb``
does. Deliveries wait in a list and are made in a shuffled order, so the joins see the
messages of several requests interleaved.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import random
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from google.protobuf import any_pb2, json_format, struct_pb2
from google.protobuf.message import Message

from kedro_krt.formats.manifest_v2 import ManifestV2
from kedro_krt.node.runner.envelope_v2 import KreNatsMessageV2
from kedro_krt.node.runtime.context_v2 import ERROR, OK, ContextV2Base, select_handler


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


class Bus:
    """KRE 8's subjects on one machine: a node's output goes to every node subscribed to it."""

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

    def emit(
        self, origin: str, request_id: str, payload: Any, message_type: int, error: str = ""
    ) -> None:
        envelope = KreNatsMessageV2(
            request_id=request_id, from_node=origin, message_type=message_type, error=error
        )
        envelope.payload.CopyFrom(payload)
        if origin == self.workflow.exitpoint:
            self.answers[request_id] = envelope
        for node in self.workflow.subscribers(origin):
            self.queue.append((node.name, envelope))

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


def _answers(bus: Bus, response_cls: Any) -> dict[str, dict[str, Any]]:
    out = {}
    for rid, envelope in bus.answers.items():
        entry: dict[str, Any] = {"type": envelope.message_type, "error": envelope.error}
        if envelope.message_type == OK:
            reply = response_cls()
            assert envelope.payload.Unpack(reply)
            entry["reply"] = json_format.MessageToDict(
                reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
            )
        out[rid] = entry
    return out


def run_scenarios(krt: str, requests: dict[str, dict[str, Any]], bad: dict[str, Any]) -> dict:
    """Everything test_node_v2.py checks, in this (fresh) process; plain data back."""
    root = Path(krt)
    manifest = ManifestV2.from_yaml((root / "krt.yml").read_text())
    workers = {n.name: _load_worker(root, n.name) for n in manifest.nodes}
    for module in workers.values():
        module.init(None)
    request_cls = workers["etl"]._node.upstreams["entrypoint"].cls
    response_cls = workers["exitpoint"]._node.output_cls
    result: dict[str, Any] = {
        "contract": {
            name: {
                "custom": sorted(module.custom_handlers),
                "init": callable(module.init),
                "default_is_async": asyncio.iscoroutinefunction(module.default_handler),
                "has_v1_handler": hasattr(module, "handler"),
                "relayed": sorted(
                    name
                    for u in module._node.upstreams.values()
                    if u.relay is not None
                    for name, _, _ in u.relay.fields
                ),
            }
            for name, module in workers.items()
        }
    }

    # Interleaved requests.
    bus = Bus(root, workers, seed=3)
    for rid, body in requests.items():
        bus.emit("entrypoint", rid, _pack(json_format.ParseDict(body, request_cls())), OK)
    bus.run()
    result["interleaved"] = _answers(bus, response_cls)
    result["pending_after"] = {n: len(w._node.join) for n, w in workers.items()}

    # A request etl refuses, beside a good one.
    bus = Bus(root, workers, seed=11)
    bus.emit("entrypoint", "bad", _pack(json_format.ParseDict(bad, request_cls())), OK)
    good = next(iter(requests.values()))
    bus.emit("entrypoint", "good", _pack(json_format.ParseDict(good, request_cls())), OK)
    bus.run()
    result["errors"] = _answers(bus, response_cls)
    result["pending_after_errors"] = {n: len(w._node.join) for n, w in workers.items()}

    # Messages of the wrong type into model.
    bus = Bus(root, workers, seed=1)
    bus.emit("etl", "odd", _pack(struct_pb2.Struct()), OK)
    bus.emit("entrypoint", "odd", _pack(struct_pb2.Struct()), OK)
    bus.queue = [q for q in bus.queue if q[0] == "model"]
    bus.run()
    result["wrong_type"] = _answers(bus, response_cls)
    return result
