"""Kedro's copy semantics, where they matter, at the lowest cost.

In a Kedro run every value between nodes lives in a ``MemoryDataset``, which hands each reader
a copy (its ``copy_mode``: ``copy`` for pandas DataFrames and numpy arrays, ``assign`` for other
DataFrame types such as Spark's, ``deepcopy`` for anything else; kedro/io/memory_dataset.py),
and every artifact is loaded afresh by each run. So a node may change its inputs in place, as
Kedro's own spaceflights starter does, and nobody else sees it.

kedro-krt passes values through a dict. A value is copied only where a change in place could be
seen again: by a later Kedro node of the same KRT node, by the message or response encoded after
the calls, by the caller that passed it, or by a later request (artifacts and parameters, shared
for the whole life of the node). The last reader of a per-request value gets it as it is.

The copy is Kedro's mode, with one cheaper guarantee: under pandas' Copy-on-Write (always on
from pandas 3), a shallow copy of a DataFrame or Series already isolates every change made
through it, for the cost of a few object headers instead of the data.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

__all__ = ["COPY_MODES", "CopyMode", "copy_value", "infer_copy_mode"]

CopyMode = Literal["assign", "copy", "deepcopy"]
COPY_MODES: tuple[CopyMode, ...] = ("assign", "copy", "deepcopy")

_IMMUTABLE = (str, bytes, int, float, complex, bool, type(None), range, frozenset)


def infer_copy_mode(value: Any) -> CopyMode:
    """Kedro's inferred copy mode of a value (immutable values are simply assigned)."""
    if isinstance(value, _IMMUTABLE):
        return "assign"
    if isinstance(value, tuple) and all(isinstance(v, _IMMUTABLE) for v in value):
        return "assign"
    module = type(value).__module__
    if module.startswith("pandas") and type(value).__name__ in ("DataFrame", "Series"):
        return "copy"
    if module == "numpy" and type(value).__name__ == "ndarray":
        return "copy"
    if type(value).__name__ == "DataFrame" or module.startswith("ibis"):
        return "assign"  # Spark, Polars lazy frames, Ibis tables: immutable or too big to copy
    return "deepcopy"


def _copy_on_write() -> bool:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - no pandas, no pandas values
        return False
    if int(pd.__version__.split(".", 1)[0]) >= 3:
        return True
    return bool(pd.options.mode.copy_on_write is True)


_COW: bool | None = None


def copy_value(value: Any, mode: CopyMode | None = None) -> Any:
    """``value`` as a reader may change it without anyone else seeing the change."""
    global _COW
    mode = mode or infer_copy_mode(value)
    if mode == "assign":
        return value
    if mode == "copy":
        if type(value).__module__.startswith("pandas"):
            if _COW is None:
                _COW = _copy_on_write()
            return value.copy(deep=not _COW)
        return value.copy()
    return copy.deepcopy(value)
