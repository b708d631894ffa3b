"""The error of `kedro-krt build`."""

from __future__ import annotations


class BuildError(ValueError):
    """The KRT cannot be built as its source says: names the file, node, field or dataset, and
    what to change."""
