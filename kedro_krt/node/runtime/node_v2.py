"""What ``src/<node>/main.py`` of a KRT v2 node hands to KRE's Python runner (kre-py 3.x).

kre-py 3's contract (konstellation-io/kre-runners @ kre-py/v3.4.1: ``kre-py/src/main.py``,
``handlers.py``, ``context.py``): the node file defines ``init(ctx)``, ``default_handler(ctx,
data)`` and/or ``custom_handlers = {"<origin node>": handler}``; the runner picks the handler by
the incoming message's ``from_node`` and awaits it; the handler returns nothing and sends with
``await ctx.send_output(msg)`` to the node's subject, which every subscriber of the node reads.

A compiled node subscribes to ``entrypoint`` and/or the KRT nodes whose datasets it reads
(:mod:`kedro_krt.compiler.krt_v2`); its plan.json (format 3) lists them as ``upstreams``, with the
message type each sends and the datasets read from it. :class:`KrtNodeV2` registers one custom
handler per upstream, so it knows each message's origin; a message that is one of several the
node needs waits in a :class:`~kedro_krt.node.runtime.join.RequestJoin` under its request id
(``ctx.get_request_id()``) until the others have come. Then the node decodes what it reads from
each, runs its Kedro nodes (as the v1 node does:
:class:`~kedro_krt.node.runtime.node_base.NodeSession`) and sends one output message. The
generated exitpoint is such a node without Kedro nodes: it joins the messages of the nodes
that make the response datasets and sends the response.

An upstream that failed on a request sends an ERROR message (kre-py 3: ``Error in node 'x'
executing handler for node 'y': ...``) to its subscribers: the node drops the request's waiting
messages and fails with that text, so the error travels down to the exitpoint, whose error
KRE's entrypoint answers as gRPC INTERNAL. Early replies and exits from upstreams are ignored
(compiled nodes send none).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from kedro_krt.node.plan import ENTRYPOINT_SOURCE, PARAMETERS_FIELD, UpstreamPlan
from kedro_krt.node.runtime.errors import InvalidRequest, RuntimeSetupError
from kedro_krt.node.runtime.join import RequestJoin, join_settings
from kedro_krt.node.runtime.node_base import (
    KrtNodeBase,
    NodeSession,
    import_pb2,
    refuse_stray_fields,
    unknown_fields_in,
)
from kedro_krt.node.schema.codec import CodecError, MessageCodec, RowsCheck
from kedro_krt.node.schema.relay import Relay

__all__ = ["KrtNodeV2", "UpstreamError"]

Handler = Callable[[Any, Any], Awaitable[None]]


class UpstreamError(RuntimeError):
    """An upstream node failed on this request; the message is its error."""


def _error_text(ctx: Any) -> str:
    """The error an ERROR message carries: kre-py 3 keeps the incoming message in
    ``ctx.__request_msg__`` (no accessor); kedro_krt's ctx in ``_request``."""
    for attr in ("__request_msg__", "_request"):
        message = getattr(ctx, attr, None)
        text = getattr(message, "error", "") if message is not None else ""
        if text:
            return str(text)
    return "an upstream node failed"


class _Upstream:
    """How one upstream's messages are checked and decoded (or relayed as bytes)."""

    def __init__(self, folder: Path, plan: UpstreamPlan) -> None:
        self.plan = plan
        self.cls = getattr(import_pb2(folder, plan.module), plan.message.name)
        self.relay: Relay | None = None
        self._wanted = set(plan.datasets)
        # The request: a table with required columns must have a row (compile's `required`).
        self.rows = RowsCheck(
            self.cls, plan.message.fields if plan.source == ENTRYPOINT_SOURCE else []
        )
        self._build_codec()

    def _build_codec(self, relayed: frozenset[str] = frozenset()) -> None:
        decode = [
            f
            for f in self.plan.message.fields
            if (f.original in self._wanted and f.name not in relayed)
            or (self.plan.parameters and f.name == PARAMETERS_FIELD)
        ]
        self.codec = MessageCodec(self.cls, decode)

    def relay_into(self, output_cls: Any, fields: list[Any]) -> list[str]:
        """Copy the ``fields`` of the output that this upstream's message carries with the same
        layout as bytes, never decoding them (the exitpoint's tables); the names relayed."""
        names = [
            f.name
            for f in fields
            if f.original in self._wanted and Relay.compatible(self.cls, output_cls, f.name)
        ]
        if names:
            self.relay = Relay(self.cls, output_cls, names)
            self._build_codec(frozenset(names))
        return names

    def unpack(self, node: str, data: Any) -> Any:
        expected = self.cls.DESCRIPTOR
        if not data.Is(expected):
            raise InvalidRequest(
                f"node '{node}' expects a {expected.full_name} from '{self.plan.source}', got "
                f"{data.TypeName() or 'an empty Any'}"
            )
        msg = self.cls()
        data.Unpack(msg)
        unknown = unknown_fields_in(msg, data.value)
        if unknown is not None:
            refuse_stray_fields(node, expected.full_name, unknown, f"from '{self.plan.source}'")
        return msg

    def decode(self, msg: Any) -> dict[str, Any]:
        try:
            if self.rows:
                self.rows(msg)
            return self.codec.decode(msg)
        except CodecError as exc:
            raise InvalidRequest(str(exc)) from exc


class KrtNodeV2(KrtNodeBase):
    """One KRT v2 node compiled from Kedro nodes (or the generated exitpoint).

    Build it at import (``_node = KrtNodeV2(folder)``) and export ``init``,
    ``default_handler`` and ``custom_handlers`` from main.py.
    """

    def __init__(self, folder: Path | str, project: Path | str | None = None) -> None:
        super().__init__(folder, project)
        if not self.plan.upstreams:
            raise RuntimeSetupError(
                f"KRT node at {self.folder}: its plan.json is a KRT v1 node's (no upstreams); "
                "it runs with kedro_krt.node.runtime.node_v1.KrtNode"
            )
        self.name = self.plan.node.name
        self.upstreams = {u.source: _Upstream(self.folder, u) for u in self.plan.upstreams}
        out_mod = import_pb2(self.folder, self.plan.output_module)
        self.output_cls = getattr(out_mod, self.plan.output.name)
        encode = list(self.plan.output.fields)
        if not self.plan.node.kedro_nodes:
            # The exitpoint: the response's tables are the upstreams' bytes, copied as they are.
            relayed = {
                n for u in self.upstreams.values() for n in u.relay_into(self.output_cls, encode)
            }
            encode = [f for f in encode if f.name not in relayed]
        self._encoder = MessageCodec(self.output_cls, encode)
        self._outputs = tuple(f.original for f in self.plan.output.fields)
        self.logger = logging.getLogger(f"kedro_krt.node.{self.name}")
        max_pending, timeout = join_settings()
        self.join = RequestJoin(
            self.upstreams,
            node=self.name,
            max_pending=max_pending,
            timeout=timeout,
            logger=self.logger,
        )
        self._session: NodeSession | None = None
        self._ready = False
        #: kre-py 3's ``custom_handlers``: one handler per upstream, keyed by its name.
        self.custom_handlers: dict[str, Handler] = {
            source: self._handler_for(source) for source in self.upstreams
        }

    def init(self, ctx: Any = None) -> None:
        """Boot the project and load artifacts once (nothing to boot for the exitpoint)."""
        if ctx is not None and hasattr(ctx, "logger"):
            self.logger = ctx.logger
            self.join.logger = ctx.logger
        if self.plan.node.kedro_nodes:
            self._session = NodeSession(
                self.project_root(ctx), self.plan, observed=self._outputs
            )
        self._ready = True
        what = ", ".join(self.plan.node.kedro_nodes) or "assembles the response"
        self.logger.info(
            f"kedro-krt node '{self.name}' ready: {what}; waits for "
            f"{', '.join(self.upstreams)} per request"
        )

    def _handler_for(self, source: str) -> Handler:
        async def handler(ctx: Any, data: Any) -> None:
            await self.handle(ctx, source, data)

        handler.__name__ = f"from_{source.replace('-', '_')}"
        return handler

    async def default_handler(self, ctx: Any, data: Any) -> None:
        """A message from an origin with no custom handler: the node's only upstream is
        served; otherwise it is refused, naming what the node subscribes to."""
        if len(self.upstreams) == 1:
            await self.handle(ctx, next(iter(self.upstreams)), data)
            return
        raise InvalidRequest(
            f"node '{self.name}' got a message from a node it does not subscribe to (it joins "
            f"{', '.join(self.upstreams)})"
        )

    async def handle(self, ctx: Any, source: str, data: Any) -> None:
        """One message from ``source``: join it, and once complete run and send the output."""
        request_id = ctx.get_request_id()
        if ctx.is_message_error():
            text = _error_text(ctx)
            self.join.discard(request_id, f"'{source}' failed on it")
            raise UpstreamError(text)
        if ctx.is_message_early_reply() or ctx.is_message_early_exit():
            return
        joined = self.join.add(request_id, source, data)
        if joined is None:
            return
        await ctx.send_output(self.process(joined))

    def process(self, messages: dict[str, Any]) -> Any:
        """Decode what the node reads from each upstream's message, run, encode the output."""
        if not self._ready:
            self.init(None)
        values: dict[str, Any] = {}
        params = None
        unpacked = []
        for source, data in messages.items():
            upstream = self.upstreams[source]
            msg = upstream.unpack(self.name, data)
            unpacked.append((upstream, msg))
            decoded = upstream.decode(msg)
            if PARAMETERS_FIELD in decoded:
                params = decoded.pop(PARAMETERS_FIELD)
            values.update(decoded)
        if self._session is not None:
            values = self._session.run(values, params, self._outputs)
        out = self._encoder.encode(values)
        for upstream, msg in unpacked:
            if upstream.relay is not None:
                upstream.relay.copy(msg, out)
        return out
