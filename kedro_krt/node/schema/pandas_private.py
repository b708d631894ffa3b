"""Every private pandas call of the codec, in one place: each probed, each with a public fallback.

The codec (:mod:`~kedro_krt.node.schema.table_codec`, :mod:`~kedro_krt.node.schema.codec`)
decodes and encodes every message of every KRT node. For the few rows of a request, pandas' public
constructors cost more than the data: they infer, validate and consolidate on every call. The
schema already fixes names, order and dtypes, so pandas' internal constructors can do the same
job without that work. They are not pandas' API, so each one here is:

* looked up inside a ``try``: missing (another pandas) means the public path;
* **probed** where it is first asked for, which is when a codec is built (a node's ``init``,
  before the first message): on probe values its result must equal what pandas' own public
  construction gives (dtypes, values, labels, index type), and raise nothing; else the public
  path is used. Probes that depend on a schema (the frame builders) take the codec's probe rows;
  the others probe themselves once per dtype;
* **recorded** in :data:`CHOSEN` (name -> True when the private path passed its probe), so that a
  test, or a reader with a debugger, sees which ones this pandas takes.

Nothing else in the codec touches pandas internals or global interpreter state; it uses pandas'
public API and the functions below.

The private calls, by the function that holds them (its :data:`CHOSEN` key), each with what it
saves and the public path used when it is missing or fails its probe:

1. :func:`numeric_series_builder` (``series``): ``pandas.core.internals.SingleBlockManager``,
   ``pandas.core.internals.blocks.get_block_type``, ``pandas._libs.internals.BlockPlacement``,
   ``Series._from_mgr``, ``Series._name``. A list field of numbers -> Series, no inference.
   Probe: ``[1, 0]``, ``[1]``, ``[]``. Public: ``pd.Series(np.asarray(values, dtype),
   index=pd.RangeIndex(n), name=name)``.
2. :func:`series_values_getter` (``series_values``): ``Series._values``. Encoding a numeric
   Series reads its numpy array. Probe: float, int, bool and sliced int32 Series against
   ``to_numpy()``. Public: ``Series.to_numpy()`` (numpy dtypes), ``Series.array`` (others).
3. :func:`datetime_array_maker` (``datetime_array``): ``DatetimeArray._simple_new``. A
   timestamp column wraps its ``M8[unit]`` values without ``_from_sequence``'s validation.
   Probe: three values with NaT, per dtype (naive or tz). Public: None, so the codec restores
   through ``pd.DatetimeIndex(...).tz_localize("UTC").tz_convert(tz)``.
4. :func:`python_string_maker` (``python_string``): ``StringArray._simple_new``. A
   python-backed string column (pandas without pyarrow, e.g. the runner image) from its object
   array. Probe: with NA, one value, none. Public: None, so ``pd.array(values, dtype)``.
5. :func:`arrow_string_maker` (``arrow_string``): ``ArrowStringArray.__new__`` and its
   attributes ``_pa_array``, ``_dtype``, ``_cache`` (pandas' own ``_from_pyarrow_array``).
   Probe: a chunked Arrow array with a null, two slices of it. Public: None, so
   ``pd.array(values, dtype)``.
6. :func:`column_reader` (``column_reader``): ``DataFrame._mgr.blocks``, ``Block.values``,
   ``Block.mgr_locs``, ``DataFrame._get_column_array``. Encoding reads a frame's columns
   without a Series each. Probe: four frames (one block, reordered, to_frame, several blocks)
   against ``df.iloc[:, j].to_numpy()``. Public: None, so the codec reads cells through
   ``df.to_numpy(dtype=object)``.
7. :func:`frame_builders` (``frame``): ``pandas.core.internals.construction.arrays_to_mgr``
   (with ``typ="block"`` where pandas 2 asks it), ``DataFrame._from_mgr``,
   ``DataFrame._from_arrays``. A frame from restored arrays, no inference or consolidation.
   Probe: the codec's probe rows (0 to 2, with and without nulls). Public:
   ``pd.DataFrame(dict, index=pd.RangeIndex(n), copy=False)``.
8. :func:`blocks_builder` (``blocks``): ``pandas.core.internals.managers.BlockManager``,
   ``pandas.core.internals.blocks.new_block_2d``, ``ensure_block_shape``, ``get_block_type``,
   ``ExtensionBlock``, ``BlockPlacement``, ``DataFrame._from_mgr``. A frame straight from the
   decode loop's lists. Probe: as 7. Public: the restored arrays, then 7.
9. :data:`gc_paused`: ``gc.disable()``, not pandas but interpreter-wide state, held only around
   the decode loop of a big table (its comment says why and how it is bounded).

On pandas 3.x every probe passes. On pandas 2.2 they pass too (``arrays_to_mgr`` there needs
``typ="block"``, which is given when its signature has the parameter); the string makers are not
asked for there, since pandas 2's default for text is ``object``.
"""

from __future__ import annotations

import functools
import gc
import inspect
import operator
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd

try:  # pyarrow makes string columns cheaper; it is optional
    import pyarrow as _pa
except ImportError:  # pragma: no cover - exercised only where pyarrow is absent
    _pa = None

__all__ = [
    "CHOSEN",
    "arrow_string_maker",
    "blocks_builder",
    "column_reader",
    "datetime_array_maker",
    "frame_builders",
    "gc_paused",
    "numeric_series_builder",
    "pick",
    "python_string_maker",
    "same_frame",
    "same_values",
    "series_values_getter",
]

#: Which private paths this pandas takes: name -> True when the last probe of that name passed
#: (a name probed per dtype or per schema keeps its last outcome).
CHOSEN: dict[str, bool] = {}

_T = Callable[..., Any]


def _chosen(name: str, ok: bool) -> bool:
    CHOSEN[name] = ok
    return ok


# --- probing --------------------------------------------------------------------------------


def same_values(a: Any, b: Any) -> bool:
    """Two 1-D arrays (numpy or pandas) have the same dtype and the same values (NA alike)."""
    sa, sb = pd.Series(a), pd.Series(b)
    return bool(sa.dtype == sb.dtype and sa.equals(sb))


def same_frame(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Two frames are alike in every way a node can see: dtypes, values, labels and their
    dtype, index type and values."""
    return bool(
        list(a.dtypes) == list(b.dtypes)
        and a.columns.equals(b.columns)
        and a.columns.dtype == b.columns.dtype
        and type(a.index) is type(b.index)
        and a.index.equals(b.index)
        and a.equals(b)
    )


def pick(
    name: str,
    candidates: Iterable[_T | None],
    public: _T,
    cases: Iterable[Sequence[Any]],
    same: Callable[[Any, Any], bool],
) -> _T:
    """The first candidate that gives what ``public`` gives on every case, else ``public``.

    ``cases`` are argument tuples (materialised once; a candidate must not change them). A
    candidate that raises, or whose result ``same`` does not accept, is passed over.
    """
    offered = [fast for fast in candidates if fast is not None]
    if not offered:  # nothing private to probe (recorded where it went missing)
        return public
    cases = [tuple(c) for c in cases]
    for fast in offered:
        try:
            if all(same(fast(*args), public(*args)) for args in cases):
                _chosen(name, True)
                return fast
        except Exception:  # any failure means: not this candidate
            continue
    _chosen(name, False)
    return public


# --- Series ---------------------------------------------------------------------------------


def numeric_series_builder(dtype: np.dtype, name: Any) -> Callable[[Any], pd.Series]:
    """Values -> ``pd.Series(values, dtype=dtype, name=name)`` with a RangeIndex, cheaply.

    The public constructor infers and validates on every call; for a numeric numpy dtype fixed
    by the schema, pandas' single-block manager over a fresh array is the same Series.
    """

    def public(values: Any) -> pd.Series:
        arr = np.asarray(values, dtype=dtype)
        return pd.Series(arr, index=pd.RangeIndex(len(arr)), name=name, copy=False)

    try:
        from pandas._libs.internals import BlockPlacement
        from pandas.core.internals import SingleBlockManager
        from pandas.core.internals.blocks import get_block_type

        from_mgr = pd.Series._from_mgr  # type: ignore[attr-defined]
        klass = get_block_type(dtype)
        pd.Series([], dtype=dtype, name=name)  # the name is one pandas accepts
    except Exception:
        _chosen("series", False)
        return public
    range_index = pd.RangeIndex.from_range
    fromiter = np.fromiter

    def direct(values: Any) -> pd.Series:
        # SingleBlockManager.from_array without its per-call dtype checks (a fresh array of a
        # numeric numpy dtype needs no coercion) and a RangeIndex from its range. A few values
        # are read by iteration: numpy's buffer probing of a protobuf repeated field costs more
        # than the values (same conversions and errors either way).
        n = len(values)
        arr = fromiter(values, dtype, n) if n <= 64 else np.asarray(values, dtype=dtype)
        block = klass(arr, ndim=1, placement=BlockPlacement(slice(0, n)))
        mgr = SingleBlockManager(block, range_index(range(n)))
        out = from_mgr(mgr, axes=mgr.axes)
        out._name = name  # what the `name` setter stores, once pandas accepted it above
        return cast(pd.Series, out)

    def same(a: pd.Series, b: pd.Series) -> bool:
        return bool(
            a.dtype == b.dtype
            and a.name == b.name
            and a.equals(b)
            and type(a.index) is type(b.index)
            and a.index.equals(b.index)
        )

    return pick("series", [direct], public, [([1, 0],), ([1],), ([],)], same)


def _public_series_values(s: pd.Series) -> Any:
    return s.to_numpy() if isinstance(s.dtype, np.dtype) else s.array


@functools.cache
def series_values_getter() -> Callable[[pd.Series], Any]:
    """``s -> its values``: the numpy array of a Series of a numpy dtype (not a copy), else its
    pandas array. ``Series._values`` skips ``to_numpy``'s arguments and read-only view."""

    private = operator.attrgetter("_values")  # no Python frame: as cheap as the attribute

    def same(a: Any, b: Any) -> bool:
        return bool(
            type(a) is type(b) and a.dtype == b.dtype and np.array_equal(np.asarray(a), b)
        )

    probes = [
        (pd.Series([1.5, 2.0]),),
        (pd.Series([1, 2]),),
        (pd.Series([True, False]),),
        (pd.Series([1, 2], dtype=np.int32).iloc[1:],),
    ]
    return pick("series_values", [private], _public_series_values, probes, same)


# --- column arrays --------------------------------------------------------------------------


def _public_datetimes(values: np.ndarray, dtype: Any) -> Any:
    """What pandas' public API makes of datetime64 values (UTC wall times for a tz dtype)."""
    idx = pd.DatetimeIndex(values)
    if isinstance(dtype, pd.DatetimeTZDtype):
        idx = idx.tz_localize("UTC").tz_convert(dtype.tz)
    return idx.array


@functools.cache
def datetime_array_maker(dtype: Any) -> Callable[[np.ndarray], Any] | None:
    """``values -> DatetimeArray`` of ``dtype`` (``M8[unit]`` or a tz dtype) from an ``M8[unit]``
    numpy array of UTC times, or None. The public constructors re-validate the values
    (``_from_sequence``) on every call; ``_simple_new`` wraps them as they are."""
    simple_new = getattr(pd.arrays.DatetimeArray, "_simple_new", None)
    if simple_new is None:
        _chosen("datetime_array", False)
        return None
    tz = isinstance(dtype, pd.DatetimeTZDtype)
    m8 = np.dtype(f"M8[{dtype.unit}]") if tz else np.dtype(dtype)

    def make(values: np.ndarray) -> Any:
        return simple_new(values, dtype=dtype)

    probe = np.array([1_600_000_000_123_456_000, np.iinfo(np.int64).min, 0], dtype=np.int64)
    values = probe.view("M8[ns]").astype(m8)
    chosen = pick("datetime_array", [make], lambda v: _public_datetimes(v, dtype), [(values,)],
                  same_values)
    return make if chosen is make else None


@functools.cache
def python_string_maker(dtype: Any) -> Callable[[np.ndarray], Any] | None:
    """``object array of str and the dtype's NA -> StringArray`` of a python-backed
    ``StringDtype``, or None. ``pd.array`` would check and convert cell by cell."""
    from_backing = getattr(dtype.construct_array_type(), "_simple_new", None)
    if from_backing is None:
        _chosen("python_string", False)
        return None

    def make(values: np.ndarray) -> Any:
        return from_backing(values, dtype=dtype)

    def public(values: np.ndarray) -> Any:
        return pd.array(values, dtype=dtype)

    cases = [(np.array(v, dtype=object),) for v in (["a", dtype.na_value, "é b"], ["a"], [])]
    chosen = pick("python_string", [make], public, cases, same_values)
    return make if chosen is make else None


@functools.cache
def arrow_string_maker(dtype: Any) -> Callable[[Any], Any] | None:
    """``pyarrow ChunkedArray (large_string) -> ArrowStringArray`` of an Arrow-backed
    ``StringDtype``, or None (no pyarrow, or another pandas). This is what pandas' own
    ``_from_pyarrow_array`` does; the public constructor re-checks the Arrow type and builds an
    ``ArrowDtype`` it then discards, on every call."""
    if _pa is None:
        return None
    cls = dtype.construct_array_type()

    def make(arr: Any) -> Any:
        out = cls.__new__(cls)
        out._pa_array = arr
        out._dtype = dtype
        out._cache = {}
        return out

    def public(arr: Any) -> Any:
        return pd.array(arr.to_pylist(), dtype=dtype)

    whole = _pa.chunked_array([["a", None, "é b", "c"]], type=_pa.large_string())
    cases = [(whole,), (whole.slice(1, 2),), (whole.slice(0, 0),)]
    chosen = pick("arrow_string", [make], public, cases, same_values)
    return make if chosen is make else None


# --- frames ---------------------------------------------------------------------------------


@functools.cache
def column_reader() -> Callable[[pd.DataFrame, list[int]], list[Any]] | None:
    """``(df, positions) -> the values of df's columns at positions``, read without building a
    Series per column (``df.iloc[:, j]``: tens of microseconds each); or None.

    A frame of one 2-D numpy block in column order (a node's ``to_frame``, a frame of numbers
    only) gives row ``j`` of its block; any other through ``DataFrame._get_column_array``. Kept
    only if, on probe frames (one block, one block in another column order, several blocks), it
    gives what ``df.iloc[:, j].to_numpy()`` gives.
    """
    get = getattr(pd.DataFrame, "_get_column_array", None)
    if get is None:  # pragma: no cover - another pandas
        _chosen("column_reader", False)
        return None

    def read(df: pd.DataFrame, positions: list[int]) -> list[Any]:
        blocks = df._mgr.blocks
        if len(blocks) == 1:
            values = blocks[0].values
            where = blocks[0].mgr_locs
            if (
                isinstance(values, np.ndarray)
                and values.ndim == 2
                and where.is_slice_like
                and where.as_slice == slice(0, len(values), 1)
            ):
                return [values[j] for j in positions]
        return [get(df, j) for j in positions]

    def public(df: pd.DataFrame, positions: list[int]) -> list[Any]:
        return [df.iloc[:, j].to_numpy() for j in positions]

    def same(got: list[Any], want: list[Any]) -> bool:
        return all(
            isinstance(g, np.ndarray)
            and g.dtype == w.dtype
            and np.array_equal(g, w, equal_nan=g.dtype.kind == "f")
            for g, w in zip(got, want, strict=True)
        )

    one = pd.DataFrame({"a": [1.5, np.nan], "b": [2.5, 3.0], "c": [4.0, 5.0]})
    several = pd.DataFrame({"a": [1.5, np.nan], "b": [1, 2], "c": [True, False]})
    several["d"] = several["b"] * 3  # a block of its own, after the frame was made
    frames = [one, one[["c", "a", "b"]], pd.Series([1.5, 2.0]).to_frame("x"), several]
    cases = [(f, list(range(f.shape[1]))[::-1]) for f in frames]
    chosen = pick("column_reader", [read], public, cases, same)
    return read if chosen is read else None


def frame_builders(labels: pd.Index) -> list[Callable[[list[Any], int], pd.DataFrame]]:
    """Candidates for ``(column arrays, n) -> DataFrame`` with columns ``labels`` and a
    RangeIndex, without the public constructor's inference and consolidation; the caller
    probes them (:func:`pick`) on its own rows. Each frame gets a view of ``labels`` (an Index
    object of its own: a node that names its columns' index names no other frame's).

    ``unconsolidated``: pandas' block manager with one block per column, as a frame after
    column assignments has (pandas consolidates later if an operation needs it).
    ``unchecked``: ``DataFrame._from_arrays`` without the integrity check.
    """
    range_index = pd.RangeIndex.from_range
    out: list[Callable[[list[Any], int], pd.DataFrame]] = []
    try:
        from pandas.core.internals.construction import arrays_to_mgr

        from_mgr = pd.DataFrame._from_mgr  # type: ignore[attr-defined]
        # pandas 2.x asks which manager ("block" or "array"); 3.x has only blocks.
        extra = {"typ": "block"} if "typ" in inspect.signature(arrays_to_mgr).parameters else {}

        def unconsolidated(arrays: list[Any], n: int) -> pd.DataFrame:
            mgr = arrays_to_mgr(
                arrays, labels.view(), range_index(range(n)), verify_integrity=False,
                consolidate=False, **extra,
            )
            return cast(pd.DataFrame, from_mgr(mgr, axes=mgr.axes))

        out.append(unconsolidated)
    except (ImportError, AttributeError, TypeError, ValueError):  # pragma: no cover
        pass
    from_arrays = getattr(pd.DataFrame, "_from_arrays", None)
    if from_arrays is not None:

        def unchecked(arrays: list[Any], n: int) -> pd.DataFrame:
            return cast(
                pd.DataFrame,
                from_arrays(
                    arrays, columns=labels.view(), index=range_index(range(n)),
                    verify_integrity=False,
                ),
            )

        out.append(unchecked)
    return out


_Restorer = Callable[[Any, list[int]], Any]


def blocks_builder(
    labels: pd.Index,
    plain: Sequence[np.dtype | None],
    restorers: Sequence[_Restorer],
    arrow_texts: Sequence[int],
) -> Callable[[list[tuple[list[Any], list[int]]], int], pd.DataFrame] | None:
    """A candidate for ``(the decode loop's (values, missing) per column, n) -> DataFrame``,
    laid out as pandas' constructor lays it out, or None; the caller probes it (:func:`pick`).

    ``pd.DataFrame(dict)`` stacks the columns of one numpy dtype into one 2-D block. Here the
    caller says which columns those are (``plain[i]``: the numpy dtype column ``i``'s values go
    into as they are, else None), so each group's block is one ``np.array`` of the decoded
    lists, with no 1-D array per column to make and stack; every other column is restored
    (``restorers[i]``) into a block of its own. The columns at ``arrow_texts`` (two or more,
    each restorer with a ``from_arrow``) are converted to Arrow in one call and sliced.
    """
    try:
        from pandas._libs.internals import BlockPlacement
        from pandas.core.internals.blocks import (
            ExtensionBlock,
            ensure_block_shape,
            get_block_type,
            new_block_2d,
        )
        from pandas.core.internals.managers import BlockManager

        from_mgr = pd.DataFrame._from_mgr  # type: ignore[attr-defined]
        positions: dict[np.dtype, list[int]] = {}
        # (position, restorer, placement, the block class of its 2-D values when the
        # restorer's dtype is fixed, else None: new_block_2d looks it up per call)
        others: list[tuple[int, _Restorer, Any, Any]] = []
        texts: list[tuple[int, Callable[[Any], Any], Any]] = []
        for i, (dtype, restore) in enumerate(zip(plain, restorers, strict=True)):
            if dtype is not None:
                positions.setdefault(dtype, []).append(i)
            elif i in arrow_texts:
                texts.append((i, restore.from_arrow, BlockPlacement(slice(i, i + 1))))  # type: ignore[attr-defined]
            else:
                klass = None
                fixed = getattr(restore, "dtype", None)
                # an ExtensionBlock holds 1-D values: new_block_2d's way for those
                if fixed is not None and not issubclass(get_block_type(fixed), ExtensionBlock):
                    klass = get_block_type(fixed)
                others.append((i, restore, BlockPlacement(slice(i, i + 1)), klass))
        groups = [
            (dtype, get_block_type(dtype), BlockPlacement(pos), tuple(pos))
            for dtype, pos in positions.items()
        ]
        if texts:
            assert _pa is not None  # an Arrow string restorer exists only with pyarrow
            chunked, large = _pa.chunked_array, _pa.large_string()
            # The block class of the string arrays (new_block_2d would look it up per column).
            text_block = get_block_type(texts[0][1](chunked([[]], type=large)).dtype)
    except (ImportError, AttributeError, TypeError, ValueError):  # pragma: no cover
        return None
    range_index = pd.RangeIndex.from_range
    np_array = np.array

    def blocks(cols: list[tuple[list[Any], list[int]]], n: int) -> pd.DataFrame:
        out = [
            klass(np_array([cols[i][0] for i in pos], dtype=dtype), ndim=2, placement=bp)
            for dtype, klass, bp, pos in groups
        ]
        for i, restore, bp, klass in others:
            v, m = cols[i]
            if klass is not None:
                out.append(klass(restore(v, m).reshape(1, -1), ndim=2, placement=bp))
            else:
                out.append(new_block_2d(ensure_block_shape(restore(v, m), 2), bp))
        if texts:
            # The string columns' cells in one chunked Arrow array, each column a slice of
            # it: one conversion instead of one per column.
            cells: list[Any] = []
            for i, _, _ in texts:
                cells += cols[i][0]
            whole = chunked([cells], type=large)
            for k, (_, make, bp) in enumerate(texts):
                out.append(text_block(make(whole.slice(k * n, n)), ndim=2, placement=bp))
        mgr = BlockManager(out, [labels.view(), range_index(range(n))], verify_integrity=False)
        return cast(pd.DataFrame, from_mgr(mgr, axes=mgr.axes))

    return blocks


# --- the garbage collector ------------------------------------------------------------------


class _GcPause:
    """See :data:`gc_paused`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._resume = False

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._resume:
                gc.enable()


#: ``with gc_paused:`` the cyclic garbage collector is off for the block, then back as it was.
#:
#: Why: decoding a big table (the codec uses it from 2,000 rows) makes millions of Python
#: objects (a float, int or str per cell, in lists) that all survive the block. Each of them
#: counts toward the collector's allocation threshold, so it runs again and again and scans
#: them all, finding no garbage: about a tenth of the decode's time. The objects hold no
#: reference cycles, so nothing is lost by not collecting during the block.
#:
#: Bounds: the switch is interpreter-wide (``gc.disable`` has no per-thread form), so it is
#: held only around the decode loop, by depth: with several threads decoding at once, the first
#: to enter turns it off and the last to leave turns it back on, and only if it was on before
#: the first entered (a process that disabled gc itself keeps it disabled). An exception in
#: the block re-enables it too.
gc_paused = _GcPause()
