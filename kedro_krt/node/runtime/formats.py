"""The node runtime of each KRT format: the one table of this layer.

A generated ``main.py`` builds its node from the format's runtime class at import
(``_node = KrtNode(_HERE)``); the table says which class, and from which module, for each
:class:`~kedro_krt.node.krt_version.KrtVersion`. The classes are named, not imported: importing
this table loads no node runtime (nor Kedro).

A new format is a module ``node_<format>.py`` (its class built on
:class:`~kedro_krt.node.runtime.node_base.KrtNodeBase`), a ``context_<format>.py`` when its
``ctx`` differs, and one entry here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from kedro_krt.node.krt_version import KrtVersion

__all__ = ["NODE_RUNTIMES", "NodeRuntime"]


@dataclass(frozen=True)
class NodeRuntime:
    """Where a format's node runtime class lives: what a generated ``main.py`` imports."""

    module: str
    name: str

    @property
    def import_line(self) -> str:
        """``from <module> import <name>``, as ``main.py`` writes it."""
        return f"from {self.module} import {self.name}"

    def load(self) -> type:
        """The class itself (imports its module)."""
        loaded: type = getattr(importlib.import_module(self.module), self.name)
        return loaded


#: KRT format -> its node runtime; ``emit`` writes each generated ``main.py``'s import from it.
NODE_RUNTIMES: dict[KrtVersion, NodeRuntime] = {
    KrtVersion.V1: NodeRuntime("kedro_krt.node.runtime.node_v1", "KrtNode"),
    KrtVersion.V2: NodeRuntime("kedro_krt.node.runtime.node_v2", "KrtNodeV2"),
}
