"""What the catalog says about a dataset, for the rules that give datasets their roles.

One class for `kedro krt compile` and for :class:`~kedro_krt.node.runtime.session.KrtSession`: both
decide that a namespaced free input is an artifact when the catalog versions it or when its data
cannot travel in a message, with the same words, so the library and the packaged nodes agree.
Shipped in every .krt (the session runs inside hand-written nodes), so Kedro-only and cheap.
"""

from __future__ import annotations

from typing import Any

from kedro_krt.node.analysis import is_parameter
from kedro_krt.node.schema.infer import infer_type


class CatalogView:
    """A project's catalog seen by the rules: configs, and each dataset loaded at most once."""

    def __init__(self, catalog: Any) -> None:
        self._catalog = catalog
        self._cache: dict[str, tuple[bool, Any, str]] = {}

    def dataset_config(self, name: str) -> dict[str, Any] | None:
        """The catalog config of a dataset (explicit entry or factory pattern), if any."""
        resolver = self._catalog.config_resolver
        config = resolver.config.get(name)
        if config is None and resolver.match_dataset_pattern(name):
            config = resolver.resolve_pattern(name)
        return dict(config) if config else None

    def available(self, name: str) -> bool:
        """Whether the dataset has data now (parameters always have)."""
        if is_parameter(name):
            return True
        found, _, _ = self.load(name)
        return found

    def value(self, name: str) -> Any:
        """The dataset's data, or None when it has none."""
        return self.load(name)[1]

    def load(self, name: str) -> tuple[bool, Any, str]:
        """(found, value, where it came from or why not); a dataset that cannot load now is
        not an error here: the rules fall back to other sources."""
        if name in self._cache:
            return self._cache[name]
        result: tuple[bool, Any, str] = (False, None, "")
        try:
            dataset = self._catalog.get(name)
            if dataset is not None and (
                is_parameter(name)
                or (type(dataset).__name__ != "MemoryDataset" and dataset.exists())
            ):
                kind = type(dataset).__name__
                result = (True, self._catalog.load(name), f"catalog ({kind})")
        except Exception as exc:
            result = (False, None, f"catalog load failed: {exc}")
        self._cache[name] = result
        return result

    def artifact_reason(self, name: str) -> str | None:
        """Why a namespaced free input is an artifact rather than a request input, or None."""
        config = self.dataset_config(name)
        if not config:
            return None
        if config.get("versioned"):
            return "it is a versioned dataset in the catalog (loaded once, as an artifact)"
        found, value, _ = self.load(name)
        if found and infer_type(value) is None:
            return (
                f"its data ({type(value).__module__}.{type(value).__qualname__}) cannot travel "
                "in a message (loaded once, as an artifact)"
            )
        return None
