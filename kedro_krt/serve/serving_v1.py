"""Serving a KRT v1 (KRE 6.x to 8.0): ``sequential`` workflows, kre-py 2.1's node contract.

- Which workflows: those whose nodes are all Python (:func:`python_workflows`).
- In-process: each node file imported with a :class:`~kedro_krt.node.runtime.context_v1.KreContext`
  (:func:`load_nodes`); a request passes from one ``handler`` to the next
  (:meth:`LoadedWorkflow.run`), with KRE 7's early reply and early exit.
- Behind ``--nats`` (:class:`V1NatsFront`), as kre-entrypoint 1.8.1: the request goes to the
  first node's subject in a ``KreNatsMessage`` (``reply`` = a request id, a tracking entry
  ``entrypoint``); the answer, an early reply or an ``error`` comes back on
  ``<stream>.entrypoint``. An error our runner sent for a refused request carries the caller's
  words after the envelope: INVALID_ARGUMENT, where KRE's entrypoint answers INTERNAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, cast

from google.protobuf import any_pb2, descriptor_pb2
from google.protobuf.message import Message

from kedro_krt.formats.manifest_v1 import Manifest, NodeSpec, WorkflowSpec
from kedro_krt.node.krt_version import KrtVersion
from kedro_krt.node.runner.envelope_base import (
    MESSAGE_THRESHOLD,
    field_proto,
    gunzip,
    message_class,
    refusal_in,
)
from kedro_krt.node.runner.envelope_v1 import KreNatsMessage, decode
from kedro_krt.node.runtime.context_base import node_environ
from kedro_krt.node.runtime.context_v1 import KreContext, RequestState
from kedro_krt.serve.engine import (
    KRE_MAX_PAYLOAD,
    Engine,
    Envelope,
    NodeThread,
    Reply,
    Tracking,
    WrongResponseType,
    type_name,
)
from kedro_krt.serve.errors import InvalidRequest, NodeError, ServeError
from kedro_krt.serve.loader_base import (
    InitFunc,
    PreparedKrt,
    import_node,
    init_of,
    version_environ,
    workflow_of,
)
from kedro_krt.serve.serving_base import (
    LoadedWorkflowBase,
    NatsFront,
    NatsWorkflow,
    Pending,
    Serving,
    decoded,
)
from kedro_krt.serve.topology_base import ENTRYPOINT, PodSettings
from kedro_krt.serve.topology_v1 import NodePod, WorkflowTopology, topology

__all__ = [
    "HopV1",
    "LoadedNode",
    "LoadedWorkflow",
    "V1NatsFront",
    "V1Serving",
    "load_nodes",
    "observed",
    "python_workflows",
]

Handler = Callable[[KreContext, Any], Awaitable[Any]]


@dataclass(frozen=True)
class LoadedNode:
    """One KRT node of one workflow, imported (KRE runs one process per workflow and node)."""

    name: str
    workflow: str
    src: str
    module: ModuleType
    handler: Handler
    init: InitFunc | None
    ctx: KreContext
    environ: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadedWorkflow(LoadedWorkflowBase):
    """A workflow ready to serve: its rpc, message classes and nodes in ``sequential`` order."""

    name: str
    rpc: str
    request_cls: type[Message]
    response_cls: type[Message]
    nodes: tuple[LoadedNode, ...]

    def thread_names(self) -> dict[str, str]:
        """One engine thread for the whole chain: a request crosses threads there and back
        once, not at every node (each node still takes one message at a time)."""
        return {node.name: self.name for node in self.nodes}

    async def run(
        self, engine: Engine, payload: any_pb2.Any, reply: Reply, envelope: Envelope
    ) -> None:
        """The request through the ``sequential`` nodes, as KRE 7 passes it.

        ``reply`` is called once at most with the response message: at an early reply (then the
        rest of the workflow still runs, its last output is dropped as KRE drops it), or with
        the last node's output, or with the output of a node that called ``ctx.early_exit()``.
        The nodes run one after the other on the workflow's engine thread (:meth:`_chain`).

        Raises:
            NodeError: ``error in '<node>': <message>`` when a node raised or answered with the
                wrong type.
        """
        now = time.time()
        envelope.tracking.append(Tracking("entrypoint", now, now))
        caller = asyncio.get_running_loop()
        response_type = self.response_type

        async def early(message: Message) -> None:
            # Called on the engine thread: the answer is handed to the caller's loop.
            if type_name(message) != response_type:
                raise TypeError(
                    f"early reply is {type_name(message)}, expected {response_type} "
                    f"(the response of rpc {self.rpc})"
                )
            envelope.replied = True
            caller.call_soon_threadsafe(reply, message)

        state = RequestState(early, envelope.tracking_id)
        thread = engine.thread(self.nodes[0])
        # The answer goes to ``reply`` as soon as it is back on the caller's loop.
        await thread.submit(self._chain(engine, thread, state, envelope), reply)

    async def _chain(
        self, engine: Engine, thread: NodeThread, state: RequestState, envelope: Envelope
    ) -> Message | None:
        """On the engine thread: each node in turn, each under its lock; the message to answer
        with, or None when an early reply has answered already."""
        response_type = self.response_type
        last = len(self.nodes) - 1
        for index, node in enumerate(self.nodes):
            envelope.current = node.name
            entry = Tracking(node.name, time.time())
            try:
                async with thread.node_lock(node.name):
                    result = await node.handler(node.ctx.for_request(state), envelope.payload)
            except InvalidRequest as exc:
                raise NodeError(node.name, exc.refusal, invalid_request=True) from exc
            except Exception as exc:
                node.ctx.logger.exception("error executing handler: %s", exc)
                raise NodeError(node.name, str(exc) or type(exc).__name__) from exc
            entry.end = time.time()
            envelope.tracking.append(entry)
            if index == last or state.early_exit:
                if state.early_exit and index != last:
                    node.ctx.logger.info("Early exit received, workflow has stopped execution")
                if state.replied:
                    if result is not None:
                        node.ctx.logger.info(
                            "ignoring the last node response because the message was replied "
                            "previously"
                        )
                    return None
                if type_name(result) != response_type:
                    raise WrongResponseType(
                        node.name,
                        f"returned {type_name(result)}, expected {response_type} "
                        f"(the response of rpc {self.rpc})",
                    )
                engine.check_size(node, result)
                return result  # type: ignore[no-any-return]
            if not isinstance(result, Message):
                raise NodeError(
                    node.name,
                    f"returned {type_name(result)}, expected a protobuf message for the next "
                    f"node '{self.nodes[index + 1].name}'",
                )
            packed = any_pb2.Any()
            packed.Pack(result)
            if len(packed.value) > KRE_MAX_PAYLOAD:
                engine.check_size(node, packed)
            envelope.payload = packed
        return None


def python_workflows(manifest: Manifest) -> tuple[Manifest, tuple[str, ...]]:
    """The manifest with only the workflows whose nodes are all Python, and a warning for
    each workflow left out.

    KRE runs a Go node (``konstellation/kre-go``, ``src: bin/<binary>``) in an image of its
    own; this server imports Python files only. A KRT that mixes both is served for its
    Python workflows; the others answer UNIMPLEMENTED here.

    Raises:
        ServeError: when no workflow is left.
    """
    specs = {n.name: n for n in manifest.nodes}
    kept = []
    warnings = []
    for wf in manifest.workflows:
        other = [specs[n] for n in wf.sequential if n in specs and not specs[n].src.endswith(".py")]
        if not other:
            kept.append(wf)
            continue
        nodes = ", ".join(f"'{n.name}' ({n.src}, {n.image})" for n in other)
        warnings.append(
            f"workflow '{wf.name}' (rpc {wf.entrypoint}) is not served: node(s) {nodes} are not "
            "Python, and kedro-krt serve runs Python nodes only; KRE runs them in their image"
        )
    if not kept:
        raise ServeError(
            "no workflow of this KRT can be served here: every one has a node that is not "
            "Python:\n" + "\n".join(f"  - {w}" for w in warnings)
        )
    return replace(manifest, workflows=tuple(kept)), tuple(warnings)


def load_nodes(prepared: PreparedKrt, *, state_dir: Path) -> dict[str, LoadedWorkflow]:
    """Import every node of every workflow; returns the workflows by rpc name.

    Raises:
        ServeError: naming the node, when its file fails to import or lacks an async
            ``handler(ctx, data)``.
    """
    manifest = cast(Manifest, prepared.manifest)
    specs: dict[str, NodeSpec] = {n.name: n for n in manifest.nodes}
    folders = version_environ(prepared)
    workflows: dict[str, LoadedWorkflow] = {}
    for wf in manifest.workflows:
        nodes = []
        for node_name in wf.sequential:
            spec = specs[node_name]
            nodes.append(_load_node(prepared, wf.name, spec, state_dir, folders))
        workflows[wf.entrypoint] = workflow_of(
            LoadedWorkflow, prepared, wf.name, wf.entrypoint, nodes=tuple(nodes)
        )
    return workflows


def _load_node(
    prepared: PreparedKrt, workflow: str, spec: NodeSpec, state_dir: Path, folders: frozenset[str]
) -> LoadedNode:
    manifest = prepared.manifest
    environ = node_environ(
        version=manifest.version, node=spec.name, workflow=workflow,
        base_path=prepared.root, handler_path=spec.src,
    )
    module, logger = import_node(prepared, workflow, spec.name, spec.src, environ, folders)
    handler = getattr(module, "handler", None)
    if handler is None:
        raise ServeError(
            f"node '{spec.name}': handler module '{spec.src}' must implement a function "
            "'async def handler(ctx, data)'"
        )
    if not inspect.iscoroutinefunction(handler):
        raise ServeError(
            f"node '{spec.name}': 'handler' in {spec.src} must be async "
            "('async def handler(ctx, data)'): KRE's runner awaits it"
        )
    init = init_of(module, spec.name, spec.src)
    ctx = KreContext(
        version=manifest.version, node=spec.name, workflow=workflow,
        base_path=prepared.root, state_dir=state_dir, logger=logger,
    )
    return LoadedNode(
        name=spec.name, workflow=workflow, src=spec.src, module=module,
        handler=handler, init=init, ctx=ctx, environ=environ,
    )


# -- behind --nats --------------------------------------------------------------------------------


def _hop_file() -> descriptor_pb2.FileDescriptorProto:
    """v1's envelope header: only the field the hop observer reads, same number.

    Protobuf skips the fields a message does not declare (the payload, the tracking), so
    reading a hop's request id costs a scan of the bytes, not a decode of the envelope
    (about 2 us instead of 3.6 us for a 600-byte message; see docs/explanation/runner.md).
    """
    f = descriptor_pb2.FieldDescriptorProto
    v1 = descriptor_pb2.DescriptorProto(
        name="HopV1", field=[field_proto("reply", 3, f.TYPE_STRING)]
    )
    return descriptor_pb2.FileDescriptorProto(
        name="kedro_krt/serve_hop_v1.proto", package="kedro_krt.hop", syntax="proto3",
        message_type=[v1],
    )


#: v1's ``KreNatsMessage`` reduced to ``reply``.
HopV1: Any = message_class("kedro_krt.hop.HopV1", _hop_file)


def observed(topo: WorkflowTopology) -> list[str]:
    """The subjects of the nodes after the first (none for a one-node workflow): where a
    request goes after the front sent it to the first node."""
    return [f"{topo.stream}.{pod.node}" for pod in topo.pods[1:]]


class V1NatsFront(NatsFront):
    """kre-entrypoint 1.8.1 on one machine. An error without ``reply`` (kre-py's) fails every
    request in flight of its workflow, as in KRE; our runner's errors carry ``reply`` and fail
    only their own."""

    def topologies(self, pods: PodSettings) -> tuple[WorkflowTopology, ...]:
        manifest = cast(Manifest, self.prepared.manifest)
        srcs = {n.name: n.src for n in manifest.nodes}
        return topology(
            version=manifest.version,
            workflows=[
                (wf.name, wf.entrypoint, [(n, srcs[n]) for n in wf.sequential])
                for wf in manifest.workflows
            ],
            **pods,
        )

    def stream_subjects(self, topo: WorkflowTopology) -> list[str]:
        return [f"{topo.stream}.*"]

    def answers_subject(self, topo: WorkflowTopology) -> str:
        return topo.entrypoint_subject

    async def make_stores(self, js: Any, topo: WorkflowTopology) -> None:
        """KRE 7 makes no store beside the stream."""

    def observed(self, topo: WorkflowTopology) -> list[str]:
        return observed(topo)

    def durables(self, pod: NodePod) -> tuple[str, ...]:
        """kre-py 2's one durable consumer, ``<version>-<node>``."""
        return (f"{self.prepared.manifest.version}-{pod.node}",)

    def request(
        self, workflow: NatsWorkflow, payload: any_pb2.Any, envelope: Any
    ) -> tuple[str, str, Any, str]:
        """To the first node's subject, with a fresh ``reply`` id and a tracking entry
        ``entrypoint``."""
        topo = workflow.topology
        request_id = str(uuid.uuid4())
        start = isonow()
        message = KreNatsMessage(tracking_id=envelope.tracking_id, reply=request_id)
        message.tracking.add(node_name=ENTRYPOINT, start=start, end=isonow())
        message.payload.CopyFrom(payload)
        return request_id, topo.first_subject, message, topo.pods[0].node

    def request_limit(self, stream_max: int, server_max: int) -> int:
        """kre-entrypoint 1.8.1's MESSAGE_THRESHOLD, 1 MiB, whatever the stream and server
        allow."""
        return MESSAGE_THRESHOLD

    def answered_by(self, workflow: NatsWorkflow, pending: Pending, result: Any) -> tuple[str, str]:
        """The node that returned it (the last one, or where an early exit or reply came).

        Raises:
            NodeError: ``error in '<node>': ...`` as the runner sent it; a refusal our runner
                added after it (:func:`~kedro_krt.node.runner.envelope_base.refusal_in`) is the
                caller's mistake, answered INVALID_ARGUMENT with its words as in-process.
        """
        if result.error:
            node, detail = split_error(result.error)
            refusal = refusal_in(result)
            if refusal:
                raise NodeError(node, refusal, invalid_request=True)
            raise NodeError(node, detail)
        return pending.node or workflow.topology.pods[-1].node, "returned"

    async def on_answer(self, msg: Any) -> None:
        answer = decoded(msg, decode)
        if answer is None:
            return
        if answer.reply:
            pending = self.pending.get(answer.reply)
            if pending is not None and not pending.answer.done():
                pending.answer.set_result(answer)
            return
        if answer.error:
            # kre-py's errors carry no reply: KRE's entrypoint fails every request in flight of
            # the workflow, and so do we.
            stream = msg.subject.rsplit(".", 1)[0]
            for pending in list(self.pending.values()):
                if pending.workflow.topology.stream == stream and not pending.answer.done():
                    pending.answer.set_result(answer)

    async def on_hop(self, msg: Any) -> None:
        node = msg.subject.rsplit(".", 1)[1]
        if node == ENTRYPOINT or not self.pending:
            return
        with contextlib.suppress(Exception):
            reply = HopV1.FromString(gunzip(msg.data)).reply
            pending = self.pending.get(reply)
            if pending is not None:
                pending.node = node
                pending.envelope.current = node


def split_error(text: str) -> tuple[str, str]:
    """``error in '<node>': <detail>`` into its node and detail."""
    prefix = "error in '"
    if text.startswith(prefix) and "': " in text:
        node, _, detail = text[len(prefix) :].partition("': ")
        return node, detail
    return ENTRYPOINT, text


def isonow() -> str:
    """Now, as KRE's entrypoint and runners write tracking times: naive UTC isoformat."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat()


class V1Serving(Serving):
    """KRT v1 served here: see the module docstring."""

    krt_version: ClassVar[KrtVersion] = KrtVersion.V1

    def python_workflows(self, manifest: Manifest) -> tuple[Manifest, tuple[str, ...]]:
        return python_workflows(manifest)

    def load_nodes(self, prepared: PreparedKrt, *, state_dir: Path) -> dict[str, LoadedWorkflow]:
        return load_nodes(prepared, state_dir=state_dir)

    def workflow_info(self, workflow: WorkflowSpec) -> dict[str, Any]:
        """Its nodes in ``sequential`` order."""
        nodes = list(workflow.sequential)
        return {"name": workflow.name, "rpc": workflow.entrypoint, "nodes": nodes}

    def runner_count(self, manifest: Manifest) -> int:
        """One runner per node of each workflow."""
        return sum(len(wf.sequential) for wf in manifest.workflows)

    def nats_front(self, prepared: PreparedKrt, pending: dict[str, Pending]) -> V1NatsFront:
        return V1NatsFront(prepared, pending)
