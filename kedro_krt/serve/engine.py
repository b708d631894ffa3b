"""The in-process workflow engine: a request through a workflow's nodes, as KRE passes it.

KRE carries each request between node processes in a ``KreNatsMessage`` over NATS. Here the nodes
live in one process, so the envelope is a plain object and the payload an ``Any`` handed from one
handler to the next; what a node sees (``ctx``, an ``Any`` in, a message out), the errors the
caller gets and the routing are KRE's, for each KRT format: the loaded workflow of the format
(:mod:`~kedro_krt.serve.serving_v1`, :mod:`~kedro_krt.serve.serving_v2`) runs the request, on
the threads of this engine.

Node code runs off the server's loop, on an engine thread with its own event loop: node code is
mostly synchronous (pandas, a model's ``predict``) inside an ``async def handler``, and on the
server's loop it would stall health checks, the timeout and every other request while it runs.
Which nodes share a thread is the format's choice (:meth:`ServedWorkflow.thread_names`): a KRT v1
workflow is a chain, so all its nodes share one thread and a request crosses threads twice
(there and back), not twice per node; a KRT v2 node has a thread of its own, so that branches
overlap. Each node takes one message at a time (a lock per node, on its thread), as a kre-py pod
handles one message at a time. A request that times out leaves its node running; the node's next
message waits for it, as in a pod.

The hot path does as little as it can: no serialisation beyond the ``Any`` packing KRE does too,
no gzip unless a payload is over KRE's 1 MiB limit, no file I/O.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import gzip
import logging
import threading
import uuid
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from google.protobuf import any_pb2
from google.protobuf.message import Message

from kedro_krt.serve.errors import NodeError

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


class _Mailbox:
    """Items for one event loop from other threads, handled there by ``handle`` in the order
    posted; posts made before the loop got round to them share one ``call_soon_threadsafe``.

    Safe without a lock: ``wake`` is cleared on the loop *before* the queue is emptied, so a
    post that saw it still set is emptied by that round, and one that saw it cleared
    schedules a round of its own (at worst an empty one).
    """

    __slots__ = ("handle", "items", "loop", "wake")

    def __init__(self, loop: asyncio.AbstractEventLoop, handle: Callable[[Any], None]) -> None:
        self.loop = loop
        self.handle = handle
        self.items: collections.deque[Any] = collections.deque()
        self.wake = False

    def post(self, item: Any) -> None:
        """From any thread: ``handle(item)`` soon, on the mailbox's loop."""
        self.items.append(item)
        if not self.wake:
            self.wake = True
            # A caller's loop closed meanwhile (a test's asyncio.run) wants no outcome.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._empty)

    def _empty(self) -> None:
        self.wake = False
        items = self.items
        while items:
            self.handle(items.popleft())


class _Job:
    """A coroutine handed to a :class:`NodeThread`: its future on the caller's loop, its task
    on the thread's (once started), where its outcome goes back, and who hears of a result
    first (``on_result``)."""

    __slots__ = ("coro", "future", "on_result", "outbox", "task")

    def __init__(
        self,
        coro: Coroutine[Any, Any, Any],
        future: asyncio.Future[Any],
        outbox: _Mailbox,
        on_result: Callable[[Any], None] | None = None,
    ) -> None:
        self.coro = coro
        self.future = future
        self.outbox = outbox
        self.on_result = on_result
        self.task: asyncio.Task[Any] | None = None

    def cancel_if_cancelled(self, future: asyncio.Future[Any]) -> None:
        """On the caller's loop: a cancelled caller cancels the task (at its next await)."""
        task = self.task
        if future.cancelled() and task is not None and not task.get_loop().is_closed():
            task.get_loop().call_soon_threadsafe(task.cancel)

    def finished(self, task: asyncio.Task[Any]) -> None:
        """On the thread: the outcome goes back to the caller's loop."""
        self.outbox.post(self)

    def settle(self) -> None:
        """On the caller's loop: the task's outcome into the caller's future."""
        future, task = self.future, self.task
        assert task is not None
        if future.done():
            if not task.cancelled():
                task.exception()  # retrieved: the caller stopped waiting for it
            return
        if task.cancelled():
            future.cancel()
        elif task.exception() is not None:
            future.set_exception(task.exception())  # type: ignore[arg-type]
        else:
            result = task.result()
            if result is not None and self.on_result is not None:
                # Here, in the same turn of the caller's loop: the caller's answer does not
                # wait for the awaiting task to be woken first.
                self.on_result(result)
            future.set_result(result)


class NodeThread:
    """An engine thread with its own event loop, where one or more KRT nodes run.

    :meth:`call` runs one coroutine at a time there (the lock lives on the caller's loop and is
    released when the work is really done, not when a caller stops waiting for it): the inits,
    and a v2 node's handlers. :meth:`submit` hands over a coroutine without a lock, for a
    workflow that keeps its nodes' order itself with :meth:`node_lock` (a v1 chain).
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
        #: node name -> its lock, used on this thread's loop only (see :meth:`node_lock`).
        self._node_locks: dict[str, asyncio.Lock] = {}
        #: jobs for this thread (:meth:`submit`), and the outcomes for each caller's loop.
        self._inbox = _Mailbox(self.loop, self._start)
        self._outboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Mailbox] = (
            weakref.WeakKeyDictionary()
        )

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def call(self, make: Callable[[], Awaitable[T]]) -> T:
        """``await make()`` on this thread, after the previous :meth:`call`'s work is done."""
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

    def submit(
        self, coro: Coroutine[Any, Any, T], on_result: Callable[[Any], None] | None = None
    ) -> asyncio.Future[T]:
        """Run ``coro`` on this thread; its outcome as a future of the caller's loop.

        ``on_result`` (on the caller's loop) gets a result that is not None as soon as it is
        back, before the future's awaiter runs. Cancelling the returned future cancels
        ``coro`` at its next ``await``. Under load, the
        jobs handed over (and the outcomes handed back) between two wake-ups of a loop share
        one wake-up (:class:`_Mailbox`): each is a write to the loop's socket and a switch of
        the GIL, the larger part of what crossing threads costs.
        """
        caller = asyncio.get_running_loop()
        job = _Job(coro, caller.create_future(), self._outbox_for(caller), on_result)
        job.future.add_done_callback(job.cancel_if_cancelled)
        self._inbox.post(job)
        return job.future

    def _outbox_for(self, caller: asyncio.AbstractEventLoop) -> _Mailbox:
        box = self._outboxes.get(caller)
        if box is None or box.loop is not caller:
            box = self._outboxes[caller] = _Mailbox(caller, _Job.settle)
        return box

    def _start(self, job: _Job) -> None:
        """On this thread: the job's coroutine as a task, its outcome posted back when done."""
        if job.future.cancelled():
            job.coro.close()
            return
        task = self.loop.create_task(job.coro)
        job.task = task
        if job.future.cancelled():  # cancelled while the task was being made
            task.cancel()
        task.add_done_callback(job.finished)

    def node_lock(self, node: str) -> asyncio.Lock:
        """The lock that keeps ``node`` to one message at a time; on this thread's loop only."""
        lock = self._node_locks.get(node)
        if lock is None:
            lock = self._node_locks[node] = asyncio.Lock()
        return lock

    def close(self, timeout: float = 5.0) -> None:
        """Stop the loop once its current work is done; the thread is a daemon either way."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()


#: How a workflow answers the caller: called once at most, with the response message.
Reply = Callable[[Message], None]


class ServedNode(Protocol):
    """What the engine needs of a loaded node (every format): where its thread is, its ctx."""

    @property
    def name(self) -> str: ...

    @property
    def workflow(self) -> str: ...

    @property
    def ctx(self) -> Any: ...


class ServedWorkflow(Protocol):
    """What the engine needs of a loaded workflow: its nodes, and how a request runs through
    them (:class:`~kedro_krt.serve.serving_base.LoadedWorkflowBase`)."""

    @property
    def nodes(self) -> Sequence[ServedNode]: ...

    def thread_names(self) -> Mapping[str, str]:
        """Node name -> the name of the engine thread it runs on (nodes may share one)."""
        ...

    async def run(
        self, engine: Engine, payload: any_pb2.Any, reply: Reply, envelope: Envelope
    ) -> None: ...


class WrongResponseType(NodeError):
    """A node answered the caller with a message that is not the rpc's response type."""


def type_name(value: object) -> str:
    """The full name of a protobuf message's type, else the Python type's name."""
    if isinstance(value, Message):
        return str(value.DESCRIPTOR.full_name)
    return type(value).__name__


class Engine:
    """Runs requests through loaded workflows; one instance per server process."""

    def __init__(self, workflows: Mapping[str, ServedWorkflow]) -> None:
        self.workflows = workflows
        self._size_warned: set[tuple[str, str]] = set()
        by_name: dict[str, NodeThread] = {}
        self._threads: dict[tuple[str, str], NodeThread] = {}
        for wf in workflows.values():
            names = wf.thread_names()
            for node in wf.nodes:
                name = names[node.name]
                if name not in by_name:
                    by_name[name] = NodeThread(name)
                self._threads[(node.workflow, node.name)] = by_name[name]
        self._all_threads = tuple(by_name.values())

    def thread(self, node: ServedNode) -> NodeThread:
        """The engine thread ``node`` runs on."""
        return self._threads[(node.workflow, node.name)]

    async def node_call(self, node: ServedNode, make: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``make()`` (a handler or an init) on ``node``'s thread, one call at a time."""
        return await self._threads[(node.workflow, node.name)].call(make)

    def close(self) -> None:
        """Stop the nodes' threads (at shutdown, after the requests in flight)."""
        for thread in self._all_threads:
            thread.close()

    async def run(
        self,
        workflow: ServedWorkflow,
        payload: any_pb2.Any,
        reply: Reply,
        envelope: Envelope | None = None,
    ) -> None:
        """Pass ``payload`` (the packed request) through ``workflow`` and answer with ``reply``.

        ``reply`` is called once at most with the response message; when, and what the caller
        gets on an error, is the workflow's format's (KRE's routing of that format).

        Raises:
            NodeError: ``error in '<node>': <message>`` (v1), KRE's error text (v2), when a node
                raised or answered with the wrong type; the caller (not yet answered) gets it as
                the gRPC error.
        """
        env = envelope or Envelope(tracking_id=uuid.uuid4().hex, payload=payload)
        await workflow.run(self, payload, reply, env)

    def check_size(self, node: ServedNode, message: Message) -> None:
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
