"""A ``ctx`` with KRE v1's whole Python API (kre-py 1.2x to 2.1), backed by local stores.

Besides what every ``ctx`` has (:mod:`~kedro_krt.node.runtime.context_base`), a v1 node answers
early: ``early_reply`` (``reply`` in kre-py 1.25 to 2.0) and ``early_exit``. Under KRE the
early reply goes over NATS; here it is a callback into the local workflow engine.

This module knows nothing of click, Kedro or gRPC: the engine that drives it hands in callbacks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf.message import Message

from kedro_krt.node.runtime.context_base import LocalContext, NodeContext

__all__ = ["ContextV1Base", "KreContext", "ReplyFunc", "RequestState"]

ReplyFunc = Callable[[Message], Awaitable[None]]


class RequestState:
    """What one request carries through a workflow (the KreNatsMessage's ``replied`` and friends).

    The engine creates one per request and gives each node a ``ctx`` bound to it.
    """

    __slots__ = ("early_exit", "replied", "reply", "tracking_id")

    def __init__(self, reply: ReplyFunc | None, tracking_id: str = "") -> None:
        self.reply = reply
        self.replied = False
        self.early_exit = False
        self.tracking_id = tracking_id


class ContextV1Base(NodeContext):
    """What every KRE v1 ``ctx`` has besides
    :class:`~kedro_krt.node.runtime.context_base.NodeContext`: the early replies.

    The message it is bound to has ``replied`` and ``early_exit`` (a :class:`RequestState`
    here, the ``KreNatsMessage`` itself under the runner); subclasses send the early reply.
    """

    async def early_reply(self, response: Message) -> None:
        """Answer the caller now; the rest of the workflow still runs (kre-py 2.1)."""
        state = self._require("early_reply")
        if state.replied:
            raise Exception("error the message was replied previously")
        state.replied = True
        await self._send_early_reply(state, response)

    async def reply(self, response: Message) -> None:
        """kre-py 1.25 to 2.0's name for :meth:`early_reply`."""
        await self.early_reply(response)

    def early_exit(self) -> None:
        """Stop the workflow after this node; its output (if not replied yet) is the answer."""
        self._require("early_exit").early_exit = True

    async def _send_early_reply(self, state: Any, response: Message) -> None:
        raise NotImplementedError


class KreContext(LocalContext, ContextV1Base):
    """The ``ctx`` of one KRT v1 node in the local server, backed by files in a state folder.

    The engine binds a copy of it to each request with :meth:`for_request`, so early reply and
    early exit act on that request only.
    """

    def for_request(self, request: RequestState) -> KreContext:
        """A copy bound to one request; the stores and ``set``/``get`` values are shared."""
        return self._bound(request)  # type: ignore[no-any-return]

    async def _send_early_reply(self, state: Any, response: Message) -> None:
        if state.reply is not None:
            await state.reply(response)
