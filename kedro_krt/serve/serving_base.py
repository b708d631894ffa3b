"""What serving a KRT format means, in-process and behind ``--nats``: the base of each format's
serving (:mod:`~kedro_krt.serve.serving_v1`, :mod:`~kedro_krt.serve.serving_v2`), which the
table of :mod:`kedro_krt.serve.formats` picks by the KRT's format.

A format's :class:`Serving` says which workflows of a manifest can be served here and loads
their nodes in-process; each loaded workflow (a :class:`LoadedWorkflowBase`) runs a request
through its nodes on the :class:`~kedro_krt.serve.engine.Engine`. Behind ``--nats``, the
format's :class:`NatsFront` is what the gRPC front (:class:`~kedro_krt.serve.nats.NatsEngine`)
does as KRE's entrypoint of that format: the topology, the stream, the request message, the
answers and where a request is.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from google.protobuf import any_pb2
from google.protobuf.message import Message

from kedro_krt.node.krt_version import KrtVersion
from kedro_krt.node.runner.envelope_base import MessageTooLarge, gzip_over
from kedro_krt.serve.engine import Engine, Envelope, Reply
from kedro_krt.serve.errors import RequestTooLarge
from kedro_krt.serve.loader_base import PreparedKrt, RpcTypes
from kedro_krt.serve.topology_base import PodSettings, WorkflowStream

__all__ = [
    "LoadedWorkflowBase",
    "NatsFront",
    "NatsWorkflow",
    "Pending",
    "Serving",
    "decoded",
]

log = logging.getLogger("kedro_krt.serve")


class LoadedWorkflowBase(RpcTypes, ABC):
    """A workflow whose nodes are imported in this process: its name, rpc, message classes and
    nodes (each with ``name``, ``workflow``, ``ctx``, ``init`` and ``environ``), and how a
    request runs through them."""

    name: str
    rpc: str
    nodes: tuple[Any, ...]

    def thread_names(self) -> dict[str, str]:
        """Node name -> the engine thread it runs on: a thread per node, unless the format
        says otherwise (see :class:`~kedro_krt.serve.engine.Engine`)."""
        return {node.name: f"{self.name}-{node.name}" for node in self.nodes}

    @abstractmethod
    async def run(
        self, engine: Engine, payload: any_pb2.Any, reply: Reply, envelope: Envelope
    ) -> None:
        """Pass ``payload`` (the packed request) through the workflow, each node on its
        ``engine`` thread, and answer with ``reply`` (see :meth:`Engine.run`).

        Raises:
            NodeError: what the caller, not yet answered, gets as the gRPC error.
        """


@dataclass(frozen=True)
class NatsWorkflow(RpcTypes):
    """What the gRPC front needs of a workflow behind ``--nats``: its rpc, its message classes,
    its topology (of the KRT's format)."""

    name: str
    rpc: str
    request_cls: type[Message]
    response_cls: type[Message]
    topology: Any


@dataclass
class Pending:
    """A request in flight behind ``--nats``: the front's envelope, where it is, its answer."""

    workflow: NatsWorkflow
    envelope: Any
    answer: asyncio.Future[Any]
    node: str = ""


class NatsFront(ABC):
    """KRE's entrypoint of one format, as the ``--nats`` front plays it: one per front, sharing
    its requests in flight (``pending``, by request id)."""

    def __init__(self, prepared: PreparedKrt, pending: dict[str, Pending]) -> None:
        self.prepared = prepared
        self.pending = pending

    @abstractmethod
    def topologies(self, pods: PodSettings) -> tuple[WorkflowStream, ...]:
        """Every served workflow's stream and node pods (in manifest order), with the
        environment KRE gives each pod; ``pods`` is what every pod takes from this run."""

    @abstractmethod
    def stream_subjects(self, topo: Any) -> list[str]:
        """The subjects of the workflow's stream, as KRE declares them."""

    @abstractmethod
    def answers_subject(self, topo: Any) -> str:
        """Where the front reads the answers (and errors) for its callers."""

    @abstractmethod
    async def make_stores(self, js: Any, topo: Any) -> None:
        """The stores KRE creates beside the workflow's stream (before the stream)."""

    @abstractmethod
    def observed(self, topo: Any) -> list[str]:
        """The subjects the hop observer listens to: where a request goes after the front sent
        it (not where it sends requests, nor where the answers come back)."""

    @abstractmethod
    def durables(self, pod: Any) -> tuple[str, ...]:
        """The durable consumers a runner of ``pod`` binds."""

    @abstractmethod
    def request(
        self, workflow: NatsWorkflow, payload: any_pb2.Any, envelope: Any
    ) -> tuple[str, str, Any, str]:
        """The request as KRE's entrypoint sends it: its id (its answer's key in ``pending``),
        the subject, the envelope message carrying ``payload``, and the node(s) that read it."""

    @abstractmethod
    def request_limit(self, stream_max: int, server_max: int) -> int:
        """The most bytes (after gzip) KRE's entrypoint of the format sends as one request,
        given the stream's ``max_msg_size`` (-1 or 0: none) and the server's ``max_payload``."""

    def encode(self, workflow: NatsWorkflow, data: bytes, limit: int) -> bytes:
        """The serialized request as KRE's entrypoint publishes it (``_prepare_nats_request``,
        every format): as is up to ``limit`` bytes, else gzipped at level 9.

        Raises:
            RequestTooLarge: still over ``limit`` after gzip (KRE's entrypoint: "compressed
                message exceeds maximum size allowed"), naming both sizes and the limit.
        """
        try:
            return gzip_over(data, limit, "{size:.2f} KB")
        except MessageTooLarge as exc:
            raise RequestTooLarge(
                f"the request to rpc {workflow.rpc} is {len(data) / 1024:.2f} KB, {exc} after "
                f"gzip: over the {limit / 1024:.2f} KB NATS message limit that KRE's entrypoint "
                "allows (compressed message exceeds maximum size allowed); send a smaller request"
            ) from None

    @abstractmethod
    def answered_by(self, workflow: NatsWorkflow, pending: Pending, result: Any) -> tuple[str, str]:
        """The node that answered ``result`` and what it did (``returned``, ``sent``), named
        when its payload is not the rpc's response.

        Raises:
            NodeError: the error the answer carries, as KRE's entrypoint returns it.
        """

    @abstractmethod
    async def on_answer(self, msg: Any) -> None:
        """An answer (or error) on :meth:`answers_subject`, handed to its request."""

    @abstractmethod
    async def on_hop(self, msg: Any) -> None:
        """A message on an :meth:`observed` subject: where its request is now."""


class Serving(ABC):
    """One KRT format served here: which workflows, loaded how, and its ``--nats`` front."""

    krt_version: ClassVar[KrtVersion]

    @abstractmethod
    def python_workflows(self, manifest: Any) -> tuple[Any, tuple[str, ...]]:
        """The manifest with only what this server can run (Python nodes), and a warning for
        each thing left out.

        Raises:
            ServeError: when no workflow is left.
        """

    @abstractmethod
    def load_nodes(self, prepared: PreparedKrt, *, state_dir: Path) -> dict[str, Any]:
        """Import every node of every served workflow; the loaded workflows
        (:class:`LoadedWorkflowBase`) by rpc name.

        Raises:
            ServeError: naming the node, when its file fails to import or lacks the handlers
                its format calls.
        """

    @abstractmethod
    def workflow_info(self, workflow: Any) -> dict[str, Any]:
        """What ``/info`` says of a served workflow of the manifest: its name, rpc and nodes."""

    @abstractmethod
    def runner_count(self, manifest: Any) -> int:
        """How many runner processes ``--nats`` starts for the version."""

    @abstractmethod
    def nats_front(self, prepared: PreparedKrt, pending: dict[str, Pending]) -> NatsFront:
        """The ``--nats`` front of this format for ``prepared``."""


def decoded(msg: Any, decode: Callable[[bytes], Any]) -> Any:
    """An answer decoded (the front's consumer acks none); ``None`` (logged) when it does not
    decode."""
    try:
        return decode(msg.data)
    except Exception as exc:
        log.error("an undecodable message on %s: %s", msg.subject, exc)
        return None
