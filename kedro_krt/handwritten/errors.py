"""The error of `kedro-krt build`."""

from __future__ import annotations

from kedro_krt.node.errors import KrtError


class BuildError(KrtError, ValueError):
    """The KRT cannot be built as its source says: names the file, node, field or dataset, and
    what to change."""
