"""The ``ctx`` a KRT v1 node gets under the runner: kre-py 2.1.5's ``HandlerContext``, on KRE's
stores (:mod:`~kedro_krt.node.runner.context_base`).

(konstellation-io/kre-runners @ kre-py-v2.1.5: ``src/context.py``.)

- ``logger``, ``path``, ``set`` / ``get`` (a missing key raises AttributeError), as kre-py.
- ``await ctx.early_reply(msg)`` answers the caller now, ``ctx.early_exit()`` ends the workflow
  after this node; ``await ctx.reply(msg)`` is kre-py 1.25-2.0's name for the early reply.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf.message import Message

from kedro_krt.node.runner.config_v1 import RunnerConfig
from kedro_krt.node.runner.context_base import Request, runner_stores
from kedro_krt.node.runtime.context_v1 import ContextV1Base

__all__ = ["RunnerContext"]


class RunnerContext(ContextV1Base):
    """The ``ctx`` of a node under the runner; one per process, a shallow copy per message,
    bound to the incoming ``KreNatsMessage`` (its ``replied`` and ``early_exit``)."""

    def __init__(
        self,
        config: RunnerConfig,
        logger: logging.Logger,
        request: Request,
        early_reply: Callable[[Any, Message], Awaitable[None]],
    ) -> None:
        super().__init__(
            node=config.node_name, base_path=config.base_path, logger=logger,
            stores=runner_stores(config, request, logger),
        )
        self._early_reply = early_reply

    def __repr__(self) -> str:
        return f"RunnerContext(node={self.node!r})"

    def for_message(self, message: Any) -> RunnerContext:
        """A shallow copy bound to one incoming message (stores and values shared)."""
        return self._bound(message)  # type: ignore[no-any-return]

    async def _send_early_reply(self, state: Any, response: Message) -> None:
        await self._early_reply(state, response)
