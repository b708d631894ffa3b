"""One serving process: the gRPC front of the local KRE (``/<package>.Entrypoint/<Rpc>``, health,
reflection) over the in-process engine or the NATS back end (``--nats``).

:func:`serve_worker` serves until stopped; the single server (:mod:`~kedro_krt.serve.server`)
and each worker process of ``--workers N`` (:mod:`~kedro_krt.serve.supervisor`) run it with
:func:`run_serving`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

from kedro_krt.serve.engine import KRE_MAX_PAYLOAD, Engine, Envelope, drain
from kedro_krt.serve.errors import NodeError, RequestTooLarge, ServeError
from kedro_krt.serve.formats import serving_for
from kedro_krt.serve.loader import PreparedKrt, load_nodes, run_inits
from kedro_krt.serve.nats import NatsEngine
from kedro_krt.serve.options import ServeOptions, worker_thread_env

__all__ = ["Worker", "run_serving", "serve_worker"]

log = logging.getLogger("kedro_krt.serve")

#: A stop waits for this long without a new call before it stops the gRPC server (a caller
#: on a loaded machine can take tens of ms to send its next call: 50 ms let 1 of 20 through)...
_QUIET_S = 0.25
#: ...but no longer than this (callers that keep many calls in flight never go quiet).
_QUIET_MAX_S = 2.0


def _runner_count(prepared: PreparedKrt) -> int:
    """How many runner processes ``--nats`` starts (the KRT's format says: one per node of each
    workflow, or per replica)."""
    manifest = prepared.manifest
    return serving_for(manifest).runner_count(manifest)


def port_taken(host: str, port: int, *, reuse_port: bool = False) -> bool:
    """Whether a listening socket of another process holds ``host:port``: a bind with the
    options gRPC's own bind uses (``SO_REUSEADDR``, and ``SO_REUSEPORT`` when the workers share
    the port), so that what this probe finds free gRPC binds too. Any other failure (an
    unknown host, a port kept for root) is left to gRPC to report."""
    if port == 0:
        return False
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError):
        return False
    for family, kind, proto, _, addr in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port and hasattr(socket, "SO_REUSEPORT"):
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            try:
                probe.bind(addr)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return True
    return False


class Worker:
    """One serving process: the gRPC server, its health and reflection, and the engine."""

    def __init__(
        self, prepared: PreparedKrt, options: ServeOptions, state_dir: Path, *, reuse_port: bool
    ) -> None:
        self.prepared = prepared
        self.options = options
        self.state_dir = state_dir
        self.reuse_port = reuse_port
        self.health = health.aio.HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.engine: Engine | NatsEngine | None = None
        self.port = 0
        self.ready = False
        self.draining = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        #: Set once the gRPC server has begun its own shutdown: the calls held by
        #: :meth:`_refuse` get their UNAVAILABLE then.
        self._refusing = asyncio.Event()
        #: When the last call arrived (monotonic), for the quiet moment before the stop.
        self._last_call = 0.0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> int:
        """Bind and start answering (health NOT_SERVING until :meth:`load` has run)."""
        prepared = self.prepared
        server = grpc.aio.server(
            options=[("grpc.so_reuseport", 1 if self.reuse_port else 0)],
        )
        methods = {}
        for wf in prepared.manifest.workflows:
            methods[wf.entrypoint] = grpc.unary_unary_rpc_method_handler(
                self._handler(wf.entrypoint)
            )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(prepared.service_name, methods),)
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        pool = prepared.pool
        for module in (health_pb2, reflection_pb2):
            with contextlib.suppress(Exception):  # already there when a KRT imports them
                pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
        reflection.enable_server_reflection(
            (prepared.service_name, health.SERVICE_NAME, reflection.SERVICE_NAME), server, pool=pool
        )
        address = f"{self.options.host}:{self.options.port}"
        # gRPC's C core logs a taken port on stderr itself (an `add_port.cc` line) before it
        # returns 0: a port seen taken first is refused with our message alone.
        taken = port_taken(self.options.host, self.options.port, reuse_port=self.reuse_port)
        try:
            port = 0 if taken else server.add_insecure_port(address)
        except RuntimeError:
            port = 0
        if not port:
            raise ServeError(
                f"cannot listen on {address}: the port is in use (or the host is not a local "
                "address); stop the other server or choose another port with --port"
            )
        self.port = port
        if not self.ready:  # loaded first: a replacement worker (bind_after_load)
            for name in ("", prepared.service_name):
                await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await server.start()
        self.server = server
        return port

    async def load(self) -> None:
        """Import every node and run every init (or, with ``--nats``, start the runners and
        wait until each one subscribed), then report SERVING."""
        if self.options.nats:
            engine = NatsEngine(
                self.prepared, self.state_dir, nats_url=self.options.nats_url,
                thread_env=worker_thread_env(_runner_count(self.prepared)),
                start_timeout=self.options.start_timeout,
            )
            self.engine = engine
            await engine.start()  # its own start timeout, naming the runners not subscribed
        else:
            await self._load_in_process()
        # Everything loaded so far (modules, models) lives as long as the server: keep the
        # cyclic GC from walking it again and again, which shows as latency spikes.
        gc.collect()
        gc.freeze()
        self.ready = True
        if not self.draining:
            for name in ("", self.prepared.service_name):
                await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def _load_in_process(self) -> None:
        """Import the nodes and run their inits, within ``--start-timeout``.

        Raises:
            ServeError: naming the node whose init (or the import) had not returned in time.
        """
        running = "importing the nodes' files"

        def on_init(node: str, workflow: str) -> None:
            nonlocal running
            running = f"the init of node '{node}' (workflow '{workflow}')"

        async def load() -> None:
            workflows = await asyncio.to_thread(
                load_nodes, self.prepared, state_dir=self.state_dir
            )
            local = Engine(workflows)
            self.engine = local
            await run_inits(workflows, local.node_call, on_init)

        timeout = self.options.start_timeout
        try:
            await asyncio.wait_for(load(), timeout)
        except asyncio.TimeoutError:
            # The node's thread is a daemon: the hung init does not keep the process alive.
            raise ServeError(
                f"the server did not start within {timeout:g} s: {running} had not returned; "
                "raise --start-timeout if it needs longer"
            ) from None

    def request_stop(self) -> None:
        """Begin a graceful stop (signal handlers call this); repeats are ignored."""
        self._stop.set()

    async def stop_requested(self) -> None:
        """Return once :meth:`request_stop` has been called."""
        await self._stop.wait()

    async def stop(self) -> None:
        """Drain and stop: every call accepted before gets its answer, every call after
        UNAVAILABLE (never CANCELLED).

        1. "stopping": health NOT_SERVING; a new call is held (:meth:`_refuse`).
        2. The calls in flight finish (up to the grace).
        3. Once no call has arrived for a moment (the callers that got their answers have sent
           their next call, now held), the gRPC server stops: it sends GOAWAY and takes no new
           call. A call it had received but not yet handed to us would be CANCELLED by gRPC
           core at that point: the held calls keep the callers from sending more meanwhile.
        4. The held calls are answered UNAVAILABLE, which callers and proxies retry; a call
           sent after it finds the connection going away (UNAVAILABLE too).
        """
        if self.draining:
            return
        self.draining = True
        log.info("stopping: waiting for requests in flight (up to %.0f s)", self.options.grace)
        await self.health.enter_graceful_shutdown()
        started = time.monotonic()
        await drain(self._tasks, self.options.grace)
        await self._quiet(started)
        if self.server is not None:
            left = max(0.5, self.options.grace - (time.monotonic() - started))
            stopping = asyncio.ensure_future(self.server.stop(left))
            # One turn of the loop: the task has called grpc_server_shutdown_and_notify (its
            # first step, before it awaits anything).
            await asyncio.sleep(0)
            self._refusing.set()
            await stopping
        self._refusing.set()
        if isinstance(self.engine, NatsEngine):
            await self.engine.stop()
        elif self.engine is not None:
            self.engine.close()

    async def _quiet(self, started: float) -> None:
        """Wait until no call has arrived for :data:`_QUIET_S` (at most :data:`_QUIET_MAX_S`,
        within the grace): gRPC core holds no call we have not seen yet."""
        deadline = min(started + self.options.grace, time.monotonic() + _QUIET_MAX_S)
        while time.monotonic() < deadline:
            idle = time.monotonic() - self._last_call
            if idle >= _QUIET_S:
                return
            await asyncio.sleep(_QUIET_S - idle)

    # -- requests --------------------------------------------------------------------------

    def _handler(self, rpc: str) -> Callable[[bytes, grpc.aio.ServicerContext], Any]:
        async def behaviour(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            return await self._call(rpc, request, context)

        return behaviour

    async def _call(self, rpc: str, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        self._last_call = time.monotonic()
        if self.draining:
            await self._refuse(context)
        engine = self.engine
        # Not before every init has returned: a node whose init has not run yet has nothing in
        # its ctx (and a v1 chain's thread would run it between two inits).
        if engine is None or not self.ready:
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                "the server is starting: the nodes' init has not finished (watch the health "
                "service for SERVING)",
            )
        assert engine is not None
        wf: Any = engine.workflows[rpc]
        try:
            wf.request_cls.FromString(request)
        except DecodeError as exc:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"the request is not a valid {wf.request_type} message (rpc {rpc}): {exc}",
            )
        # The bytes just checked are the Any's value: no second serialisation.
        payload = any_pb2.Any(type_url="type.googleapis.com/" + wf.request_type, value=request)
        if len(request) > KRE_MAX_PAYLOAD:
            log.warning(
                "request to %s is %.2f KB: KRE's entrypoint refuses messages over 1024.00 KB "
                "after gzip", rpc, len(request) / 1024,
            )
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Message] = loop.create_future()

        def reply(message: Message) -> None:
            if not answer.done():
                answer.set_result(message)

        envelope = Envelope(tracking_id=uuid.uuid4().hex, payload=payload)
        task = loop.create_task(self._drive(engine, wf, payload, reply, envelope, answer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # The timeout is a timer on the answer itself (not wait_for, whose own future adds a
        # turn of the loop between the answer and this call's return).
        timer = loop.call_later(self.options.timeout, _expire, answer)
        try:
            result = await answer
        except asyncio.TimeoutError:
            if not envelope.replied:
                task.cancel()
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                f"workflow '{wf.name}' did not answer within {self.options.timeout:g} s "
                f"(node '{envelope.current}' was running); raise --timeout if it needs longer",
            )
        except asyncio.CancelledError:
            # The caller went away: nobody waits for this answer any more.
            if not envelope.replied:
                task.cancel()
            raise
        except RequestTooLarge as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except NodeError as exc:
            if exc.invalid_request:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.detail)
            await context.abort(grpc.StatusCode.INTERNAL, str(exc))
        finally:
            timer.cancel()
        return result.SerializeToString()

    async def _refuse(self, context: grpc.aio.ServicerContext) -> None:
        """UNAVAILABLE for a call that arrived after the stop began, once the gRPC server no
        longer takes calls (see :meth:`stop`), or just before the call's deadline."""
        remaining = context.time_remaining()
        wait = None if remaining is None else max(0.0, remaining - 0.05)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._refusing.wait(), wait)
        await context.abort(
            grpc.StatusCode.UNAVAILABLE, "the server is shutting down: send the call again"
        )

    async def _drive(
        self,
        engine: Engine | NatsEngine,
        wf: Any,
        payload: any_pb2.Any,
        reply: Callable[[Message], None],
        envelope: Envelope,
        answer: asyncio.Future[Message],
    ) -> None:
        try:
            await engine.run(wf, payload, reply, envelope)
        except RequestTooLarge as exc:  # the caller's, not ours: no traceback
            if not answer.done():
                answer.set_exception(exc)
        except NodeError as exc:
            if not answer.done():
                answer.set_exception(exc)
            else:
                log.error("%s (after the early reply; the caller did not see it)", exc)
        except Exception as exc:  # a bug of ours: the caller gets INTERNAL with its text
            log.exception("workflow '%s' failed", wf.name)
            if not answer.done():
                answer.set_exception(NodeError(envelope.current or "entrypoint", repr(exc)))


def _expire(answer: asyncio.Future[Message]) -> None:
    """The call's timeout: its answer becomes a TimeoutError, unless it came first."""
    if not answer.done():
        answer.set_exception(asyncio.TimeoutError())


def _install_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # embedded use (tests, notebooks): the caller stops it
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)


async def serve_worker(
    prepared: PreparedKrt,
    options: ServeOptions,
    state_dir: Path,
    *,
    reuse_port: bool,
    on_ready: Callable[[Worker], None],
    on_start: Callable[[Worker], None] = lambda worker: None,
    bind_after_load: bool = False,
) -> int:
    """Serve until SIGTERM/SIGINT (or :meth:`Worker.request_stop`), then drain and stop.

    A stop asked for while the nodes load cancels the load first (which undoes itself: a
    ``--nats`` engine stops what it started), then stops; a load that fails, or any error,
    stops the gRPC server and the engine before it raises. Either way the ``--nats`` runners,
    nats-server and its scratch folder are gone when this returns or raises.

    ``bind_after_load``: listen only once loaded (a worker that replaces a dead one, on a port
    the others serve: the kernel would send it connections it can only refuse while it loads).
    """
    worker = Worker(prepared, options, state_dir, reuse_port=reuse_port)
    loop = asyncio.get_running_loop()
    _install_signals(loop, worker.request_stop)
    if not bind_after_load:
        await worker.start()
    asked = loop.create_task(worker.stop_requested())
    loader: asyncio.Task[None] | None = None
    try:
        on_start(worker)
        loader = loop.create_task(worker.load())
        done, _ = await asyncio.wait({loader, asked}, return_when=asyncio.FIRST_COMPLETED)
        if loader in done:
            loader.result()  # an init failure raises ServeError here
            if bind_after_load:
                await worker.start()
            on_ready(worker)
            await asked
        else:
            # Not beside the load: a stop would SIGTERM runners the load is waiting for.
            loader.cancel()
            await asyncio.wait({loader})
            if not loader.cancelled():
                loader.exception()  # retrieved: the user asked to stop, not for its error
        await worker.stop()
        return 0
    except BaseException:
        if loader is not None and not loader.done():
            loader.cancel()
            await asyncio.wait({loader})
        asked.cancel()
        if worker.server is not None:
            await worker.server.stop(0)
        if isinstance(worker.engine, NatsEngine):
            await worker.engine.stop()  # safe twice: a failed start has already run it
        raise


def run_serving(main: Coroutine[Any, Any, int]) -> int:
    """``asyncio.run(main)`` (a :func:`serve_worker`); once its loop is closed, the process is
    on its way out and a further SIGTERM is ignored. asyncio's closing loop puts SIG_DFL back,
    which would kill it in the middle of its clean-up and leave its scratch folders behind.
    Main thread only; the caller's :func:`sigterm_unwinds` (when any) restores the previous
    handler at its end."""
    try:
        return asyncio.run(main)
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
