"""Joining the messages of one request that reach a KRT v2 node from several subscriptions.

In KRT v2 a node that reads datasets made by two upstream nodes subscribes to both, and gets one
message from each for every request, in any order, interleaved with other requests' messages.
kre-py 3 tells a handler which request a message belongs to (``ctx.get_request_id()``) and picks
the handler by the message's origin (``custom_handlers[from_node]``; konstellation-io/
kre-runners @ kre-py/v3.4.1: ``kre-py/src/handlers.py``, ``main.py``, ``context.py``). So a
generated node registers one handler per upstream, and each handler hands its message here with
the request id and the origin it was registered for.

:class:`RequestJoin` keeps the messages of each request until one has come from every source,
then gives them back together, and forgets the request. It is bounded: at most ``max_pending``
requests wait (the oldest is evicted when a new one would exceed it) and none waits longer than
``timeout`` seconds (checked on every arrival); each eviction is logged with what arrived and
what did not. Messages of different requests are never mixed: the key is the request id. A
second message from the same source for a waiting request (a redelivery) replaces the first,
with a warning.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_MAX_PENDING",
    "DEFAULT_TIMEOUT_S",
    "MAX_PENDING_ENV",
    "TIMEOUT_ENV",
    "RequestJoin",
    "join_settings",
]

#: Requests a node keeps waiting for their other messages, at most.
DEFAULT_MAX_PENDING = 1000
#: Seconds a request waits for its other messages before it is dropped: twice the default
#: timeout of ``kedro-krt serve`` (30 s). kre-entrypoint 3.3.6 passes ``KRT_REQUEST_TIMEOUT``
#: (30000 by default) to nats-py's ``next_msg``, which reads seconds: it hardly gives up.
DEFAULT_TIMEOUT_S = 60.0
#: Environment variables that change them (set through krt.yml's ``config.variables``).
MAX_PENDING_ENV = "KEDRO_KRT_JOIN_MAX_PENDING"
TIMEOUT_ENV = "KEDRO_KRT_JOIN_TIMEOUT"


def join_settings(environ: Mapping[str, str] | None = None) -> tuple[int, float]:
    """(max pending, timeout in seconds) from the environment, else the defaults.

    Raises:
        ValueError: a variable that is set but is not a positive number, naming it.
    """
    env = os.environ if environ is None else environ
    max_pending = _positive(env, MAX_PENDING_ENV, int, DEFAULT_MAX_PENDING, "a whole number from 1")
    timeout = _positive(env, TIMEOUT_ENV, float, DEFAULT_TIMEOUT_S, "a number of seconds above 0")
    return max_pending, timeout


def _positive(
    env: Mapping[str, str], name: str, kind: Callable[[str], Any], default: Any, what: str
) -> Any:
    """The variable ``name`` read as ``kind`` and above 0, else ``default`` when it is unset."""
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = 0
    if not value > 0:
        raise ValueError(f"{name}={raw!r}: write {what}")
    return value


@dataclass
class _Pending:
    since: float
    messages: dict[str, Any] = field(default_factory=dict)


class RequestJoin:
    """The messages of each request, kept until every source has sent one.

    Args:
        sources: the origins a request needs a message from (``entrypoint``, node names).
        node: this node's name, for the log lines.
        max_pending: requests kept waiting at most.
        timeout: seconds a request may wait.
        logger: where evictions and redeliveries are said.
        clock: a monotonic clock (``time.monotonic``).
    """

    def __init__(
        self,
        sources: Iterable[str],
        *,
        node: str = "",
        max_pending: int = DEFAULT_MAX_PENDING,
        timeout: float = DEFAULT_TIMEOUT_S,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sources = tuple(dict.fromkeys(sources))
        if not self.sources:
            raise ValueError("a join needs at least one source")
        if max_pending < 1 or not timeout > 0:
            raise ValueError("max_pending must be 1 or more and timeout above 0")
        self.node = node
        self.max_pending = max_pending
        self.timeout = timeout
        self.logger = logger or logging.getLogger(__name__)
        self._clock = clock
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._lock = threading.Lock()
        #: How many requests were dropped (timeout, overflow or an upstream error).
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._pending)

    def pending(self) -> list[str]:
        """The request ids waiting, oldest first."""
        with self._lock:
            return list(self._pending)

    def add(self, request_id: str, source: str, message: Any) -> dict[str, Any] | None:
        """Keep ``message`` from ``source`` for ``request_id``.

        Returns:
            ``{source: message}`` for every source once the last one has arrived (the request is
            then forgotten), else ``None``.

        Raises:
            ValueError: ``source`` is not one this join waits for.
        """
        if source not in self.sources:
            raise ValueError(
                f"node '{self.node}' got a message from '{source}', which it does not subscribe "
                f"to (it joins {', '.join(self.sources)})"
            )
        if len(self.sources) == 1:
            return {source: message}
        now = self._clock()
        with self._lock:
            self._expire(now)
            entry = self._pending.get(request_id)
            if entry is None:
                while len(self._pending) >= self.max_pending:
                    old_id, old = self._pending.popitem(last=False)
                    self._evicted(old_id, old, f"more than {self.max_pending} requests waiting")
                entry = self._pending[request_id] = _Pending(now)
            elif source in entry.messages:
                self.logger.warning(
                    "node '%s': a second message from '%s' for request %s (a redelivery?): "
                    "the later one is kept",
                    self.node,
                    source,
                    request_id,
                )
            entry.messages[source] = message
            if len(entry.messages) < len(self.sources):
                return None
            del self._pending[request_id]
        return {s: entry.messages[s] for s in self.sources}

    def discard(self, request_id: str, reason: str) -> bool:
        """Forget a waiting request (an upstream failed on it); whether it was waiting."""
        with self._lock:
            entry = self._pending.pop(request_id, None)
            if entry is not None:
                self._evicted(request_id, entry, reason)
        return entry is not None

    def expire(self) -> int:
        """Drop the requests older than the timeout now; how many were dropped."""
        with self._lock:
            before = self.evicted
            self._expire(self._clock())
            return self.evicted - before

    def _expire(self, now: float) -> None:
        while self._pending:
            request_id, entry = next(iter(self._pending.items()))
            if now - entry.since < self.timeout:
                return
            del self._pending[request_id]
            self._evicted(request_id, entry, f"waited more than {self.timeout:g} s")

    def _evicted(self, request_id: str, entry: _Pending, reason: str) -> None:
        self.evicted += 1
        missing = [s for s in self.sources if s not in entry.messages]
        self.logger.warning(
            "node '%s' dropped request %s (%s): it had messages from %s, none from %s",
            self.node,
            request_id,
            reason,
            ", ".join(entry.messages) or "no node",
            ", ".join(missing),
        )
