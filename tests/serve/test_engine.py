"""The workflow engine in-process, with handlers written here (no KRT on disk needed)."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import any_pb2, wrappers_pb2
from google.protobuf.message import Message

from kedro_krt.node.runtime.context_v1 import KreContext
from kedro_krt.serve.engine import Engine
from kedro_krt.serve.errors import NodeError
from kedro_krt.serve.serving_v1 import LoadedNode, LoadedWorkflow


def _workflow(tmp_path: Path, *handlers: Any) -> LoadedWorkflow:
    nodes = []
    for index, handler in enumerate(handlers):
        name = f"n{index}"
        ctx = KreContext(
            version="v", node=name, workflow="wf", base_path=tmp_path, state_dir=tmp_path
        )
        nodes.append(
            LoadedNode(name=name, workflow="wf", src="x", module=ModuleType("m"),
                       handler=handler, init=None, ctx=ctx)
        )
    return LoadedWorkflow(
        name="wf", rpc="Run", request_cls=wrappers_pb2.StringValue,
        response_cls=wrappers_pb2.StringValue, nodes=tuple(nodes),
    )


def _run(workflow: LoadedWorkflow, text: str = "in") -> list[Message]:
    replies: list[Message] = []
    payload = any_pb2.Any()
    payload.Pack(wrappers_pb2.StringValue(value=text))
    asyncio.run(Engine({"Run": workflow}).run(workflow, payload, replies.append))
    return replies


async def upper(ctx: KreContext, data: any_pb2.Any) -> Message:
    value = wrappers_pb2.StringValue()
    assert data.Unpack(value)
    return wrappers_pb2.StringValue(value=value.value.upper())


async def big(ctx: KreContext, data: any_pb2.Any) -> Message:
    return wrappers_pb2.BytesValue(value=os.urandom(1024 * 1024 + 10))  # gzip cannot shrink it


async def done(ctx: KreContext, data: any_pb2.Any) -> Message:
    return wrappers_pb2.StringValue(value=data.type_url.rsplit(".", 1)[-1])


def test_payload_passes_through_nodes(tmp_path: Path) -> None:
    assert _run(_workflow(tmp_path, upper, upper), "abc") == [
        wrappers_pb2.StringValue(value="ABC")
    ]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_payload_over_kre_limit_warns_once_per_node(tmp_path: Path) -> None:
    workflow = _workflow(tmp_path, big, done)
    records = _Records()
    workflow.nodes[0].ctx.logger.addHandler(records)
    try:
        engine = Engine({"Run": workflow})
        for _ in range(2):
            payload = any_pb2.Any()
            payload.Pack(wrappers_pb2.StringValue(value="x"))
            replies: list[Message] = []
            asyncio.run(engine.run(workflow, payload, replies.append))
            assert replies == [wrappers_pb2.StringValue(value="BytesValue")]
    finally:
        workflow.nodes[0].ctx.logger.removeHandler(records)
    warnings = [m for m in records.messages if "exceeds maximum size allowed" in m]
    assert len(warnings) == 1 and "node 'n0'" in warnings[0]


def test_small_payload_does_not_warn(tmp_path: Path) -> None:
    workflow = _workflow(tmp_path, upper, upper)
    records = _Records()
    workflow.nodes[0].ctx.logger.addHandler(records)
    try:
        _run(workflow)
    finally:
        workflow.nodes[0].ctx.logger.removeHandler(records)
    assert records.messages == []


def test_early_reply_of_wrong_type_is_a_node_error(tmp_path: Path) -> None:
    async def wrong(ctx: KreContext, data: any_pb2.Any) -> Message:
        await ctx.early_reply(wrappers_pb2.Int32Value(value=1))
        return wrappers_pb2.StringValue(value="x")

    expected = r"error in 'n0': early reply is google.protobuf.Int32Value, expected"
    with pytest.raises(NodeError, match=expected):
        _run(_workflow(tmp_path, wrong))


def test_non_message_result_names_the_next_node(tmp_path: Path) -> None:
    async def nothing(ctx: KreContext, data: any_pb2.Any) -> None:
        return None

    with pytest.raises(NodeError, match="error in 'n0': returned NoneType, expected a protobuf"):
        _run(_workflow(tmp_path, nothing, upper))


def _payload(text: str = "in") -> any_pb2.Any:
    payload = any_pb2.Any()
    payload.Pack(wrappers_pb2.StringValue(value=text))
    return payload


def test_a_chain_runs_on_one_thread_off_the_callers_loop(tmp_path: Path) -> None:
    """A v1 workflow crosses threads once each way, not at every node."""
    seen: list[str] = []

    async def where(ctx: KreContext, data: any_pb2.Any) -> Message:
        seen.append(threading.current_thread().name)
        return await upper(ctx, data)

    assert _run(_workflow(tmp_path, where, where, where), "x") == [
        wrappers_pb2.StringValue(value="X")
    ]
    assert len(seen) == 3 and len(set(seen)) == 1
    assert seen[0] != threading.current_thread().name  # not the caller's (asyncio.run's) thread


def test_each_node_takes_one_message_at_a_time(tmp_path: Path) -> None:
    """Requests share the chain's thread and loop; a node that awaits still holds its next
    message back, as a kre-py pod does."""
    running = {"now": 0, "most": 0}

    async def slow(ctx: KreContext, data: any_pb2.Any) -> Message:
        running["now"] += 1
        running["most"] = max(running["most"], running["now"])
        await asyncio.sleep(0.02)
        running["now"] -= 1
        return await upper(ctx, data)

    workflow = _workflow(tmp_path, slow, upper)
    engine = Engine({"Run": workflow})
    replies: list[Message] = []

    async def four() -> None:
        await asyncio.gather(
            *(engine.run(workflow, _payload(str(i)), replies.append) for i in range(4))
        )

    try:
        asyncio.run(four())
    finally:
        engine.close()
    assert running["most"] == 1
    assert sorted(r.value for r in replies) == ["0", "1", "2", "3"]  # type: ignore[attr-defined]
