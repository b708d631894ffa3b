"""A ``ctx`` with KRT v2's Python API (kre-py 3.x ``HandlerContext``), whatever stores back it.

(konstellation-io/kre-runners @ kre-py/v3.4.1: ``kre-py/src/context.py``,
``context_configuration.py``, ``context_objectstore.py``.)

A v2 node does not return its output: it sends it, as often as it likes, to its own subject
(``ctx.send_output(msg)``) or to a subtopic of it (``ctx.send_output(msg, "repairs")``), and the
nodes subscribed to that subject receive it. What the node sees of the incoming message:
``get_request_id()`` and its type (``is_message_ok()``, ``is_message_error()``,
``is_message_early_reply()``, ``is_message_early_exit()``); its origin only chooses the handler
(``custom_handlers[from_node]``, else ``default_handler``).

- ``send_output(msg, channel="")`` packs ``msg`` into an ``Any`` (type OK);
  ``send_any(any, channel="")`` sends an ``Any`` as it is; ``send_early_reply`` and
  ``send_early_exit`` are ``send_output`` typed ``EARLY_REPLY`` / ``EARLY_EXIT``: the receiving
  node (the exitpoint, usually) decides what that means.
- ``configuration``: KRE 8's key-value stores in three scopes (``project``, ``workflow``,
  ``node``); ``get`` without a scope looks in node, then workflow, then project.
- ``object_store`` (only when the node has ``objectStore`` in krt.yml): ``save`` / ``get`` /
  ``delete`` bytes by key.
- ``path``, ``logger``, ``db``, ``prediction``, ``measurement`` as in v1. ``set`` / ``get`` are
  kept from kre-py 3.0-3.2 (3.3 dropped them for ``configuration``), so both styles run.

This module knows nothing of NATS: the engine (in-process) or the runner hands in how a message
is published and which stores back ``configuration`` and ``object_store``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from google.protobuf import any_pb2
from google.protobuf.message import Message

from kedro_krt.node.runtime.context_base import LocalContext, NodeContext, Stores

__all__ = [
    "EARLY_EXIT",
    "EARLY_REPLY",
    "ERROR",
    "OK",
    "SCOPES_IN_ORDER",
    "SCOPE_NODE",
    "SCOPE_PROJECT",
    "SCOPE_WORKFLOW",
    "ContextObjectStoreException",
    "ContextV2Base",
    "KreContextV2",
    "LocalConfiguration",
    "LocalObjectStore",
    "select_handler",
]

#: kre-py 3's ``MessageType`` values (``kre_nats_msg.proto``).
UNDEFINED, OK, ERROR, EARLY_REPLY, EARLY_EXIT = range(5)

#: kre-py 3's scopes of ``ctx.configuration`` (``context_configuration.py``).
SCOPE_PROJECT = "project"
SCOPE_WORKFLOW = "workflow"
SCOPE_NODE = "node"
SCOPE_UNDEFINED = "undefined"
SCOPES_IN_ORDER = (SCOPE_NODE, SCOPE_WORKFLOW, SCOPE_PROJECT)

#: ``publish(payload, message_type, channel, request)``: what the engine or runner does with
#: what a handler sends.
Publish = Callable[[any_pb2.Any, int, str, Any], Awaitable[None]]


class ContextObjectStoreException(Exception):
    """kre-py 3's error of ``ctx.object_store`` (an empty payload, a missing key, ...)."""


def select_handler(module: Any, from_node: str) -> Any:
    """kre-py 3's choice (``handlers.py``): ``custom_handlers[from_node]`` if the module has
    one for that node, else ``default_handler`` (``None`` when it has neither)."""
    custom = getattr(module, "custom_handlers", None)
    if isinstance(custom, Mapping):
        handler = custom.get(from_node)
        if handler is not None:
            return handler
    return getattr(module, "default_handler", None)


class ContextV2Base(NodeContext):
    """What every v2 ``ctx`` has besides
    :class:`~kedro_krt.node.runtime.context_base.NodeContext` (``path``, ``set`` / ``get``, the
    stores): the request and the sends.

    The request it is bound to has ``request_id`` and ``message_type`` (a ``KreNatsMessage``
    under the runner, a plain object in-process). ``set`` / ``get`` are kept from kre-py
    3.0-3.2 (3.3 dropped them for ``configuration``).
    """

    _OUTSIDE_HANDLER = "ctx.{what}() can only be called inside a handler, not in init"

    def __init__(
        self,
        *,
        node: str,
        base_path: Path | str,
        logger: logging.Logger,
        publish: Publish,
        stores: Stores | None = None,
    ) -> None:
        super().__init__(node=node, base_path=base_path, logger=logger, stores=stores)
        self._publish = publish

    # -- kre-py 3.x ------------------------------------------------------------------------------

    def set_request_msg(self, request_msg: Any) -> None:
        """Bind this ctx to an incoming message (the runner does it on a copy per message)."""
        self._request = request_msg

    def get_request_id(self) -> str:
        """The id the entrypoint gave the request; every message of that request carries it."""
        return str(self._require("get_request_id").request_id)

    async def send_output(self, message: Message, channel: str = "") -> None:
        """Send ``message`` (packed into an ``Any``) to this node's subject, or to its subtopic
        ``channel``; the nodes subscribed to it receive it."""
        packed = any_pb2.Any()
        packed.Pack(message)
        await self._send(packed, OK, channel)

    async def send_any(self, message: any_pb2.Any, channel: str = "") -> None:
        """Send an ``Any`` as it is (forward what came in without unpacking it)."""
        packed = any_pb2.Any(type_url=message.type_url, value=message.value)
        await self._send(packed, OK, channel)

    async def send_early_reply(self, message: Message, channel: str = "") -> None:
        """:meth:`send_output`, typed ``EARLY_REPLY``."""
        packed = any_pb2.Any()
        packed.Pack(message)
        await self._send(packed, EARLY_REPLY, channel)

    async def send_early_exit(self, message: Message, channel: str = "") -> None:
        """:meth:`send_output`, typed ``EARLY_EXIT``."""
        packed = any_pb2.Any()
        packed.Pack(message)
        await self._send(packed, EARLY_EXIT, channel)

    def is_message_ok(self) -> bool:
        return bool(self._require("is_message_ok").message_type == OK)

    def is_message_error(self) -> bool:
        return bool(self._require("is_message_error").message_type == ERROR)

    def is_message_early_reply(self) -> bool:
        return bool(self._require("is_message_early_reply").message_type == EARLY_REPLY)

    def is_message_early_exit(self) -> bool:
        return bool(self._require("is_message_early_exit").message_type == EARLY_EXIT)

    # -- inside -------------------------------------------------------------------------------

    async def _send(self, payload: any_pb2.Any, message_type: int, channel: str) -> None:
        await self._publish(payload, message_type, channel, self._require("send_output"))


class LocalConfiguration:
    """``ctx.configuration`` on one machine: KRE 8's three key-value stores as dicts.

    The project store is shared by every node of the version, the workflow store by the nodes
    of one workflow; values are strings, as in NATS' key-value store.
    """

    def __init__(
        self, stores: Mapping[str, dict[str, str]], logger: logging.Logger
    ) -> None:
        self._stores = stores
        self._logger = logger
        self._lock = threading.Lock()

    async def set(self, key: str, value: str, scope: str = SCOPE_NODE) -> None:
        """Store ``value`` under ``key`` in ``scope`` (node by default)."""
        data = bytes(value, "utf-8")  # kre-py: a str, or TypeError
        with self._lock:
            self._store(scope)[key] = data.decode("utf-8")

    async def get(self, key: str, scope: str = SCOPE_UNDEFINED) -> str:
        """The value of ``key`` in ``scope``, or (no scope) in node, workflow, then project.

        Raises:
            Exception: ``No value found`` (kre-py 3's words).
        """
        scopes = SCOPES_IN_ORDER if scope == SCOPE_UNDEFINED else (scope,)
        with self._lock:
            for name in scopes:
                value = self._store(name).get(key)
                if value is not None:
                    return value
        self._logger.error("Error while getting the value for key %s: No value found", key)
        raise Exception("No value found")

    async def delete(self, key: str, scope: str = SCOPE_NODE) -> None:
        """Forget ``key`` in ``scope`` (node by default)."""
        with self._lock:
            self._store(scope).pop(key, None)

    def _store(self, scope: str) -> dict[str, str]:
        try:
            return self._stores[scope]
        except KeyError:
            raise KeyError(
                f"{scope!r} is not a configuration scope; use 'project', 'workflow' or 'node'"
            ) from None


class LocalObjectStore:
    """``ctx.object_store`` on one machine: one file per key in a folder named like the
    JetStream object store KRE creates."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self.name = name

    def _file(self, key: str) -> Path:
        return self.folder / quote(key, safe="")

    async def save(self, key: str, payload: bytes) -> None:
        """Store ``payload`` under ``key`` (replacing it)."""
        if not payload:
            raise ContextObjectStoreException("the payload cannot be empty")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._file(key).write_bytes(bytes(payload))

    async def get(self, key: str) -> bytes:
        """The bytes stored under ``key``."""
        try:
            return self._file(key).read_bytes()
        except FileNotFoundError:
            raise ContextObjectStoreException(
                f"error retrieving object with key {key} from the object store {self.name}: "
                "object not found"
            ) from None

    async def delete(self, key: str) -> None:
        """Delete the object ``key``."""
        try:
            self._file(key).unlink()
        except FileNotFoundError:
            raise ContextObjectStoreException(
                f"error deleting object with key {key} from the object store {self.name}: "
                "object not found"
            ) from None


class KreContextV2(LocalContext, ContextV2Base):
    """The ``ctx`` of one v2 node in the local server, backed by files in the state folder
    (``db``, ``prediction``, ``measurement``, ``object_store``) and dicts (``configuration``).

    ``local`` are :class:`~kedro_krt.node.runtime.context_base.LocalContext`'s: ``version``,
    ``node``, ``workflow``, ``base_path``, ``state_dir``, ``logger``.
    """

    TAG_POINTS = True

    def __init__(
        self,
        *,
        configuration: LocalConfiguration,
        object_store: tuple[Path, str] | None = None,
        **local: Any,
    ) -> None:
        super().__init__(publish=_unbound, **local)
        self.configuration = configuration
        if object_store is not None:
            self.object_store = LocalObjectStore(*object_store)

    def for_message(self, message: Any, publish: Any) -> KreContextV2:
        """A copy bound to one incoming message, publishing through ``publish``."""
        bound = self._bound(message)
        bound._publish = publish
        return bound  # type: ignore[no-any-return]


async def _unbound(*_: Any) -> None:
    raise RuntimeError("ctx.send_output() can only be called inside a handler, not in init")
