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
4. A failure sends ``error in '<node>': <message>`` to the entrypoint subject; a refusal (the
   node raised :class:`~kedro_krt.node.runtime.errors.InvalidRequest`) sends the same, followed
   by the words for the caller in a field KRE's entrypoint skips
   (:func:`~kedro_krt.node.runner.envelope_base.with_refusal`).

Where we differ from kre-py, on purpose: init before subscribing; an error message keeps the
request's ``reply`` (kre-py leaves it empty, so KRE's entrypoint fails every request in flight
of the workflow; with it, only this one); a message is acked exactly once (current nats-py
refuses a second ack); SIGTERM drains (the messages already delivered are handled, then the
runner exits 0); no ``gc.collect()`` after every message (the heap is frozen after init).
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from types import ModuleType
from typing import Any

from google.protobuf.message import Message

from kedro_krt.node.runner.config_v1 import RunnerConfig
from kedro_krt.node.runner.context_v1 import RunnerContext
from kedro_krt.node.runner.envelope_base import with_refusal
from kedro_krt.node.runner.envelope_v1 import KreNatsMessage, compress_if_needed, decode
from kedro_krt.node.runner.node_base import (
    ACK_WAIT_S,
    NodeRunnerBase,
    WorkerLoadError,
    refusal_of,
    utcnow,
)

__all__ = ["NodeRunner", "check_v1_module"]


def check_v1_module(module: ModuleType, where: str) -> None:
    """A v1 node needs ``handler`` (kre-py 2.1.5 calls ``handler(ctx, data)``).

    Raises:
        WorkerLoadError: with kre-py's wording.
    """
    if not callable(getattr(module, "handler", None)):
        raise WorkerLoadError(
            f"Handler module '{where}' must implement a function 'handler(ctx, data)'"
        )


def naive_utc(text: str) -> dt.datetime:
    """A tracking time as naive UTC: KRE writes naive ISO times, other senders may add 'Z'."""
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return when



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
        start = utcnow()
        acked = False
        request: Any = None
        try:
            request = decode(msg.data)
            self.logger.info("Received new request message from NATS subject %s", msg.subject)
            result = await self.handler(self.ctx.for_message(request), request.payload)
            await msg.ack()
            acked = True
            end = utcnow()
            if config.is_last_node and request.replied:
                self._save_elapsed_time(request, start, end)
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
            await self._publish(
                config.nats_entrypoint_subject,
                with_refusal(error.SerializeToString(), refusal_of(err)),
            )
            if not acked:
                return
            # The handler returned (kre-py has saved the point by then), and building or
            # publishing its output failed: the point is saved all the same.
        # After the publish, off the message's path: the next node is already at work (kre-py
        # saves it before publishing; the point's values are the same).
        self._save_elapsed_time(request, start, end)

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
        """kre-py's ``node_elapsed_time`` and, on the last node, ``workflow_elapsed_time``;
        saved after the output is published, so a store that fails is logged, not sent as the
        message's error."""
        try:
            self._save_points(request, start, end)
        except Exception as err:
            self.logger.error("Error saving the elapsed time: %s", err)

    def _save_points(self, request: Any, start: dt.datetime, end: dt.datetime) -> None:
        if not request.tracking:
            return
        config = self.config
        prev = request.tracking[-1]
        try:
            prev_end = naive_utc(prev.end)
            first_start = naive_utc(request.tracking[0].start)
        except ValueError:
            return
        tags = {"workflow": config.workflow_name, "version": config.version}
        save = self.ctx.measurement.save
        save(
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
            save(
                "workflow_elapsed_time",
                {
                    "elapsed_ms": (end - first_start).total_seconds() * 1000,
                    "tracking_id": request.tracking_id,
                },
                tags,
            )
