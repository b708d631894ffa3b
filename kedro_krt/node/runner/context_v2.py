"""The ``ctx`` of a KRT v2 node under the runner: kre-py 3.4.1's ``HandlerContext`` on KRE 8's
stores.

(konstellation-io/kre-runners @ kre-py/v3.4.1: ``kre-py/src/context.py``,
``context_configuration.py``, ``context_objectstore.py``, ``context_measurement.py``.)

- ``configuration``: the JetStream key-value buckets ``KRT_NATS_KEY_VALUE_STORE_PROJECT``,
  ``_WORKFLOW`` and ``_NODE``; the runner refuses to start when one is missing, as kre-py.
- ``object_store`` (only with ``KRT_NATS_OBJECT_STORE``): the JetStream object store of that
  name. kre-py shells out to the ``nats`` CLI for it; we use nats-py's object store API (same
  bucket, same objects), so the image needs no CLI. A missing bucket stops the runner, as kre-py.
- ``measurement``: v1's, plus kre-py 3's ``workflow`` and ``node`` tags.
- ``db``, ``prediction``: v1's (the mongo-writer over core NATS, MongoDB ``data``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kedro_krt.node.runner.config_v2 import RunnerConfigV2
from kedro_krt.node.runner.context_base import Request, runner_stores
from kedro_krt.node.runtime.context_v2 import (
    SCOPE_NODE,
    SCOPE_UNDEFINED,
    SCOPES_IN_ORDER,
    ContextObjectStoreException,
    ContextV2Base,
    Publish,
)

__all__ = ["NatsConfiguration", "NatsObjectStore", "RunnerContextV2"]


class NatsConfiguration:
    """``ctx.configuration``: KRE 8's key-value buckets, by scope."""

    def __init__(self, stores: Mapping[str, Any], logger: logging.Logger) -> None:
        self._stores = stores
        self._logger = logger

    @classmethod
    async def bind(
        cls, js: Any, config: RunnerConfigV2, logger: logging.Logger
    ) -> NatsConfiguration:
        """Bind the three buckets (they must exist: KRE's nats-manager creates them)."""
        stores = {}
        for scope, bucket in (
            ("project", config.nats_key_value_store_project),
            ("workflow", config.nats_key_value_store_workflow),
            ("node", config.nats_key_value_store_node),
        ):
            try:
                stores[scope] = await js.key_value(bucket)
            except Exception as err:
                raise RuntimeError(
                    f"Error while getting the key value store: {bucket!r} ({scope} scope): "
                    f"{type(err).__name__} {err}".rstrip()
                ) from err
        return cls(stores, logger)

    async def set(self, key: str, value: str, scope: str = SCOPE_NODE) -> None:
        try:
            await self._stores[scope].put(key, bytes(value, "utf-8"))
        except Exception as err:
            self._logger.error("Error while setting the value for key %s: %s", key, err)
            raise

    async def get(self, key: str, scope: str = SCOPE_UNDEFINED) -> str:
        """kre-py 3: a given scope raises on a miss; no scope searches node, workflow, project."""
        if scope != SCOPE_UNDEFINED:
            try:
                entry = await self._stores[scope].get(key)
                if entry.value is None:
                    raise Exception("No value found")
                return bytes(entry.value).decode("utf-8")
            except Exception as err:
                self._logger.error("Error while getting the value for key %s: %s", key, err)
                raise
        for name in SCOPES_IN_ORDER:
            try:
                entry = await self._stores[name].get(key)
                if entry.value is not None:
                    return bytes(entry.value).decode("utf-8")
            except Exception as err:
                self._logger.error("Error while getting the value for key %s: %s", key, err)
        self._logger.error(
            "Error while getting the value for key %s in all scopes: No value found", key
        )
        raise Exception("No value found")

    async def delete(self, key: str, scope: str = SCOPE_NODE) -> None:
        try:
            await self._stores[scope].delete(key)
        except Exception as err:
            self._logger.error("Error while deleting the value for key %s: %s", key, err)
            raise


class NatsObjectStore:
    """``ctx.object_store``: the JetStream object store ``KRT_NATS_OBJECT_STORE``."""

    def __init__(self, store: Any, name: str, logger: logging.Logger) -> None:
        self._store = store
        self.name = name
        self._logger = logger

    @classmethod
    async def bind(cls, js: Any, name: str, logger: logging.Logger) -> NatsObjectStore:
        try:
            store = await js.object_store(name)
        except Exception as err:
            raise RuntimeError(
                f"Error while getting info for Object Store {name}: {type(err).__name__} {err}"
                .rstrip()
            ) from err
        logger.info("Successfully bound to Object Store %s", name)
        return cls(store, name, logger)

    async def save(self, key: str, payload: bytes) -> None:
        if not payload:
            raise ContextObjectStoreException("the payload cannot be empty")
        try:
            await self._store.put(key, bytes(payload))
        except Exception as err:
            raise ContextObjectStoreException(
                f"error storing object with key {key} to the object store: {err}"
            ) from err

    async def get(self, key: str) -> bytes:
        try:
            result = await self._store.get(key)
        except Exception as err:
            raise ContextObjectStoreException(
                f"error retrieving object with key {key} from the object store: "
                f"{type(err).__name__} {err}".rstrip()
            ) from err
        return bytes(result.data or b"")

    async def delete(self, key: str) -> None:
        try:
            await self._store.delete(key)
        except Exception as err:
            raise ContextObjectStoreException(
                f"error deleting object with key {key} from the object store: "
                f"{type(err).__name__} {err}".rstrip()
            ) from err


class RunnerContextV2(ContextV2Base):
    """The ``ctx`` of a v2 node under the runner; one per process, a shallow copy per message."""

    def __init__(
        self,
        config: RunnerConfigV2,
        logger: logging.Logger,
        request: Request,
        publish: Publish,
        configuration: NatsConfiguration,
        object_store: NatsObjectStore | None,
    ) -> None:
        # kre-py 3's measurement adds the workflow and node tags to v1's.
        tags = {"workflow": config.workflow_name, "node": config.node_name}
        super().__init__(
            node=config.node_name, base_path=config.base_path, logger=logger, publish=publish,
            stores=runner_stores(config, request, logger, tags),
        )
        self.configuration = configuration
        if object_store is not None:
            self.object_store = object_store

    def __repr__(self) -> str:
        return f"RunnerContextV2(node={self.node!r})"

    def for_message(self, message: Any) -> RunnerContextV2:
        """A shallow copy bound to one incoming message (stores and values shared)."""
        return self._bound(message)  # type: ignore[no-any-return]
