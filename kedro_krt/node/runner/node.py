"""The node runner: one KRT v1 node on KRE's NATS JetStream, as kre-py 2.1.5 runs it.

(konstellation-io/kre-runners @ kre-py-v2.1.5: ``kre-py/src/main.py``, ``kre_runner.py``;
the names of streams and subjects come from KRE 7's k8s-manager and the entrypoint.)

1. The node file ``KRT_BASE_PATH/KRT_HANDLER_PATH`` is imported as a module named ``worker``,
   its folder **appended** to ``sys.path``; ``handler`` is required (async), ``init`` optional
   (sync or async).
2. ``init(ctx)`` runs, then the runner subscribes: a JetStream push consumer on stream
   ``KRT_NATS_STREAM``, subject ``KRT_NATS_INPUT``, durable and queue group
   ``<KRT_VERSION>-<KRT_NODE_NAME>``, deliver-new, explicit ack, ack wait 22 h. (kre-py
   subscribes first and inits after, so a message can race its init; we close that race.)
3. One message at a time: decode (gunzip on the magic bytes), ``await handler(ctx, payload)``,
   ack once, then publish a ``KreNatsMessage`` that copies ``tracking_id``, ``reply`` and
   ``replied`` and adds this node's tracking entry, to ``KRT_NATS_OUTPUT``, or to
   ``KRT_NATS_ENTRYPOINT_SUBJECT`` after ``ctx.early_exit()``; the last node publishes nothing
   for a request that was already replied.
4. A failure sends ``error in '<node>': <message>`` to the entrypoint subject.

Where we differ from kre-py, on purpose: init before subscribing; an error message keeps the
request's ``reply`` (kre-py leaves it empty, so KRE's entrypoint fails every request in flight
of the workflow; with it, only this one); a message is acked exactly once (current nats-py
refuses a second ack); SIGTERM drains (the messages already delivered are handled, then the
runner exits 0); no ``gc.collect()`` after every message (the heap is frozen after init).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import importlib.util
import inspect
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from google.protobuf.message import Message

from kedro_krt.node.errors import KrtError
from kedro_krt.node.runner.config import NodeSettings, RunnerConfig
from kedro_krt.node.runner.context import RunnerContext
from kedro_krt.node.runner.envelope import KreNatsMessage, compress_if_needed, decode

__all__ = ["NodeRunner", "NodeRunnerBase", "WorkerLoadError", "load_worker", "setup_logging"]

#: kre-py's log format (UTC), which KRE's fluent-bit parser expects.
LOG_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(message)s"
LOG_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
#: Where a KRE node pod's fluent-bit sidecar tails the logs (an emptyDir in the pod).
APP_LOG = Path("/var/log/app/app.log")
#: Set by ``serve --nats``: the runner stops when that process is gone.
PARENT_PID_ENV = "KEDRO_KRT_PARENT_PID"
#: How long a stopping runner waits for the messages already delivered to it.
DRAIN_TIMEOUT_S = 5
#: kre-py's ack wait: 22 hours.
ACK_WAIT_S = 22 * 3600


class WorkerLoadError(KrtError):
    """The node file cannot be imported, or has no ``handler``."""


def setup_logging(config: NodeSettings) -> logging.Logger:
    """kre-py's logging: INFO, its format in UTC, WARN for WARNING; stdout and the app log.

    The node's logger (``ctx.logger``, named ``<version>-<node>``) has these handlers of its
    own and does not propagate: a Kedro project configures the root logger when it starts (its
    conf/logging.yml), and KRE's log sidecar must still read the runner's lines.
    """
    formatter = logging.Formatter(LOG_FORMAT, LOG_DATE_FORMAT)
    formatter.converter = time.gmtime
    logging.addLevelName(logging.WARNING, "WARN")
    logging.addLevelName(logging.CRITICAL, "ERROR")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if APP_LOG.parent.is_dir() and os.access(APP_LOG.parent, os.W_OK):
        handlers.append(logging.FileHandler(APP_LOG))
    for handler in handlers:
        handler.setFormatter(formatter)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in handlers:
        root.addHandler(handler)
    logger = logging.getLogger(config.runner_name)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for handler in handlers:
        logger.addHandler(handler)
    return logger


def check_v1_module(module: ModuleType, where: str) -> None:
    """A v1 node needs ``handler`` (kre-py 2.1.5 calls ``handler(ctx, data)``).

    Raises:
        WorkerLoadError: with kre-py's wording.
    """
    if not callable(getattr(module, "handler", None)):
        raise WorkerLoadError(
            f"Handler module '{where}' must implement a function 'handler(ctx, data)'"
        )


def load_worker(
    config: NodeSettings,
    check: Callable[[ModuleType, str], None] = check_v1_module,
) -> ModuleType:
    """Import the node file as kre-py 2 and 3 do: module ``worker``, its folder appended to
    sys.path; then ``check`` what it defines (v1's ``handler`` by default).

    Raises:
        WorkerLoadError: with kre-py's wording and what to change.
    """
    path = os.path.join(config.base_path, config.handler_path)
    if not os.path.isfile(path):
        raise WorkerLoadError(
            f"Error loading handler script {config.handler_path}: no such file {path} "
            "(KRT_BASE_PATH + KRT_HANDLER_PATH, the node's src in krt.yml)"
        )
    sys.path.append(os.path.dirname(path))
    spec = importlib.util.spec_from_file_location("worker", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        raise WorkerLoadError(
            f"Error loading handler script {config.handler_path}: {err}\n\n"
            f"{traceback.format_exc()}"
        ) from err
    check(module, path)
    return module


def _naive_utc(text: str) -> dt.datetime:
    """A tracking time as naive UTC: KRE writes naive ISO times, other senders may add 'Z'."""
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return when


def _utcnow() -> dt.datetime:
    # kre-py writes datetime.utcnow().isoformat(): naive UTC, no 'Z'.
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class NodeRunnerBase:
    """What a v1 and a v2 node's runner do alike (kre-py 2.1.5 and 3.4.1 keep one lifecycle):
    load the node file, connect, run ``init``, subscribe, handle messages until SIGTERM/SIGINT
    (or, under ``serve --nats``, until the server is gone), drain; :meth:`run` returns the exit
    code. Subclasses make the ctx (:meth:`_make_ctx`), subscribe (:meth:`_subscribe_inputs`)
    and handle the messages.
    """

    #: kre-py 3 logs its start-up steps ("Connecting to NATS ...", "Executing handler init...");
    #: kre-py 2.1.5 does not.
    STEP_LOGS = False
    ctx: Any

    def __init__(
        self,
        config: NodeSettings,
        logger: logging.Logger | None,
        check: Callable[[ModuleType, str], None],
    ) -> None:
        self.config = config
        self.logger = logger or logging.getLogger(config.runner_name)
        if self.STEP_LOGS:
            self.logger.info("Loading handler script %s...", config.handler_path)
        self.module = load_worker(config, check)
        self.init = getattr(self.module, "init", None)
        self._nc: Any = None
        self._js: Any = None
        self._stop = asyncio.Event()
        #: The input subscriptions, drained first when stopping (see :meth:`_drain_inputs`).
        self._inputs: list[Any] = []

    async def run(self) -> int:
        """Connect, init, subscribe, handle messages until stopped, drain; 0 on a clean stop."""
        import nats

        config = self.config
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        parent = os.environ.get(PARENT_PID_ENV)
        watch = loop.create_task(self._watch_parent(int(parent))) if parent else None
        if self.STEP_LOGS:
            self.logger.info("Connecting to NATS %s...", config.nats_server)
        # A drain that cannot reach the server (it is stopping too) gives up after a few
        # seconds instead of nats-py's 30.
        self._nc = await nats.connect(
            config.nats_url, name=config.runner_name, max_reconnect_attempts=-1,
            drain_timeout=DRAIN_TIMEOUT_S,
        )
        self._js = self._nc.jetstream(**self._jetstream_options())
        try:
            ctx = await self._make_ctx()
            if self.init is not None:
                if self.STEP_LOGS:
                    self.logger.info("Executing handler init...")
                if inspect.iscoroutinefunction(self.init):
                    await self.init(ctx)
                else:
                    self.init(ctx)
            gc.collect()
            gc.freeze()
            await self._subscribe_inputs()
            await self._stop.wait()
            self.logger.info("stopping: handling the messages already delivered, then exiting")
            await self._drain_inputs()
            await self._nc.drain()
        finally:
            if watch is not None:
                watch.cancel()
            if self.ctx is not None:
                self.ctx.measurement.close()
            if not self._nc.is_closed:
                await self._nc.close()
        return 0

    async def _drain_inputs(self) -> None:
        """Stop the deliveries and let the handlers of the messages already delivered finish,
        while the connection is whole.

        ``nc.drain()`` drains every subscription at once, the inbox that JetStream's publish
        acknowledgements come back on included: a handler still running (a node's slow work
        after an early reply) would publish its result after that inbox is gone, wait for an
        acknowledgement that cannot come, and the drain would end on its timeout with the
        result lost. Draining the inputs first keeps the inbox until they are done.
        """
        if not self._inputs:
            return
        drains = asyncio.gather(*(sub.drain() for sub in self._inputs), return_exceptions=True)
        try:
            await asyncio.wait_for(drains, DRAIN_TIMEOUT_S)
        except asyncio.TimeoutError:
            self.logger.warning("stopping: a handler still runs after %s s", DRAIN_TIMEOUT_S)

    def _jetstream_options(self) -> dict[str, Any]:
        """nats-py's ``jetstream(...)`` options (its defaults unless a subclass says)."""
        return {}

    async def _make_ctx(self) -> Any:
        """The node's ``ctx`` (connected: ``self._nc`` and ``self._js`` are set)."""
        raise NotImplementedError

    async def _subscribe_inputs(self) -> None:
        """Bind the node's durable consumers (after ``init``)."""
        raise NotImplementedError

    async def _watch_parent(self, parent: int) -> None:
        """Under ``serve --nats``: stop when the server that started us is gone."""
        while not self._stop.is_set():
            if os.getppid() != parent:
                self.logger.info("the serving process %d is gone: stopping", parent)
                self._stop.set()
                return
            await asyncio.sleep(1.0)

    async def _request(self, subject: str, payload: bytes, timeout: float) -> bytes:
        """A core-NATS request (``ctx.db`` and ``ctx.prediction`` to KRE's mongo-writer)."""
        answer = await self._nc.request(subject, payload, timeout=timeout)
        return bytes(answer.data)


class NodeRunner(NodeRunnerBase):
    """Runs one v1 node (kre-py 2.1.5's contract) until SIGTERM/SIGINT."""

    config: RunnerConfig

    def __init__(self, config: RunnerConfig, logger: logging.Logger | None = None) -> None:
        super().__init__(config, logger, check_v1_module)
        self.handler = self.module.handler
        self.ctx = RunnerContext(config, self.logger, self._request, self._send_early_reply)

    # -- lifecycle ---------------------------------------------------------------------------

    async def _make_ctx(self) -> RunnerContext:
        ctx: RunnerContext = self.ctx
        return ctx

    async def _subscribe_inputs(self) -> None:
        from nats.js.api import ConsumerConfig, DeliverPolicy

        config = self.config
        sub = await self._js.subscribe(
            config.nats_input,
            stream=config.nats_stream,
            queue=config.runner_name,
            durable=config.runner_name,
            cb=self._on_message,
            manual_ack=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW, ack_wait=ACK_WAIT_S),
        )
        self._inputs.append(sub)
        self.logger.info(
            "Listening to '%s' subject with queue '%s' from stream '%s'",
            config.nats_input, config.runner_name, config.nats_stream,
        )

    # -- messages ----------------------------------------------------------------------------

    async def _on_message(self, msg: Any) -> None:
        config = self.config
        start = _utcnow()
        acked = False
        request: Any = None
        try:
            request = decode(msg.data)
            self.logger.info("Received new request message from NATS subject %s", msg.subject)
            result = await self.handler(self.ctx.for_message(request), request.payload)
            await msg.ack()
            acked = True
            end = _utcnow()
            self._save_elapsed_time(request, start, end)
            if config.is_last_node and request.replied:
                if result is not None:
                    self.logger.info(
                        "ignoring the last node response because the message was replied "
                        "previously"
                    )
                return
            response = KreNatsMessage(
                replied=request.replied, reply=request.reply, tracking_id=request.tracking_id
            )
            response.tracking.extend(request.tracking)
            response.payload.Pack(result)
            response.tracking.add(
                node_name=config.node_name, start=start.isoformat(), end=end.isoformat()
            )
            subject = config.nats_output
            if request.early_exit:
                self.logger.info("Early exit received, workflow has stopped execution")
                subject = config.nats_entrypoint_subject
            await self._publish(subject, compress_if_needed(response.SerializeToString()))
        except Exception as err:
            if not acked:
                await msg.ack()
            self.logger.error("error executing handler: %s \n\n%s", err, traceback.format_exc())
            error = KreNatsMessage(error=f"error in '{config.node_name}': {err}")
            if request is not None:
                error.reply = request.reply
                error.tracking_id = request.tracking_id
            await self._publish(config.nats_entrypoint_subject, error.SerializeToString())

    async def _publish(self, subject: str, data: bytes) -> None:
        """A JetStream publish to the workflow's stream; failures are logged, as kre-py."""
        try:
            await self._js.publish(subject, data, stream=self.config.nats_stream)
        except Exception as err:
            self.logger.error("Error publishing response: %s", err)

    async def _send_early_reply(self, request: Any, response: Message) -> None:
        message = KreNatsMessage(reply=request.reply)
        message.payload.Pack(response)
        await self._publish(
            self.config.nats_entrypoint_subject, compress_if_needed(message.SerializeToString())
        )

    def _save_elapsed_time(self, request: Any, start: dt.datetime, end: dt.datetime) -> None:
        """kre-py's ``node_elapsed_time`` and, on the last node, ``workflow_elapsed_time``."""
        if not request.tracking:
            return
        config = self.config
        prev = request.tracking[-1]
        try:
            prev_end = _naive_utc(prev.end)
            first_start = _naive_utc(request.tracking[0].start)
        except ValueError:
            return
        tags = {"workflow": config.workflow_name, "version": config.version}
        self.ctx.measurement.save(
            "node_elapsed_time",
            {
                "tracking_id": request.tracking_id,
                "node_from": prev.node_name,
                "elapsed_ms": (end - start).total_seconds() * 1000,
                "waiting_ms": (start - prev_end).total_seconds() * 1000,
            },
            {**tags, "node": config.node_name},
        )
        if config.is_last_node:
            self.ctx.measurement.save(
                "workflow_elapsed_time",
                {
                    "elapsed_ms": (end - first_start).total_seconds() * 1000,
                    "tracking_id": request.tracking_id,
                },
                tags,
            )
