"""Serving a KRT v2 (KRE 8.x): workflows as graphs of subscriptions, kre-py 3.4's node contract.

- Which nodes and workflows can run here: :func:`python_workflows` (below).
- In-process: each node file imported with a
  :class:`~kedro_krt.node.runtime.context_v2.KreContextV2` (:func:`load_nodes`); a request is
  routed as KRE 8 routes it (:meth:`LoadedWorkflowV2.run`).
- Behind ``--nats`` (:class:`V2NatsFront`), as kre-entrypoint 3.3.6: the request goes to
  ``<stream>.entrypoint`` (``from_node`` ``entrypoint``, type OK); the answer is the first
  exitpoint message for its id.

A v2 workflow is a graph: each node subscribes to ``entrypoint``, to other nodes or to a
node's subtopic (``node.subtopic``), and the workflow's ``exitpoint`` answers the caller
(konstellation-io/kre @ v8.2.0: ``engine/admin-api/domain/usecase/krt/types.go``).

**Nodes that are not Python** (a ``kre-go`` node, ``src: bin/<binary>``) are left out, with a
warning, as :func:`kedro_krt.serve.serving_v1.python_workflows` leaves out v1 workflows. What
happens to their subscribers: they keep their other subscriptions and simply never receive a
message from the left-out node (as if that pod published nothing). A Python node whose every
path from the entrypoint runs through a left-out node never receives anything: it is loaded
(its ``init`` runs) and a warning names it. A workflow whose exitpoint is left out, or cannot
be reached from the entrypoint through Python nodes, cannot answer: it is not served (its rpc
answers UNIMPLEMENTED), and a warning says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, cast

from google.protobuf import any_pb2, descriptor_pb2

from kedro_krt.formats.manifest_v2 import ENTRYPOINT, ManifestV2, NodeV2, WorkflowV2
from kedro_krt.node.krt_version import KrtVersion
from kedro_krt.node.runner.envelope_base import field_proto, gunzip, message_class, refusal_in
from kedro_krt.node.runner.envelope_v2 import ERROR, OK, KreNatsMessageV2, decode_v2
from kedro_krt.node.runner.node_base import WorkerLoadError
from kedro_krt.node.runner.node_v2 import check_v2_module
from kedro_krt.node.runtime.context_base import make_logger, node_environ
from kedro_krt.node.runtime.context_v2 import KreContextV2, LocalConfiguration, select_handler
from kedro_krt.serve.engine import KRE_MAX_PAYLOAD, Engine, Envelope, Reply, WrongResponseType
from kedro_krt.serve.errors import InvalidRequest, NodeError, ServeError
from kedro_krt.serve.loader_base import (
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
from kedro_krt.serve.topology_base import PodSettings
from kedro_krt.serve.topology_v2 import (
    NodePodV2,
    WorkflowTopologyV2,
    object_store_name,
    topology_v2,
)
from kedro_krt.serve.topology_v2 import NodeV2 as TopologyNode

log = logging.getLogger("kedro_krt.serve")

__all__ = [
    "ENTRYPOINT_NODE",
    "LOCAL_RUNTIME",
    "HopV2",
    "LoadedNodeV2",
    "LoadedWorkflowV2",
    "V2Message",
    "V2NatsFront",
    "V2NodeError",
    "V2Serving",
    "is_python",
    "load_nodes",
    "observed",
    "python_workflows",
]

#: The in-process engine's runtime id in store names (``serve --nats`` uses the same).
LOCAL_RUNTIME = "local"


def is_python(node: NodeV2) -> bool:
    """Whether this server can run the node: its ``src`` is a Python file."""
    return node.src.endswith(".py")


def _reachable(workflow: WorkflowV2, kept: set[str]) -> set[str]:
    """The kept nodes a message from the entrypoint can reach through kept nodes only."""
    reached = {ENTRYPOINT}
    changed = True
    while changed:
        changed = False
        for node in workflow.nodes:
            if node.name in reached or node.name not in kept:
                continue
            if any(s.node in reached for s in node.parsed_subscriptions):
                reached.add(node.name)
                changed = True
    return reached - {ENTRYPOINT}


def python_workflows(manifest: ManifestV2) -> tuple[ManifestV2, tuple[str, ...]]:
    """The manifest with its non-Python nodes left out and the workflows that can still answer,
    and a warning for each thing left out (see the module docstring).

    Raises:
        ServeError: when no workflow is left.
    """
    kept_workflows = []
    warnings: list[str] = []
    for wf in manifest.workflows:
        other = [n for n in wf.nodes if not is_python(n)]
        kept = {n.name for n in wf.nodes if is_python(n)}
        reached = _reachable(wf, kept)
        if wf.exitpoint not in kept or wf.exitpoint not in reached:
            why = (
                f"its exitpoint '{wf.exitpoint}' is not Python"
                if wf.exitpoint not in kept
                else f"its exitpoint '{wf.exitpoint}' receives messages only through nodes "
                "that are not Python"
            )
            warnings.append(
                f"workflow '{wf.name}' (rpc {wf.entrypoint}) is not served: {why}, and "
                "kedro-krt serve runs Python nodes only; KRE runs the others in their image"
            )
            continue
        for node in other:
            subscribers = [
                n.name for n in wf.nodes
                if n.name in kept and any(s.node == node.name for s in n.parsed_subscriptions)
            ]
            then = (
                f"; {', '.join(repr(s) for s in subscribers)} never receive(s) its messages here"
                if subscribers
                else ""
            )
            warnings.append(
                f"workflow '{wf.name}': node '{node.name}' ({node.src}, {node.image}) is left "
                f"out: it is not Python, and kedro-krt serve runs Python nodes only{then}"
            )
        for name in sorted(kept - reached):
            warnings.append(
                f"workflow '{wf.name}': node '{name}' is loaded but never receives a message "
                "here: everything it subscribes to comes from nodes that are left out"
            )
        kept_workflows.append(replace(wf, nodes=tuple(n for n in wf.nodes if n.name in kept)))
    if not kept_workflows:
        raise ServeError(
            "no workflow of this KRT can be served here:\n"
            + "\n".join(f"  - {w}" for w in warnings)
        )
    return replace(manifest, workflows=tuple(kept_workflows)), tuple(warnings)


#: The origin of the request's message in a v2 workflow (kre-entrypoint 3's KRT_NODE_NAME).
ENTRYPOINT_NODE = "entrypoint"


@dataclass(slots=True)
class V2Message:
    """What kre-py 3's ``KreNatsMessage`` carries between v2 nodes, in memory."""

    request_id: str
    payload: any_pb2.Any
    error: str
    from_node: str
    message_type: int
    #: What our runners add after an error envelope (envelope_base.with_refusal): the words of
    #: a node's refusal, carried down the errors to the exitpoint.
    refusal: str = ""


class V2NodeError(NodeError):
    """A v2 error message: its text is KRE's own (``Error in node 'x' executing handler for
    node 'y': ...``), which KRE's entrypoint returns as it is."""

    def __init__(self, node: str, text: str) -> None:
        super().__init__(node, text)
        self.args = (text,)

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class LoadedNodeV2:
    """One v2 node of one workflow, imported."""

    name: str
    workflow: str
    src: str
    module: ModuleType
    init: Any
    ctx: KreContextV2
    subscriptions: tuple[str, ...]
    environ: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadedWorkflowV2(LoadedWorkflowBase):
    """A v2 workflow ready to serve: its nodes, who subscribes to what, and its exitpoint."""

    name: str
    rpc: str
    request_cls: Any
    response_cls: Any
    nodes: tuple[LoadedNodeV2, ...]
    exitpoint: str
    #: subject (``entrypoint``, ``node`` or ``node.subtopic``) -> the nodes subscribed to it
    subscribers: Mapping[str, tuple[LoadedNodeV2, ...]]

    async def run(
        self, engine: Engine, payload: any_pb2.Any, reply: Reply, envelope: Envelope
    ) -> None:
        """A request through a v2 workflow, as KRE 8 routes it.

        The request goes to the nodes subscribed to ``entrypoint``; what each node sends goes
        to the nodes subscribed to its subject (``node``, or ``node.subtopic`` for a channel),
        each in a task of its own, so branches overlap; the first message of the exitpoint on
        its own subject answers (an ``error`` in it is the gRPC error, as kre-entrypoint 3
        does), and the rest of the request still runs to its end. When everything has run and
        the exitpoint sent nothing, the caller gets the first error a node sent, or says the
        exitpoint never answered (KRE's caller waits for its timeout instead).
        """
        caller = asyncio.get_running_loop()
        request_id = envelope.tracking_id
        tasks: set[asyncio.Task[None]] = set()
        settled = asyncio.Event()
        answered = False
        errors: list[V2Message] = []
        failure: list[BaseException] = []
        response_type = self.response_type

        def publish(origin: str, channel: str, message: V2Message) -> None:
            """On the caller's loop: hand ``message`` to the subscribers of its subject, or
            answer the caller when it is the exitpoint's (its own subject, no subtopic)."""
            nonlocal answered
            subject = f"{origin}.{channel}" if channel else origin
            if message.message_type == ERROR:
                errors.append(message)
            if origin == self.exitpoint and not channel and not answered:
                answered = True
                envelope.replied = True
                answer(message)
            for node in self.subscribers.get(subject, ()):
                task = caller.create_task(deliver(node, message))
                tasks.add(task)
                task.add_done_callback(done)

        def answer(message: V2Message) -> None:
            # kre-entrypoint 3.3.6 (_create_grpc_response): an error is gRPC INTERNAL with its
            # text; otherwise the payload is the rpc's response.
            try:
                if message.error and message.refusal:
                    raise NodeError(message.from_node, message.refusal, invalid_request=True)
                if message.error:
                    raise V2NodeError(message.from_node, message.error)
                if message.payload.TypeName() != response_type:
                    raise WrongResponseType(
                        self.exitpoint,
                        f"sent {message.payload.TypeName() or 'nothing'}, expected "
                        f"{response_type} (the response of rpc {self.rpc})",
                    )
                response = self.response_cls()
                message.payload.Unpack(response)
            except NodeError as exc:
                failure.append(exc)
                settled.set()
                return
            reply(response)

        def done(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            if not task.cancelled() and task.exception() is not None:
                failure.append(task.exception())  # type: ignore[arg-type]
            if not tasks:
                settled.set()

        async def deliver(node: LoadedNodeV2, message: V2Message) -> None:
            """What a runner does with one message: the handler by origin, errors typed ERROR
            on the node's own subject."""
            envelope.current = node.name
            handler = select_handler(node.module, message.from_node)

            async def send(
                packed: any_pb2.Any, message_type: int, channel: str, request: Any
            ) -> None:
                # Called on the node's thread, inside the handler: the routing happens on the
                # caller's loop, in the order the node sent.
                if len(packed.value) > KRE_MAX_PAYLOAD:
                    engine.check_size(node, packed)
                out = V2Message(request.request_id, packed, "", node.name, message_type)
                caller.call_soon_threadsafe(publish, node.name, channel, out)

            ctx = node.ctx.for_message(message, send)
            try:
                if handler is None:
                    raise RuntimeError(
                        f"no handler for messages from node '{message.from_node}': define "
                        f"default_handler or custom_handlers['{message.from_node}']"
                    )
                await engine.node_call(node, functools.partial(handler, ctx, message.payload))
            except Exception as exc:
                if isinstance(exc, InvalidRequest) and message.from_node == ENTRYPOINT_NODE:
                    failure.append(NodeError(node.name, exc.refusal, invalid_request=True))
                    settled.set()
                node.ctx.logger.exception("Error executing handler: %s", exc)
                # A refusal travels down with the errors, as our runners carry it under --nats:
                # this node's, or the one of the error it failed on.
                refusal = exc.refusal if isinstance(exc, InvalidRequest) else ""
                if not refusal and message.message_type == ERROR:
                    refusal = message.refusal
                error = V2Message(
                    message.request_id, any_pb2.Any(),
                    f"Error in node '{node.name}' executing handler for node "
                    f"'{message.from_node}': {exc}",
                    node.name, ERROR, refusal,
                )
                publish(node.name, "", error)

        first = V2Message(request_id, payload, "", ENTRYPOINT_NODE, OK)
        try:
            publish(ENTRYPOINT_NODE, "", first)
            while tasks and not answered and not failure:
                await settled.wait()
                settled.clear()
            if failure:
                # An error answer from the exitpoint, or a request the first node refused: the
                # caller gets it now, and what is still queued for this request is dropped.
                raise failure[0]
            if not answered:
                if errors and errors[0].refusal:
                    raise NodeError(errors[0].from_node, errors[0].refusal, invalid_request=True)
                if errors:
                    raise V2NodeError(
                        errors[0].from_node,
                        f"{errors[0].error} (and the exitpoint '{self.exitpoint}' sent no "
                        "answer)",
                    )
                raise NodeError(
                    self.exitpoint,
                    f"the workflow finished without a message from its exitpoint "
                    f"'{self.exitpoint}' for this request (it must call "
                    "ctx.send_output once per request, on its own subject)",
                )
            # Answered: the other branches still run to their end, as in KRE.
            while tasks:
                await settled.wait()
                settled.clear()
            if failure:
                log.error("%s (after the answer; the caller did not see it)", failure[0])
        finally:
            for task in list(tasks):
                task.cancel()


def load_nodes(prepared: PreparedKrt, *, state_dir: Path) -> dict[str, LoadedWorkflowV2]:
    """Import every Python node of every served workflow; the workflows by rpc name.

    Raises:
        ServeError: naming the node, when its file fails to import or defines neither
            ``default_handler`` nor ``custom_handlers``.
    """
    manifest = cast(ManifestV2, prepared.manifest)
    folders = version_environ(prepared)
    project: dict[str, str] = {}
    workflows: dict[str, LoadedWorkflowV2] = {}
    for wf in manifest.workflows:
        workflow_store: dict[str, str] = {}
        nodes = []
        for spec in wf.nodes:
            configuration = LocalConfiguration(
                {"project": project, "workflow": workflow_store, "node": {}},
                make_logger(manifest.version, spec.name),
            )
            nodes.append(
                _load_node(prepared, wf, spec, state_dir, folders, configuration)
            )
        subscribers: dict[str, list[LoadedNodeV2]] = {}
        for node in nodes:
            for subject in node.subscriptions:
                subscribers.setdefault(subject, []).append(node)
        workflows[wf.entrypoint] = workflow_of(
            LoadedWorkflowV2, prepared, wf.name, wf.entrypoint,
            nodes=tuple(nodes),
            exitpoint=wf.exitpoint,
            subscribers={k: tuple(v) for k, v in subscribers.items()},
        )
    return workflows


def _load_node(
    prepared: PreparedKrt,
    wf: WorkflowV2,
    spec: NodeV2,
    state_dir: Path,
    folders: frozenset[str],
    configuration: LocalConfiguration,
) -> LoadedNodeV2:
    manifest = prepared.manifest
    environ = node_environ(
        version=manifest.version, node=spec.name, workflow=wf.name,
        base_path=prepared.root, handler_path=spec.src,
    )
    # No NATS in-process: the variables a v2 pod has instead of v1's KRT_NATS_INPUT, with the
    # subjects named as KRE 8 names them, for code that reads or logs them.
    stream = f"{LOCAL_RUNTIME}_{manifest.version}_{wf.entrypoint}"
    environ.pop("KRT_NATS_INPUT", None)
    environ["KRT_NATS_INPUTS"] = ",".join(f"{stream}.{s}" for s in spec.subscriptions)
    environ["KRT_NATS_OUTPUT"] = f"{stream}.{spec.name}"
    environ["KRT_IS_EXITPOINT"] = "true" if spec.name == wf.exitpoint else "false"
    module, logger = import_node(prepared, wf.name, spec.name, spec.src, environ, folders)
    try:
        check_v2_module(module, spec.src)
    except WorkerLoadError as exc:
        raise ServeError(f"node '{spec.name}' (workflow '{wf.name}'): {exc}") from None
    init = init_of(module, spec.name, spec.src)
    store = None
    if spec.object_store is not None:
        name = object_store_name(
            LOCAL_RUNTIME, manifest.version, wf.name, spec.object_store.name,
            spec.object_store.scope,
        )
        store = (Path(state_dir) / "objectstore" / name, name)
    ctx = KreContextV2(
        version=manifest.version, node=spec.name, workflow=wf.name, base_path=prepared.root,
        state_dir=state_dir, logger=logger, configuration=configuration, object_store=store,
    )
    return LoadedNodeV2(
        name=spec.name, workflow=wf.name, src=spec.src, module=module, init=init, ctx=ctx,
        subscriptions=tuple(spec.subscriptions), environ=environ,
    )


# -- behind --nats --------------------------------------------------------------------------------


def _hop_file() -> descriptor_pb2.FileDescriptorProto:
    """v2's envelope header: only the fields the hop observer reads, same numbers (see
    :data:`~kedro_krt.serve.serving_v1.HopV1`)."""
    f = descriptor_pb2.FieldDescriptorProto
    v2 = descriptor_pb2.DescriptorProto(
        name="HopV2",
        field=[
            field_proto("request_id", 1, f.TYPE_STRING),
            field_proto("error", 3, f.TYPE_STRING),
            # MessageType on the wire: an enum is a varint, as an int32.
            field_proto("message_type", 5, f.TYPE_INT32),
        ],
    )
    return descriptor_pb2.FileDescriptorProto(
        name="kedro_krt/serve_hop_v2.proto", package="kedro_krt.hop", syntax="proto3",
        message_type=[v2],
    )


#: v2's ``KreNatsMessage`` reduced to ``request_id``, ``error`` and the type.
HopV2: Any = message_class("kedro_krt.hop.HopV2", _hop_file)


def observed(topo: WorkflowTopologyV2) -> list[str]:
    """Every node's subject and subtopics but the exitpoint's answer subject (where the front
    reads the answers), so that errors are still logged as they pass."""
    stream = topo.stream
    out: list[str] = []
    for pod in topo.pods:
        if pod.node != topo.exitpoint:
            out.append(f"{stream}.{pod.node}")
        out.append(f"{stream}.{pod.node}.*")
    return out


class V2NatsFront(NatsFront):
    """kre-entrypoint 3.3.6 on one machine, with the stores KRE 8.2's nats-manager makes."""

    def __init__(self, prepared: PreparedKrt, pending: dict[str, Pending]) -> None:
        super().__init__(prepared, pending)
        #: subject -> the nodes subscribed to it (where a request is now).
        self.subscribers: dict[str, list[str]] = {}

    def topologies(self, pods: PodSettings) -> tuple[WorkflowTopologyV2, ...]:
        manifest = cast(ManifestV2, self.prepared.manifest)
        topologies = topology_v2(
            version=manifest.version,
            workflows=[
                (
                    wf.name, wf.entrypoint, wf.exitpoint,
                    [
                        TopologyNode(
                            n.name, n.src, tuple(n.subscriptions), n.replicas,
                            (n.object_store.name, n.object_store.scope)
                            if n.object_store is not None else None,
                        )
                        for n in wf.nodes
                    ],
                )
                for wf in manifest.workflows
            ],
            **pods,
        )
        for topo in topologies:
            for pod in topo.pods:
                for subject in pod.environ["KRT_NATS_INPUTS"].split(","):
                    self.subscribers.setdefault(subject, []).append(pod.node)
        return topologies

    def stream_subjects(self, topo: WorkflowTopologyV2) -> list[str]:
        """KRE 8.2's nats-manager (nats/client.go CreateStream): every node's subject and its
        subtopics, and the entrypoint's."""
        return topo.subjects

    def answers_subject(self, topo: WorkflowTopologyV2) -> str:
        return topo.exitpoint_subject

    async def make_stores(self, js: Any, topo: WorkflowTopologyV2) -> None:
        """The key-value and object stores KRE 8.2's nats-manager creates for a workflow."""
        from nats.js.api import KeyValueConfig, ObjectStoreConfig

        for bucket in topo.kv_stores:
            with contextlib.suppress(Exception):  # the project store is shared by workflows
                await js.create_key_value(KeyValueConfig(bucket=bucket))
        for bucket in topo.object_stores:
            with contextlib.suppress(Exception):
                await js.create_object_store(bucket, ObjectStoreConfig(bucket=bucket))

    def observed(self, topo: WorkflowTopologyV2) -> list[str]:
        return observed(topo)

    def durables(self, pod: NodePodV2) -> tuple[str, ...]:
        """kre-py 3's durable consumers, one per input."""
        return pod.queues

    def request(
        self, workflow: NatsWorkflow, payload: any_pb2.Any, envelope: Any
    ) -> tuple[str, str, Any, str]:
        """To ``<stream>.entrypoint`` (``from_node`` ``entrypoint``, type OK), keyed by the
        envelope's tracking id."""
        topo = workflow.topology
        request_id = envelope.tracking_id
        message = KreNatsMessageV2(
            request_id=request_id, from_node=ENTRYPOINT_NODE, message_type=OK
        )
        subject = topo.entrypoint_subject
        first = ", ".join(self.subscribers.get(subject, []))
        message.payload.CopyFrom(payload)
        return request_id, subject, message, first

    def request_limit(self, stream_max: int, server_max: int) -> int:
        """kre-entrypoint 3.3.6: the smaller of the stream's ``max_msg_size`` and the server's
        ``max_payload``; the server's when the stream sets none."""
        return min(stream_max, server_max) if stream_max > 0 else server_max

    def answered_by(self, workflow: NatsWorkflow, pending: Pending, result: Any) -> tuple[str, str]:
        """The exitpoint, which sent it (KRE's entrypoint answers another type with an empty
        reply; we name the sender).

        Raises:
            V2NodeError: the exitpoint's ``error``, as KRE's entrypoint returns it (INTERNAL).
            NodeError: a refusal our runners carried down to the exitpoint's error
                (:func:`~kedro_krt.node.runner.envelope_base.refusal_in`): INVALID_ARGUMENT
                with the refusing node's words, as in-process.
        """
        if result.error:
            refusal = refusal_in(result)
            if refusal:
                raise NodeError(result.from_node, refusal, invalid_request=True)
            raise V2NodeError(result.from_node, result.error)
        return workflow.topology.exitpoint, "sent"

    async def on_answer(self, msg: Any) -> None:
        answer = decoded(msg, decode_v2)
        if answer is None:
            return
        pending = self.pending.get(answer.request_id)
        if pending is not None and not pending.answer.done():
            pending.answer.set_result(answer)

    async def on_hop(self, msg: Any) -> None:
        """Where a v2 request is: the nodes subscribed to the subject it was just sent to."""
        if not self.pending:
            return
        with contextlib.suppress(Exception):
            message = HopV2.FromString(gunzip(msg.data))
            pending = self.pending.get(message.request_id)
            if pending is None:
                return
            if message.message_type == ERROR:
                log.warning("%s", message.error)
            nodes = self.subscribers.get(msg.subject)
            if nodes:
                pending.node = ", ".join(nodes)
                pending.envelope.current = pending.node


class V2Serving(Serving):
    """KRT v2 served here: see the module docstring."""

    krt_version: ClassVar[KrtVersion] = KrtVersion.V2

    def python_workflows(self, manifest: ManifestV2) -> tuple[ManifestV2, tuple[str, ...]]:
        return python_workflows(manifest)

    def load_nodes(
        self, prepared: PreparedKrt, *, state_dir: Path
    ) -> dict[str, LoadedWorkflowV2]:
        return load_nodes(prepared, state_dir=state_dir)

    def workflow_info(self, workflow: WorkflowV2) -> dict[str, Any]:
        """Its nodes with their subscriptions, and its exitpoint (only the nodes served
        here)."""
        return {
            "name": workflow.name,
            "rpc": workflow.entrypoint,
            "nodes": [n.name for n in workflow.nodes],
            "subscriptions": {n.name: list(n.subscriptions) for n in workflow.nodes},
            "exitpoint": workflow.exitpoint,
        }

    def runner_count(self, manifest: ManifestV2) -> int:
        """One runner per replica of each node."""
        return sum(max(1, n.replicas) for n in manifest.nodes)

    def nats_front(self, prepared: PreparedKrt, pending: dict[str, Pending]) -> V2NatsFront:
        return V2NatsFront(prepared, pending)
