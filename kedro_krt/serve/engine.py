"""The workflow engine: a request through a workflow's ``sequential`` nodes, as KRE passes it.

KRE carries each request between node processes in a ``KreNatsMessage`` over NATS. Here the nodes
live in one process, so the envelope is a plain object and the payload an ``Any`` handed from one
``handler`` to the next; what a node sees (``ctx``, an ``Any`` in, a message out), the errors the
caller gets and the early reply / early exit rules are KRE's.

Each KRT node runs in a thread of its own, with its own event loop, one message at a time, as
a kre-py pod handles one message at a time: node code is mostly synchronous (pandas, a model's
``predict``) inside an ``async def handler``, and on the server's loop it would stall health
checks, the timeout and every other request while it runs. A request that times out leaves its
node running; the node's next message waits for it, as in a pod.

The hot path does as little as it can: no serialisation beyond the ``Any`` packing KRE does too,
no gzip unless a payload is over KRE's 1 MiB limit, no file I/O.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import gzip
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from google.protobuf import any_pb2
from google.protobuf.message import Message

from kedro_krt.node.runtime.context import RequestState
from kedro_krt.node.runtime.context_v2 import ERROR, OK, select_handler
from kedro_krt.serve.errors import InvalidRequest, NodeError
from kedro_krt.serve.loader import LoadedNode, LoadedWorkflow
from kedro_krt.serve.loader_v2 import LoadedNodeV2, LoadedWorkflowV2

log = logging.getLogger("kedro_krt.serve")

#: NATS' default max payload, which KRE keeps: a bigger message (after gzip) fails in KRE.
KRE_MAX_PAYLOAD = 1024 * 1024


@dataclass
class Tracking:
    """One ``KreNatsMessage.tracking`` entry: a node and when it started and ended (epoch s)."""

    node_name: str
    start: float
    end: float = 0.0


@dataclass
class Envelope:
    """What ``KreNatsMessage`` carries between nodes, minus the NATS subjects."""

    tracking_id: str
    payload: any_pb2.Any
    tracking: list[Tracking] = field(default_factory=list)
    error: str = ""
    replied: bool = False
    early_exit: bool = False
    #: the node running now, for the message of a timeout.
    current: str = ""


T = TypeVar("T")


class NodeThread:
    """A KRT node's own thread and event loop; :meth:`call` runs one coroutine at a time there.

    The lock that keeps one message at a time lives on the caller's loop and is released when
    the node's work is really done (not when a caller stops waiting for it).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve, name=f"krt-node-{name}", daemon=True
        )
        self._thread.start()
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def call(self, make: Callable[[], Awaitable[T]]) -> T:
        """``await make()`` on this node's thread, after the node's previous work is done."""
        caller = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not caller:
            self._lock, self._lock_loop = asyncio.Lock(), caller
        lock = self._lock
        await lock.acquire()

        async def run() -> T:
            return await make()

        try:
            future = asyncio.run_coroutine_threadsafe(run(), self.loop)
        except BaseException:
            lock.release()
            raise

        def release(_: concurrent.futures.Future[T]) -> None:
            if not caller.is_closed():
                caller.call_soon_threadsafe(lock.release)

        future.add_done_callback(release)
        return await asyncio.wrap_future(future)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the loop once its current work is done; the thread is a daemon either way."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()


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


class V2NodeError(NodeError):
    """A v2 error message: its text is KRE's own (``Error in node 'x' executing handler for
    node 'y': ...``), which KRE's entrypoint returns as it is."""

    def __init__(self, node: str, text: str) -> None:
        super().__init__(node, text)
        self.args = (text,)

    def __str__(self) -> str:
        return str(self.args[0])


class WrongResponseType(NodeError):
    """A node answered the caller with a message that is not the rpc's response type."""


def _type_name(value: object) -> str:
    if isinstance(value, Message):
        return str(value.DESCRIPTOR.full_name)
    return type(value).__name__


class Engine:
    """Runs requests through loaded workflows; one instance per server process."""

    def __init__(self, workflows: dict[str, LoadedWorkflow] | dict[str, Any]) -> None:
        self.workflows = workflows
        self._size_warned: set[tuple[str, str]] = set()
        self._threads = {
            (node.workflow, node.name): NodeThread(f"{node.workflow}-{node.name}")
            for wf in workflows.values()
            for node in wf.nodes
        }

    async def node_call(
        self, node: LoadedNode | LoadedNodeV2, make: Callable[[], Awaitable[Any]]
    ) -> Any:
        """Run ``make()`` (a handler or an init) on ``node``'s own thread."""
        return await self._threads[(node.workflow, node.name)].call(make)

    def close(self) -> None:
        """Stop the nodes' threads (at shutdown, after the requests in flight)."""
        for thread in self._threads.values():
            thread.close()

    async def run(
        self,
        workflow: LoadedWorkflow | LoadedWorkflowV2,
        payload: any_pb2.Any,
        reply: Callable[[Message], None],
        envelope: Envelope | None = None,
    ) -> None:
        """Pass ``payload`` (the packed request) through ``workflow`` and answer with ``reply``.

        ``reply`` is called once at most with the response message: at an early reply (then the
        rest of the workflow still runs, its last output is dropped as KRE drops it), or with
        the last node's output, or with the output of a node that called ``ctx.early_exit()``.

        Raises:
            NodeError: ``error in '<node>': <message>`` when a node raised or answered with the
                wrong type; the caller (not yet answered) gets it as the gRPC error.
        """
        env = envelope or Envelope(tracking_id=uuid.uuid4().hex, payload=payload)
        if isinstance(workflow, LoadedWorkflowV2):
            await self._run_v2(workflow, payload, reply, env)
            return
        now = time.time()
        env.tracking.append(Tracking("entrypoint", now, now))
        response_type = workflow.response_type
        caller = asyncio.get_running_loop()

        async def early(message: Message) -> None:
            # Called on the node's thread: the answer is handed to the caller's loop.
            if _type_name(message) != response_type:
                raise TypeError(
                    f"early reply is {_type_name(message)}, expected {response_type} "
                    f"(the response of rpc {workflow.rpc})"
                )
            env.replied = True
            caller.call_soon_threadsafe(reply, message)

        state = RequestState(early, env.tracking_id)
        last = len(workflow.nodes) - 1
        for index, node in enumerate(workflow.nodes):
            env.current = node.name
            entry = Tracking(node.name, time.time())
            try:
                result = await self.node_call(
                    node, functools.partial(node.handler, node.ctx.for_request(state), env.payload)
                )
            except InvalidRequest as exc:
                raise NodeError(node.name, str(exc), invalid_request=True) from exc
            except Exception as exc:
                node.ctx.logger.exception("error executing handler: %s", exc)
                raise NodeError(node.name, str(exc) or type(exc).__name__) from exc
            entry.end = time.time()
            env.tracking.append(entry)
            if index == last or state.early_exit:
                if state.early_exit and index != last:
                    node.ctx.logger.info("Early exit received, workflow has stopped execution")
                if state.replied:
                    if result is not None:
                        node.ctx.logger.info(
                            "ignoring the last node response because the message was replied "
                            "previously"
                        )
                    return
                if _type_name(result) != response_type:
                    raise WrongResponseType(
                        node.name,
                        f"returned {_type_name(result)}, expected {response_type} "
                        f"(the response of rpc {workflow.rpc})",
                    )
                self._check_size(node, result)
                reply(result)
                return
            if not isinstance(result, Message):
                raise NodeError(
                    node.name,
                    f"returned {_type_name(result)}, expected a protobuf message for the next "
                    f"node '{workflow.nodes[index + 1].name}'",
                )
            packed = any_pb2.Any()
            packed.Pack(result)
            if len(packed.value) > KRE_MAX_PAYLOAD:
                self._check_size(node, packed)
            env.payload = packed

    async def _run_v2(
        self,
        workflow: LoadedWorkflowV2,
        payload: any_pb2.Any,
        reply: Callable[[Message], None],
        env: Envelope,
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
        request_id = env.tracking_id
        tasks: set[asyncio.Task[None]] = set()
        settled = asyncio.Event()
        answered = False
        errors: list[V2Message] = []
        failure: list[BaseException] = []
        response_type = workflow.response_type

        def publish(origin: str, channel: str, message: V2Message) -> None:
            """On the caller's loop: hand ``message`` to the subscribers of its subject, or
            answer the caller when it is the exitpoint's (its own subject, no subtopic)."""
            nonlocal answered
            subject = f"{origin}.{channel}" if channel else origin
            if message.message_type == ERROR:
                errors.append(message)
            if origin == workflow.exitpoint and not channel and not answered:
                answered = True
                env.replied = True
                answer(message)
            for node in workflow.subscribers.get(subject, ()):
                task = caller.create_task(deliver(node, message))
                tasks.add(task)
                task.add_done_callback(done)

        def answer(message: V2Message) -> None:
            # kre-entrypoint 3.3.6 (_create_grpc_response): an error is gRPC INTERNAL with its
            # text; otherwise the payload is the rpc's response.
            try:
                if message.error:
                    raise V2NodeError(message.from_node, message.error)
                if message.payload.TypeName() != response_type:
                    raise WrongResponseType(
                        workflow.exitpoint,
                        f"sent {message.payload.TypeName() or 'nothing'}, expected "
                        f"{response_type} (the response of rpc {workflow.rpc})",
                    )
                response = workflow.response_cls()
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
            env.current = node.name
            handler = select_handler(node.module, message.from_node)

            async def send(
                packed: any_pb2.Any, message_type: int, channel: str, request: Any
            ) -> None:
                # Called on the node's thread, inside the handler: the routing happens on the
                # caller's loop, in the order the node sent.
                if len(packed.value) > KRE_MAX_PAYLOAD:
                    self._check_size(node, packed)
                out = V2Message(request.request_id, packed, "", node.name, message_type)
                caller.call_soon_threadsafe(publish, node.name, channel, out)

            ctx = node.ctx.for_message(message, send)
            try:
                if handler is None:
                    raise RuntimeError(
                        f"no handler for messages from node '{message.from_node}': define "
                        f"default_handler or custom_handlers['{message.from_node}']"
                    )
                await self.node_call(node, functools.partial(handler, ctx, message.payload))
            except Exception as exc:
                if isinstance(exc, InvalidRequest) and message.from_node == ENTRYPOINT_NODE:
                    failure.append(NodeError(node.name, str(exc), invalid_request=True))
                    settled.set()
                node.ctx.logger.exception("Error executing handler: %s", exc)
                error = V2Message(
                    message.request_id, any_pb2.Any(),
                    f"Error in node '{node.name}' executing handler for node "
                    f"'{message.from_node}': {exc}",
                    node.name, ERROR,
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
                if errors:
                    raise V2NodeError(
                        errors[0].from_node,
                        f"{errors[0].error} (and the exitpoint '{workflow.exitpoint}' sent no "
                        "answer)",
                    )
                raise NodeError(
                    workflow.exitpoint,
                    f"the workflow finished without a message from its exitpoint "
                    f"'{workflow.exitpoint}' for this request (it must call "
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

    def _check_size(self, node: LoadedNode | LoadedNodeV2, message: Message) -> None:
        """Warn once per node when KRE would refuse this payload (over 1 MiB after gzip -9)."""
        key = (node.workflow, node.name)
        if key in self._size_warned:
            return
        # ByteSize() computes the size without serialising: the common small reply costs nothing.
        if message.ByteSize() <= KRE_MAX_PAYLOAD:
            return
        data = message.value if isinstance(message, any_pb2.Any) else message.SerializeToString()
        compressed = len(gzip.compress(data, compresslevel=9))
        if compressed > KRE_MAX_PAYLOAD:
            self._size_warned.add(key)
            node.ctx.logger.warning(
                "the output of node '%s' is %.2f KB (%.2f KB gzipped): KRE refuses messages "
                "between nodes over 1024.00 KB (exceeds maximum size allowed); this works "
                "locally but fails in KRE",
                node.name, len(data) / 1024, compressed / 1024,
            )


async def drain(tasks: set[asyncio.Task[None]], timeout: float) -> None:
    """Wait for background workflow tasks (those that replied early) to finish."""
    pending = [t for t in tasks if not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=timeout)
