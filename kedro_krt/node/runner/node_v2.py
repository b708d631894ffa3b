"""The node runner for KRT v2: one node on KRE 8's NATS JetStream, as kre-py 3.4.1 runs it.

(konstellation-io/kre-runners @ kre-py/v3.4.1: ``kre-py/src/main.py``, ``kre_runner.py``,
``handlers.py``, ``context.py``; the names of streams, subjects and stores come from KRE 8.2's
nats-manager and k8s-manager, see :mod:`kedro_krt.serve.topology_v2`.)

1. The node file ``KRT_BASE_PATH/KRT_HANDLER_PATH`` is imported as a module named ``worker``,
   its folder **appended** to ``sys.path``. It defines ``default_handler(ctx, data)`` and/or
   ``custom_handlers = {"<node>": handler, ...}``, and optionally ``init(ctx)`` (sync or async).
2. The runner connects, binds the three key-value stores (and the object store, when
   ``KRT_NATS_OBJECT_STORE`` is set), runs ``init``, then subscribes to **each** subject of
   ``KRT_NATS_INPUTS`` (comma-separated): a JetStream push consumer on ``KRT_NATS_STREAM``,
   durable and queue group ``<subject with dots as dashes>-<node>``, deliver-new, explicit ack,
   ack wait 22 h, ``max_ack_pending`` from ``KRT_NATS_MAX_ACK_PENDING`` (-1). Replicas of a node
   share those queue groups, so each message goes to one of them.
3. Each message: decode (gunzip on the magic bytes), pick the handler by the message's
   ``from_node`` (``custom_handlers[from_node]``, else ``default_handler``), await it with a
   ``ctx`` bound to the message, ack. The handler's return value is ignored: a node sends with
   ``ctx.send_output(msg, channel="")`` to ``KRT_NATS_OUTPUT`` (or ``<output>.<channel>``), in a
   ``KreNatsMessage`` with the request's ``request_id``, ``from_node`` = this node, and a type
   (OK, EARLY_REPLY, EARLY_EXIT).
4. A handler that raises sends ``Error in node '<node>' executing handler for node '<from>':
   <message>`` typed ERROR to ``KRT_NATS_OUTPUT``: the nodes subscribed to this one receive it
   (``ctx.is_message_error()``), and KRE's entrypoint answers it as gRPC INTERNAL when it comes
   from the exitpoint. A refusal (the handler raised
   :class:`~kedro_krt.node.runtime.errors.InvalidRequest`) sends the same error followed by the
   caller's words in a field kre-py and KRE's entrypoint skip
   (:func:`~kedro_krt.node.runner.envelope_base.with_refusal`); a node that fails on an error
   that carried one passes it on, so it reaches the exitpoint's error and the ``--nats`` front.
5. ``node_elapsed_time`` (``elapsed_ms``, ``success``; tag ``from_node``) for every message.

Where we differ from kre-py 3.4.1, on purpose: the runner refuses to start a node that has
neither ``default_handler`` nor ``custom_handlers``, or a handler that is not ``async``
(kre-py starts, then fails every message);
``KRT_JS_REQUEST_TIMEOUT`` is read as milliseconds (kre-py passes 30000 to nats-py, which reads
seconds); the stream's size limit is read once at start, not before every publish; a message
that does not decode is logged and acked (kre-py's callback dies on it and leaves it unacked);
SIGTERM drains (the messages already delivered are handled, then exit 0); no ``gc.collect()``
after every message (the heap is frozen after ``init``); the object store through nats-py's API,
not the ``nats`` CLI.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import logging
import traceback
from types import ModuleType
from typing import Any

from google.protobuf import any_pb2

from kedro_krt.node.runner.config_v2 import RunnerConfigV2
from kedro_krt.node.runner.context_v2 import NatsConfiguration, NatsObjectStore, RunnerContextV2
from kedro_krt.node.runner.envelope_base import MESSAGE_THRESHOLD, refusal_in, with_refusal
from kedro_krt.node.runner.envelope_v2 import ERROR, KreNatsMessageV2, compress_to, decode_v2
from kedro_krt.node.runner.node_base import (
    ACK_WAIT_S,
    NodeRunnerBase,
    WorkerLoadError,
    load_worker,
    refusal_of,
    utcnow,
)
from kedro_krt.node.runtime.context_v2 import select_handler

__all__ = ["NodeRunnerV2", "check_v2_module", "load_worker_v2"]


def check_v2_module(module: ModuleType, where: str) -> None:
    """A v2 node needs ``default_handler`` or ``custom_handlers`` (a dict of callables), all
    ``async``.

    Raises:
        WorkerLoadError: saying what to define; a v1 ``handler`` alone is named as such.
    """
    default = getattr(module, "default_handler", None)
    custom = getattr(module, "custom_handlers", None)
    if custom is not None and not (
        isinstance(custom, dict) and all(callable(h) for h in custom.values())
    ):
        raise WorkerLoadError(
            f"Handler module '{where}': 'custom_handlers' must be a dict of "
            "{'<origin node>': handler}"
        )
    if default is not None and not callable(default):
        raise WorkerLoadError(f"Handler module '{where}': 'default_handler' must be a function")
    if default is None and not custom:
        hint = (
            " It defines 'handler', which is KRT v1's: kre-py 3 (KRT v2) calls "
            "'default_handler(ctx, data)' and never 'handler'."
            if callable(getattr(module, "handler", None))
            else ""
        )
        raise WorkerLoadError(
            f"Handler module '{where}' must implement 'default_handler(ctx, data)' or "
            f"'custom_handlers' (a dict keyed by the origin node).{hint}"
        )
    for handler in [default, *(custom or {}).values()]:
        if handler is not None and not inspect.iscoroutinefunction(handler):
            raise WorkerLoadError(
                f"Handler module '{where}': '{getattr(handler, '__name__', handler)}' must be "
                "async ('async def ...(ctx, data)'): kre-py 3 awaits every handler"
            )


def load_worker_v2(config: RunnerConfigV2) -> ModuleType:
    """Import the node file as kre-py 3 does: module ``worker``, its folder appended to
    sys.path (as kre-py 2), then :func:`check_v2_module`.

    Raises:
        WorkerLoadError: with kre-py's wording and what to change.
    """
    return load_worker(config, check_v2_module)


class NodeRunnerV2(NodeRunnerBase):
    """Runs one v2 node (kre-py 3.4.1's contract) until SIGTERM/SIGINT: after connecting it
    binds the stores, and subscribes to every input after ``init``."""

    STEP_LOGS = True
    config: RunnerConfigV2
    ctx: RunnerContextV2 | None

    def __init__(self, config: RunnerConfigV2, logger: logging.Logger | None = None) -> None:
        super().__init__(config, logger, check_v2_module)
        self._max_size = MESSAGE_THRESHOLD
        self.ctx = None

    def _jetstream_options(self) -> dict[str, Any]:
        return {"timeout": self.config.js_request_timeout_ms / 1000}

    async def _make_ctx(self) -> RunnerContextV2:
        """Read the stream's size limit, bind the key-value (and object) stores."""
        config = self.config
        info = await self._js.stream_info(config.nats_stream)
        stream_max = info.config.max_msg_size or -1
        server_max = self._nc.max_payload
        self._max_size = min(stream_max, server_max) if stream_max > 0 else server_max
        self.logger.info("Creating context configuration...")
        configuration = await NatsConfiguration.bind(self._js, config, self.logger)
        object_store = None
        if config.nats_object_store:
            object_store = await NatsObjectStore.bind(
                self._js, config.nats_object_store, self.logger
            )
        self.ctx = RunnerContextV2(
            config, self.logger, self._request, self._publish_payload, configuration,
            object_store,
        )
        return self.ctx

    async def _subscribe_inputs(self) -> None:
        from nats.js.api import ConsumerConfig, DeliverPolicy

        config = self.config
        for subject in config.nats_inputs:
            queue = config.queue(subject)
            consumer = ConsumerConfig(
                deliver_policy=DeliverPolicy.NEW,
                ack_wait=ACK_WAIT_S,
                max_ack_pending=config.nats_max_ack_pending,
            )
            await self._subscribe(subject, queue, consumer)
            self.logger.info("Listening to '%s' subject with queue group '%s'", subject, queue)

    async def _subscribe(self, subject: str, queue: str, consumer: Any) -> None:
        """Bind this input's durable queue consumer. Replicas that start together race to
        create it: the loser sees "consumer name already in use" and binds to the winner's
        (kre-py exits there, and Kubernetes restarts the pod, which then binds)."""
        for attempt in range(50):
            try:
                sub = await self._js.subscribe(
                    subject, stream=self.config.nats_stream, queue=queue, durable=queue,
                    cb=self._on_message, manual_ack=True, config=consumer,
                )
                self._inputs.append(sub)
                return
            except Exception as err:
                if "already in use" not in str(err) or attempt == 49:
                    raise
                await asyncio.sleep(0.1)

    # -- messages ----------------------------------------------------------------------------

    async def _on_message(self, msg: Any) -> None:
        config = self.config
        start = utcnow()
        try:
            request = decode_v2(msg.data)
        except Exception as err:
            self.logger.error("an undecodable message on %s: %s", msg.subject, err)
            await msg.ack()
            return
        self.logger.info(
            "Received a message from %s with requestID %s", msg.subject, request.request_id
        )
        success = True
        try:
            assert self.ctx is not None
            handler = select_handler(self.module, request.from_node)
            if handler is None:
                raise RuntimeError(
                    f"no handler for messages from node '{request.from_node}': define "
                    f"default_handler or custom_handlers['{request.from_node}']"
                )
            await handler(self.ctx.for_message(request), request.payload)
        except Exception as err:
            success = False
            self.logger.error("Error executing handler: %s \n\n%s", err, traceback.format_exc())
            error = KreNatsMessageV2(
                request_id=request.request_id,
                error=f"Error in node '{config.node_name}' executing handler for node "
                f"'{request.from_node}': {err}",
                from_node=config.node_name,
                message_type=ERROR,
            )
            # A refusal, this node's or one an upstream's error carried down to it (a node that
            # fails on an upstream's error passes that error on): after the envelope.
            refusal = refusal_of(err)
            if not refusal and request.message_type == ERROR:
                refusal = refusal_in(request)
            await self._publish(error, "", refusal)
        self._save_elapsed_time(start, utcnow(), request.from_node, success)
        await msg.ack()

    async def _publish_payload(
        self, payload: any_pb2.Any, message_type: int, channel: str, request: Any
    ) -> None:
        """What ``ctx.send_*`` does: the request's id, this node as origin, the type."""
        response = KreNatsMessageV2(
            request_id=request.request_id,
            from_node=self.config.node_name,
            message_type=message_type,
        )
        response.payload.CopyFrom(payload)
        await self._publish(response, channel)

    async def _publish(self, message: Any, channel: str, refusal: str = "") -> None:
        """A JetStream publish to ``<output>`` or ``<output>.<channel>`` (an error followed by
        its ``refusal``, if any); a failure to publish is logged, as kre-py; a message too
        large raises to the handler."""
        data = compress_to(with_refusal(message.SerializeToString(), refusal), self._max_size)
        subject = self.config.output_subject(channel)
        try:
            await self._js.publish(subject, data, stream=self.config.nats_stream)
            self.logger.info("Publishing response to %s subject", subject)
        except Exception as err:
            self.logger.error("Error publishing response: %s", err)

    def _save_elapsed_time(
        self, start: dt.datetime, end: dt.datetime, from_node: str, success: bool
    ) -> None:
        if self.ctx is None:
            return
        self.ctx.measurement.save(
            "node_elapsed_time",
            {"elapsed_ms": (end - start).total_seconds() * 1000, "success": success},
            {"from_node": from_node},
        )
