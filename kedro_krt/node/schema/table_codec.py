"""The table codec: one ``repeated <Name>Row`` field <-> a ``pd.DataFrame``, column-wise.

Built once per table field (in a node's ``init``): the decode loop is generated as Python source
for the row type (one attribute read per cell, presence only where a cell may be unset), and
encoding goes through the vectorised wire encoder (:mod:`kedro_krt.node.schema.wire`) above a few
rows. :class:`kedro_krt.node.schema.codec.MessageCodec` uses it for every table field.
"""

from __future__ import annotations

import datetime as _dt
import keyword
import math
from collections.abc import Callable, Mapping
from typing import Any, cast

import numpy as np
import pandas as pd
from google.protobuf.descriptor import Descriptor

from kedro_krt.node.errors import KrtError
from kedro_krt.node.schema import pandas_private
from kedro_krt.node.schema.types import Column, Field, validity_fields
from kedro_krt.node.schema.wire import (
    ColumnWire,
    encode_rows,
    length_delimited,
    packed_doubles,
    packed_varints,
    repeated_bytes,
)

try:  # pyarrow makes string columns cheaper to encode; it is optional
    import pyarrow as _pa
except ImportError:  # pragma: no cover - exercised only where pyarrow is absent
    _pa = None

__all__ = ["CodecError", "ColumnsCodec", "TableCodec"]

NS_PER_S = 1_000_000_000
_NAT = int(np.iinfo(np.int64).min)  # NaT's int64 representation
_NS_MAX = int(np.iinfo(np.int64).max)  # pandas' latest datetime64[ns]
_SMALL_TABLE = 32  # rows; above this the vectorised wire encoder wins
#: google.protobuf.Timestamp's range, 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z,
#: as protobuf checks it for JSON (google/protobuf/internal/well_known_types.py).
TIMESTAMP_SECONDS_MIN = -62_135_596_800
TIMESTAMP_SECONDS_MAX = 253_402_300_799
#: Whole seconds whose every valid Timestamp fits a datetime64[ns] (a decode goes through int64
#: nanoseconds, NaT being the int64 minimum): values inside need no closer look.
_NS_SAFE_SECONDS_MIN = _NAT // NS_PER_S + 1
_NS_SAFE_SECONDS_MAX = _NS_MAX // NS_PER_S - 1
#: Per column kind, the numpy dtype kinds whose cells go into its field as they are.
_PLAIN_KINDS = {"double": "fiu", "int64": "i", "bool": "b"}
_PLAIN_KINDS.update(dict.fromkeys(("string", "bytes", "timestamp"), ""))


class CodecError(KrtError, ValueError):
    """A value does not fit the field it is encoded into (or a message does not fit its codec)."""


def field_of(desc: Any, name: str, what: str) -> Any:
    """The field `name` of the message `desc`; a CodecError when the generated code lacks it.

    ``what`` says where it was looked for, e.g. ``"the row message my.Row"``.
    """
    fd = desc.fields_by_name.get(name)
    if fd is None:
        raise CodecError(
            f"{what} has no field {name!r}; the generated code does not match the compiled "
            "plan, recompile the KRT"
        )
    return fd


# --- helpers --------------------------------------------------------------------------------


def _attr(obj: str, name: str) -> str:
    """Source text reading ``obj.name`` (via getattr when ``name`` is a Python keyword)."""
    if name.isidentifier() and not keyword.iskeyword(name):
        return f"{obj}.{name}"
    return f"getattr({obj}, {name!r})"


def _assign(obj: str, name: str, value: str) -> str:
    if name.isidentifier() and not keyword.iskeyword(name):
        return f"{obj}.{name} = {value}"
    return f"setattr({obj}, {name!r}, {value})"


def is_null(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    try:
        return bool(v != v)  # NaN and NaT-likes
    except (TypeError, ValueError):
        return False


def timestamp_ns(v: Any, where: str) -> int:
    """Nanoseconds since the epoch (UTC) of a datetime-like scalar."""
    try:
        ts = pd.Timestamp(v)
    except (TypeError, ValueError) as exc:
        raise CodecError(f"{where}: expected a timestamp, got {type(v).__name__} {v!r}") from exc
    if ts is pd.NaT:
        raise CodecError(f"{where}: NaT is not a timestamp")
    if ts.tz is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return int(ts.as_unit("ns").value)


def _utc_text(seconds: int, nanos: int) -> str:
    when = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=seconds)
    return f"{when.isoformat()}.{nanos:09d}Z"


def timestamp_fault(seconds: int, nanos: int) -> str | None:
    """Why a ``google.protobuf.Timestamp`` cannot be decoded, or None when it can.

    Its range is protobuf's (the JSON mapping refuses any other value, and so does
    ``Timestamp.ToDatetime``); within it, a decoded timestamp is pandas' int64 nanoseconds,
    whose range is narrower.
    """
    if not TIMESTAMP_SECONDS_MIN <= seconds <= TIMESTAMP_SECONDS_MAX:
        return (
            f"Timestamp is not valid: Seconds {seconds} must be in range "
            f"[{TIMESTAMP_SECONDS_MIN}, {TIMESTAMP_SECONDS_MAX}], that is "
            "0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z (google.protobuf.Timestamp)"
        )
    if not 0 <= nanos < NS_PER_S:
        return f"Timestamp is not valid: Nanos {nanos} must be in range [0, 999999999]"
    if not _NAT < seconds * NS_PER_S + nanos <= _NS_MAX:
        return (
            f"{_utc_text(seconds, nanos)} is outside the range of pandas' nanosecond "
            "timestamps, which a message's timestamps are decoded through: "
            "1677-09-21T00:12:43.145224193Z to 2262-04-11T23:47:16.854775807Z"
        )
    return None


def timestamps_ns(stamps: Any, where: str) -> list[int]:
    """The int64 nanoseconds of repeated Timestamps ``stamps``; refuses one that does not decode
    (``where[i]`` names it)."""
    out: list[int] = []
    append = out.append
    for i, t in enumerate(stamps):
        s, n = t.seconds, t.nanos
        # Compared in line: cheaper than lists of seconds and nanos checked afterwards.
        if not (0 <= n < NS_PER_S and _NS_SAFE_SECONDS_MIN <= s <= _NS_SAFE_SECONDS_MAX):
            error = timestamp_error(f"{where}[{i}]", s, n)
            if error is not None:
                raise error
        append(s * NS_PER_S + n)
    return out


def timestamp_error(where: str, seconds: int, nanos: int) -> CodecError | None:
    """The error for a Timestamp that cannot be decoded (``where`` names the row and field)."""
    fault = timestamp_fault(seconds, nanos)
    if fault is None:
        return None
    return CodecError(
        f"{where} is Timestamp(seconds={seconds}, nanos={nanos}): {fault}; send a timestamp "
        "in that range"
    )


def ns_to_datetime_array(ns: list[int], dtype: str) -> Any:
    """int64 nanoseconds (``_NAT`` for missing) -> DatetimeArray/Index of ``dtype``."""
    arr = np.array(ns, dtype=np.int64).view("datetime64[ns]")
    try:
        target = pd.api.types.pandas_dtype(dtype)
    except TypeError:
        target = np.dtype("datetime64[ns]")
    idx = pd.DatetimeIndex(arr)
    if isinstance(target, pd.DatetimeTZDtype):
        return idx.tz_localize("UTC").tz_convert(target.tz).as_unit(target.unit).array
    if isinstance(target, np.dtype) and target.kind == "M":
        return idx.as_unit(np.datetime_data(target)[0]).array
    return idx.array


# --- tables ---------------------------------------------------------------------------------


_Restorer = Callable[[Any, list[int]], Any]


def _column_restorer(col: Column) -> _Restorer:
    """Decoded column values -> array of the original dtype, the cheapest sound way.

    The public constructors (``pd.array``, ``DatetimeIndex``...) validate and infer on every
    call, which costs more than the data for a few rows. Where the schema fixes the dtype, a
    direct constructor does the same job (:mod:`~kedro_krt.node.schema.pandas_private`); it is used
    only if it gives exactly what the public one gives on probe values of the column (dtype and
    values), else the public one is kept.
    """
    safe = _safe_restorer(col)
    cases = [(list(vals), missing) for vals, missing in _probes(col)]
    return pandas_private.pick(
        f"restore {col.dtype}", [_fast_restorer(col)], safe, cases, pandas_private.same_values
    )


def _probes(col: Column) -> list[tuple[list[Any], list[int]]]:
    """Decoded values of ``col`` as the decode loops give them, with a null if it may have one."""
    values: dict[str, list[Any]] = {
        "double": [1.5, -0.25],
        "int64": [1, 2],  # fits every integer dtype a column may restore to
        "bool": [True, False],
        "string": ["a", "é b"],
        "bytes": [b"a", b"\x00"],
        "timestamp": [1_600_000_000_123_456_000, -86_400_000_000_000],
    }
    vals = values[col.kind]
    out: list[tuple[list[Any], list[int]]] = [(vals, []), (vals[:1], []), ([], [])]
    if col.optional:
        null = {"double": math.nan, "timestamp": _NAT, "int64": 0, "bool": False}.get(col.kind)
        missing = [1] if col.kind in ("int64", "bool") else []
        out.append(([vals[0], null], missing))
    return out


def _fast_restorer(col: Column) -> _Restorer | None:
    """A direct constructor for the column's dtype, or None (see :func:`_column_restorer`)."""
    try:
        target: Any = pd.api.types.pandas_dtype(col.dtype)
    except TypeError:
        return None
    if col.kind == "timestamp":
        tz = isinstance(target, pd.DatetimeTZDtype)
        if not tz and not (isinstance(target, np.dtype) and target.kind == "M"):
            return None
        unit: Any = target.unit if tz else np.datetime_data(target)[0]
        step = int(np.timedelta64(1, unit) // np.timedelta64(1, "ns"))
        m8 = np.dtype(f"M8[{unit}]")
        slow = _safe_restorer(col)
        make = pandas_private.datetime_array_maker(target if tz else m8)
        if make is None:
            return None

        def _ts(ns: Any, missing: list[int]) -> Any:
            # Exact only when every value but NaT is a whole number of the unit; else the
            # public path rounds as pandas does.
            if isinstance(ns, list) and len(ns) <= _SMALL_TABLE:
                # A few values: integer division in Python costs less than numpy's calls.
                if step > 1:
                    if any(v % step for v in ns if v != _NAT):
                        return slow(ns, missing)
                    ns = [v if v == _NAT else v // step for v in ns]
                return make(np.array(ns, dtype=np.int64).view(m8))
            arr = np.asarray(ns, dtype=np.int64)
            if step > 1 and bool(((arr % step != 0) & (arr != _NAT)).any()):
                return slow(ns, missing)
            # A DatetimeArray already: the frame would wrap a bare datetime64 array by
            # re-validating it (``_from_sequence``) on every call.
            return make(arr.view("M8[ns]").astype(m8))

        _ts.dtype = target if tz else m8  # type: ignore[attr-defined]  # every call's
        return _ts
    if col.kind == "string" and isinstance(target, pd.StringDtype) and target.storage == "python":
        # pandas' default string dtype without pyarrow (the runner image): an object array of
        # str and the dtype's NA, which ``pd.array`` would check and convert cell by cell.
        from_backing = pandas_private.python_string_maker(target)
        if from_backing is None:  # pragma: no cover - another pandas
            return None
        na, obj = target.na_value, np.dtype(object)

        def _pystr(vals: list[Any], missing: list[int]) -> Any:
            arr = np.array(vals, dtype=obj)
            if None in vals:  # unset cells of an optional column
                arr[[i for i, v in enumerate(vals) if v is None]] = na
            return from_backing(arr)

        return _pystr
    if col.kind == "string" and isinstance(target, pd.StringDtype) and _pa is not None:
        if target.storage != "pyarrow":
            return None
        _str_of = pandas_private.arrow_string_maker(target)
        if _str_of is None:  # pragma: no cover - another pandas
            return None
        large = _pa.large_string()
        chunked = _pa.chunked_array

        def _str(vals: list[Any], missing: list[int]) -> Any:
            return _str_of(chunked([vals], type=large))

        _str.from_arrow = _str_of  # type: ignore[attr-defined]  # from a (slice of a) chunked array
        return _str
    return None


def _safe_restorer(col: Column) -> _Restorer:
    """Decoded column values -> array of the original dtype, by pandas' public constructors.

    The decode loop gives: doubles with NaN for unset; ints/bools with 0/False for unset and the
    unset row numbers in ``missing``; strings/bytes with None for unset; timestamps as int64
    nanoseconds with ``_NAT`` for unset.
    """
    dtype = col.dtype
    if col.kind == "timestamp":
        return lambda ns, missing: ns_to_datetime_array(ns, dtype)
    try:
        target: Any = pd.api.types.pandas_dtype(dtype)
    except TypeError:
        target = np.dtype(object)
    if col.kind in ("int64", "bool"):
        base = np.dtype(np.int64) if col.kind == "int64" else np.dtype(bool)
        if isinstance(target, np.dtype) and target.kind in "iub":
            base = target
        masked = pd.arrays.IntegerArray if col.kind == "int64" else pd.arrays.BooleanArray

        def _masked(vals: list[Any], missing: list[int]) -> Any:
            arr = np.array(vals, dtype=base)
            if isinstance(target, np.dtype) and target.kind in "iub" and not missing:
                return arr
            if isinstance(target, np.dtype) and target.kind not in "iub":
                if not missing:
                    return arr.astype(target)
                out = arr.astype(object)
                out[missing] = None
                return out
            mask = np.zeros(len(arr), dtype=bool)
            mask[missing] = True
            # A numpy int/bool column that received nulls cannot stay numpy: use Int64/boolean.
            values = arr.astype(np.int64 if col.kind == "int64" else bool, copy=False)
            result = masked(values, mask)
            if not isinstance(target, np.dtype) and result.dtype != target:
                return result.astype(target)
            return result

        return _masked
    if isinstance(target, np.dtype):
        if target.kind == "f":
            return lambda vals, missing: np.array(vals, dtype=target)
        obj = np.dtype(object)

        def _obj(vals: list[Any], missing: list[int]) -> Any:
            arr = np.empty(len(vals), dtype=obj)
            arr[:] = vals
            return arr  # TableCodec._frame keeps it object (pandas would infer `str`)

        return _obj
    if isinstance(target, pd.CategoricalDtype):
        if target.categories is None:  # "category" without categories: infer them, as pandas does
            return lambda vals, missing: pd.Categorical(vals)
        return lambda vals, missing: pd.Categorical(vals, dtype=target)
    # extension dtypes: Float64, string, str ...
    return lambda vals, missing: pd.array(vals, dtype=target)


def _arrow_labels(cols: pd.Index) -> Any:
    """The Arrow array of pandas' default (Arrow) string labels without a null, or None."""
    values = cols.array
    to_arrow = getattr(values, "__arrow_array__", None)
    # A python-backed StringDtype has __arrow_array__ too, which imports pyarrow: only Arrow
    # storage takes this path (the runner image has no pyarrow unless the project asks for it).
    if (
        to_arrow is not None
        and isinstance(values.dtype, pd.StringDtype)
        and values.dtype.storage == "pyarrow"
    ):
        arr = to_arrow()
        if arr.null_count == 0:  # a null would be None in to_pylist() and NaN in tolist()
            return arr
    return None


def _label_list(cols: pd.Index) -> list[Any]:
    """``cols.tolist()``, cheaper for pandas' default (Arrow) string labels: read from the
    Arrow array in one call (its interchange protocol) rather than through numpy objects."""
    arr = _arrow_labels(cols)
    if arr is not None:
        return cast(list[Any], arr.to_pylist())
    return cast(list[Any], cols.tolist())


def _plain_dtype(col: Column) -> np.dtype | None:
    """The numpy dtype a column's decoded values go into as they are, or None.

    Numbers and booleans that need no null restored (doubles carry NaN; a non-optional int
    or bool column has none): :func:`_safe_restorer` makes them ``np.array(values, dtype)``.
    """
    try:
        target: Any = pd.api.types.pandas_dtype(col.dtype)
    except TypeError:
        return None
    if not isinstance(target, np.dtype):
        return None
    if col.kind == "double" and target.kind == "f":
        return target
    if col.kind in ("int64", "bool") and not col.optional and target.kind in "iub":
        return target
    return None


_GC_PAUSE_ROWS = 2_000


class TableCodec:
    """Column-wise codec of one ``repeated <Name>Row`` field."""

    def __init__(self, field: Field, field_number: int, row_desc: Descriptor, owner: str) -> None:
        self.field = field
        self.field_number = field_number
        self.where = f"{owner}.{field.name}"
        self.columns = field.type.columns
        self.originals = [c.original for c in self.columns]
        self.numbers: list[int] = []
        for c in self.columns:
            what = f"{self.where}: the row message {row_desc.full_name}"
            self.numbers.append(field_of(row_desc, c.name, what).number)
        self.restorers = [_column_restorer(c) for c in self.columns]
        self._index = pd.Index(self.originals)  # as DataFrame(dict) labels it
        self._build_frame = self._frame_builder()
        self._from_rows = self._blocks_builder() or self._restored_frame
        self._decode_rows = self._gen_decoder()
        self._empty: pd.DataFrame | None = None
        self._read_columns = pandas_private.column_reader()
        # Labels compared as Arrow arrays (see _positions_in); never with duplicate names.
        unique = len(set(self.originals)) == len(self.originals)
        self._schema_labels = _arrow_labels(self._index) if unique else None
        self._in_order = list(range(len(self.originals)))

    def _gen_decoder(self) -> Callable[[Any], list[tuple[list[Any], list[int]]]]:
        lines = ["def _decode(rows):"]
        for i in range(len(self.columns)):
            lines.append(f"    l{i} = []; a{i} = l{i}.append; x{i} = []; m{i} = x{i}.append")
        if any(
            (c.optional and c.kind in ("int64", "bool")) or (c.must_send)
            for c in self.columns
        ):
            lines.append("    for i, r in enumerate(rows):")
        else:
            lines.append("    for r in rows:")
        for i, c in enumerate(self.columns):
            get = _attr("r", c.name)
            if c.kind == "timestamp":
                lines.append(f"        if r.HasField({c.name!r}):")
                lines.append(f"            t = {get}; s = t.seconds; n = t.nanos")
                lines.append(f"            if not (0 <= n < {NS_PER_S} and LO <= s <= HI):")
                lines.append(f"                bad(rows, {c.name!r}, {c.original!r})")
                lines.append(f"            a{i}(s * {NS_PER_S} + n)")
                if c.must_send:
                    lines.append(f"        else: missing({c.original!r}, i)")
                else:
                    lines.append(f"        else: a{i}({_NAT})")
            elif c.must_send:
                # Only a default-valued cell can be unset: HasField is paid for zeros only.
                lines.append(f"        v = {get}")
                lines.append(f"        if v or r.HasField({c.name!r}): a{i}(v)")
                lines.append(f"        else: missing({c.original!r}, i)")
            elif c.optional:
                # Only a default-valued cell can be unset: HasField is paid for zeros only.
                lines.append(f"        v = {get}")
                lines.append(f"        if v or r.HasField({c.name!r}): a{i}(v)")
                if c.kind == "double":
                    lines.append(f"        else: a{i}(NAN)")
                elif c.kind in ("int64", "bool"):
                    lines.append(f"        else: a{i}(v); m{i}(i)")
                else:
                    lines.append(f"        else: a{i}(None)")
            else:
                lines.append(f"        a{i}({get})")
        cols = ", ".join(f"(l{i}, x{i})" for i in range(len(self.columns)))
        lines.append(f"    return [{cols}]")
        namespace: dict[str, Any] = {
            "NAN": math.nan, "missing": self._missing, "bad": self._bad_timestamp,
            "LO": _NS_SAFE_SECONDS_MIN, "HI": _NS_SAFE_SECONDS_MAX,
        }
        exec(compile("\n".join(lines), f"<krt decode {self.where}>", "exec"), namespace)
        return cast(Callable[[Any], list[tuple[list[Any], list[int]]]], namespace["_decode"])

    def _missing(self, column: str, index: int) -> None:
        raise CodecError(
            f"{self.where}: row {index} has no {column!r}; the column is required and was not "
            "sent (proto3 would read it as 0, false or \"\"); send a value, or declare the "
            "column optional ('?') under `schemas:` in krt.yml if a missing value is meaningful"
        )

    def _bad_timestamp(self, rows: Any, name: str, original: str) -> None:
        """Raise for the first cell of column ``name`` that does not decode (the generated loop
        found one that may not: a value near pandas' limits may still fit, and then this returns).
        """
        for i, r in enumerate(rows):
            if r.HasField(name):
                t = getattr(r, name)
                error = timestamp_error(
                    f"{self.where}: row {i}, column {original!r},", t.seconds, t.nanos
                )
                if error is not None:
                    raise error

    def presence_checker(self) -> Callable[[Any], None] | None:
        """A check that every required cell was sent and every Timestamp is one that decodes,
        without decoding (None: nothing to check).

        For a request table that a node passes on without reading: it must be refused where
        it enters, since the messages between nodes carry no presence, and a later node's
        refusal would come after the work of those before it.
        """
        required = [c for c in self.columns if c.must_send]
        stamps = [c for c in self.columns if c.kind == "timestamp"]
        if not required and not stamps:
            return None
        lines = ["def _check(rows):", "    for i, r in enumerate(rows):"]
        for c in self.columns:
            if c.kind == "timestamp":
                lines.append(f"        if r.HasField({c.name!r}):")
                lines.append(f"            t = {_attr('r', c.name)}; s = t.seconds; n = t.nanos")
                lines.append(f"            if not (0 <= n < {NS_PER_S} and LO <= s <= HI):")
                lines.append(f"                bad(rows, {c.name!r}, {c.original!r})")
                if c in required:
                    lines.append(f"        else: missing({c.original!r}, i)")
            elif c in required:
                get = _attr("r", c.name)
                lines.append(
                    f"        if not ({get} or r.HasField({c.name!r})): missing({c.original!r}, i)"
                )
        namespace: dict[str, Any] = {
            "missing": self._missing, "bad": self._bad_timestamp,
            "LO": _NS_SAFE_SECONDS_MIN, "HI": _NS_SAFE_SECONDS_MAX,
        }
        exec(compile("\n".join(lines), f"<krt presence {self.where}>", "exec"), namespace)
        return cast(Callable[[Any], None], namespace["_check"])

    # decode

    def decode(self, rows: Any) -> pd.DataFrame:
        if not len(rows):
            if self._empty is None:
                self._empty = self._frame([r([], []) for r in self.restorers], 0)
            return self._empty.copy()
        if len(rows) < _GC_PAUSE_ROWS:
            cols = self._decode_rows(rows)
        else:
            # Reading a big table allocates millions of objects that all survive: the cyclic
            # GC would scan them again and again for nothing (see pandas_private.gc_paused).
            with pandas_private.gc_paused:
                cols = self._decode_rows(rows)
        return self._from_rows(cols, len(rows))

    def _restored_frame(self, cols: list[tuple[list[Any], list[int]]], n: int) -> pd.DataFrame:
        arrays = [r(v, m) for r, (v, m) in zip(self.restorers, cols, strict=True)]
        return self._frame(arrays, n)

    def _frame(self, arrays: list[Any], n: int) -> pd.DataFrame:
        """The DataFrame of the restored column arrays (fresh, owned by nobody else)."""
        return self._build_frame(arrays, n)

    def _public_frame(self, arrays: list[Any], n: int) -> pd.DataFrame:
        # An object array would be re-inferred as `str` by the DataFrame: say object.
        cols = {
            name: pd.Series(a, dtype=a.dtype, copy=False)
            if isinstance(a, np.ndarray) and a.dtype == object
            else a
            for name, a in zip(self.originals, arrays, strict=True)
        }
        return pd.DataFrame(cols, index=pd.RangeIndex(n), copy=False)

    def _frame_builder(self) -> Callable[[list[Any], int], pd.DataFrame]:
        """The cheapest sound way to make this table's frames, chosen once per codec.

        ``pd.DataFrame(dict)`` checks and infers every column on every call, and then
        consolidates columns of one dtype into 2-D blocks (copying them): for a few rows that
        is most of a decode. The schema fixes the names, order and dtypes and the restorers
        give fresh arrays of the right length, so a frame can be made from them directly
        (:func:`kedro_krt.node.schema.pandas_private.frame_builders`: pandas' block manager without
        consolidation, else ``DataFrame._from_arrays`` without the integrity check). Each is
        used only if, on probe rows of every column, it gives exactly the frame the public
        constructor gives (dtypes, values, labels) and raises nothing; else the public
        constructor is kept.
        """
        if len(set(self.originals)) != len(self.originals):
            return self._public_frame
        cases = [
            ([r(v, m) for r, (v, m) in zip(self.restorers, cols, strict=True)], k)
            for cols, k in self._probe_rows()
        ]
        return pandas_private.pick(
            "frame", pandas_private.frame_builders(self._index), self._public_frame, cases,
            self._same_frame,
        )

    def _blocks_builder(
        self,
    ) -> Callable[[list[tuple[list[Any], list[int]]], int], pd.DataFrame] | None:
        """Frames straight from the decode loop's lists, as pandas' constructor lays them out
        (:func:`kedro_krt.node.schema.pandas_private.blocks_builder`): the columns that
        :func:`_plain_dtype` says need no restoring (numbers and booleans without a null to
        restore) go into one 2-D block per dtype, the others are restored. Kept only if, on
        probe rows with and without nulls, it gives exactly the frame the public constructor
        gives; else None.
        """
        if len(set(self.originals)) != len(self.originals):
            return None
        plain = [_plain_dtype(c) for c in self.columns]
        texts = [
            i for i, (dtype, r) in enumerate(zip(plain, self.restorers, strict=True))
            if dtype is None and getattr(r, "from_arrow", None) is not None
        ]
        if len(texts) < 2:  # one Arrow array per column anyway: restore it as the others
            texts = []
        fast = pandas_private.blocks_builder(self._index, plain, self.restorers, texts)

        def public(cols: list[tuple[list[Any], list[int]]], n: int) -> pd.DataFrame:
            arrays = [r(v, m) for r, (v, m) in zip(self.restorers, cols, strict=True)]
            return self._public_frame(arrays, n)

        chosen = pandas_private.pick(
            "blocks", [fast], public, self._probe_rows(), self._same_frame
        )
        return None if chosen is public else chosen

    def _probe_rows(self) -> list[tuple[list[tuple[list[Any], list[int]]], int]]:
        """The decode loop's output for 2, 1 and 0 probe rows, without nulls and with them
        (the last probe of an optional column has a null)."""
        out = []
        for nulls in (False, True):
            probes = [_probes(c)[-1 if nulls and c.optional else 0] for c in self.columns]
            for k in (2, 1, 0):
                out.append(([(list(v)[:k], [i for i in m if i < k]) for v, m in probes], k))
        return out

    def _same_frame(self, fast: pd.DataFrame, public: pd.DataFrame) -> bool:
        """Alike as pandas_private.same_frame says, and with labels of its own."""
        return pandas_private.same_frame(fast, public) and fast.columns is not self._index

    # encode

    def encode(self, msg: Any, value: Any) -> None:
        """Append the rows of ``value`` to the (cleared) repeated field of ``msg``."""
        df = self._as_frame(value)
        positions = self._positions_in(df)
        if len(df) <= _SMALL_TABLE:
            self._encode_small(msg, df, positions)
            return
        wires = [
            self._column_wire(c, number, df[c.original])
            for c, number in zip(self.columns, self.numbers, strict=True)
        ]
        data = encode_rows(self.field_number, len(df), wires)
        try:
            msg.MergeFromString(data)
        except Exception as exc:  # our bug, not the user's: say so
            raise CodecError(f"{self.where}: internal error encoding the table: {exc}") from exc

    def _positions_in(self, df: pd.DataFrame) -> list[int]:
        """Where each of the schema's columns is in ``df``; refuses duplicate or missing ones.

        The labels are read once, as a list: a frame made by a node has a new column Index,
        whose every iteration (``in``, ``set``, ``tuple``) converts its Arrow strings again.
        """
        cols = df.columns
        if self._schema_labels is not None:
            # The schema's columns in its order, and no other (a frame the node built from
            # them): one comparison of the Arrow arrays, no Python string per label.
            arr = _arrow_labels(cols)
            if arr is not None and arr.equals(self._schema_labels):
                return self._in_order
        where: dict[Any, int] | None = None
        if len(cols) < 256:
            names = _label_list(cols)
            where = {name: j for j, name in enumerate(names)}
            duplicates = len(where) != len(names)
        else:
            duplicates = bool(cols.has_duplicates)
        if duplicates:
            raise CodecError(f"{self.where}: the DataFrame has duplicate column names")
        labels: Any = where if where is not None else cols
        missing = [c for c in self.originals if c not in labels]
        if missing:
            raise CodecError(
                f"{self.where}: the DataFrame lacks the column(s) {missing}; expected the columns "
                f"{self.originals} (its schema)"
            )
        if where is not None:
            return [where[c] for c in self.originals]
        return cast(list[int], cols.get_indexer(self.originals).tolist())

    def _plain_columns(self, df: pd.DataFrame, positions: list[int]) -> list[list[Any]] | None:
        """Each column's cells as Python numbers, when every column is a numpy array whose
        cells go into its field as they are (doubles from numbers, int64 from ints, bools from
        bools); else None (the cell-by-cell path, with its conversions and messages).

        ``tolist`` of a numpy array gives Python ``float``/``int``/``bool``: no ``np.generic`` to
        unwrap, and only a double can be null (NaN). A model's output table is usually this.
        """
        read = self._read_columns
        if read is None:
            return None
        out = []
        for c, arr in zip(self.columns, read(df, positions), strict=True):
            if not isinstance(arr, np.ndarray) or arr.ndim != 1:
                return None
            if arr.dtype.kind not in _PLAIN_KINDS[c.kind]:
                return None
            out.append(arr.tolist())
        return out

    def _encode_plain(self, msg: Any, cells: list[list[Any]], n: int) -> None:
        rows = getattr(msg, self.field.name)
        named = [
            (c.name, values, c.kind == "double" and c.optional)
            for c, values in zip(self.columns, cells, strict=True)
        ]
        for i in range(n):
            r = rows.add()
            for name, values, optional in named:
                v = values[i]
                if optional and v != v:  # NaN in an optional double: null, left unset
                    continue
                setattr(r, name, v)

    def _encode_small(self, msg: Any, df: pd.DataFrame, positions: list[int]) -> None:
        """Cell by cell: for a few rows, numpy's per-call overhead costs more than the loop."""
        cells = self._plain_columns(df, positions)
        if cells is not None:
            self._encode_plain(msg, cells, len(df))
            return
        rows = getattr(msg, self.field.name)
        for i, row in enumerate(df.to_numpy(dtype=object).tolist()):
            r = rows.add()
            for c, j in zip(self.columns, positions, strict=True):
                v = row[j]
                if is_null(v):
                    if c.kind == "double" and not c.optional and v is not None and v is not pd.NA:
                        setattr(r, c.name, math.nan)
                    elif not c.optional and c.kind != "timestamp":
                        mask = np.ones(len(df), dtype=bool)
                        mask[i] = False
                        raise self._null_error(c, mask)
                    continue
                where = f"{self.where}[{c.original!r}] row {i}"
                if c.kind == "timestamp":
                    ns = timestamp_ns(v, where)
                    t = getattr(r, c.name)
                    t.seconds = ns // NS_PER_S
                    t.nanos = ns % NS_PER_S
                    continue
                if c.kind in ("string", "bytes") and v.__class__ is not (
                    str if c.kind == "string" else bytes
                ):
                    v = self._coerce(v, c.kind, where)
                elif c.kind == "bool" and not isinstance(v, (bool, np.bool_)):
                    raise CodecError(f"{where}: expected bool, got {type(v).__name__} {v!r}")
                elif c.kind == "int64" and isinstance(v, float):
                    if not v.is_integer():
                        raise CodecError(f"{where}: expected int64, got float {v!r}")
                    v = int(v)
                elif isinstance(v, np.generic):
                    v = v.item()
                try:
                    setattr(r, c.name, v)
                except (TypeError, ValueError) as exc:
                    raise CodecError(
                        f"{where}: expected {c.kind}, got {type(v).__name__} {v!r} ({exc})"
                    ) from exc

    def _as_frame(self, value: Any) -> pd.DataFrame:
        if isinstance(value, pd.DataFrame):
            return value  # its labels are checked by _positions_in
        if isinstance(value, (list, tuple)) or (
            isinstance(value, Mapping) and all(isinstance(v, (list, tuple)) for v in value.values())
        ):
            try:
                return pd.DataFrame(value)
            except (TypeError, ValueError) as exc:
                raise CodecError(
                    f"{self.where}: cannot read {type(value).__name__} as a table: {exc}"
                ) from exc
        raise CodecError(
            f"{self.where}: expected a pandas DataFrame (or a list of row dicts), "
            f"got {type(value).__name__}"
        )

    def _null_error(self, c: Column, mask: np.ndarray) -> CodecError:
        row = int(np.flatnonzero(~mask)[0])
        return CodecError(
            f"{self.where}: column {c.original!r} is null in row {row}, but the column is a "
            f"non-optional {c.kind}; declare it '{c.kind}?' in the schemas: section of krt.yml, "
            "or fill the nulls"
        )

    def _present(self, c: Column, mask: np.ndarray) -> np.ndarray | None:
        """``mask`` of present rows, None when all are; refuses nulls in a non-optional column."""
        if bool(mask.all()):
            return None
        if not c.optional:
            raise self._null_error(c, mask)
        return mask

    def _column_wire(self, c: Column, number: int, s: pd.Series) -> ColumnWire:
        where = f"{self.where}[{c.original!r}]"
        kind = c.kind
        if kind == "double":
            return ColumnWire.double(number, *self._double_values(c, s, where))
        if kind in ("int64", "bool"):
            arr, present = self._int_values(c, s, where)
            return ColumnWire.varint(number, arr, self._present(c, present))
        if kind == "timestamp":
            ns = self._timestamp_ns(s, where)
            present = ns != _NAT
            secs, nanos = np.divmod(ns, NS_PER_S)
            # NaT in a non-optional timestamp column is sent unset: a message field has presence.
            mask = None if bool(present.all()) else present
            return ColumnWire.timestamp(number, secs, nanos, mask)
        return self._text_wire(c, number, s, where)

    def _double_values(
        self, c: Column, s: pd.Series, where: str
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """A double column as float64 values and its present mask (None: all present)."""
        dtype = s.dtype
        try:
            if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
                arr = s.to_numpy(dtype=np.float64)
            else:
                arr = s.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise CodecError(f"{where}: expected numbers for a double column: {exc}") from exc
        # NaN is a valid double: a non-optional column sends it as such.
        return arr, (self._present(c, ~np.isnan(arr)) if c.optional else None)

    def _int_values(self, c: Column, s: pd.Series, where: str) -> tuple[np.ndarray, np.ndarray]:
        dtype = s.dtype
        want = "iub" if c.kind == "int64" else "b"
        if isinstance(dtype, np.dtype):
            if dtype.kind in want:
                return s.to_numpy().astype(np.int64), np.ones(len(s), dtype=bool)
            if dtype.kind == "f" and c.kind == "int64":
                arr = s.to_numpy()
                present = ~np.isnan(arr)
                filled = np.where(present, arr, 0.0)
                if not np.array_equal(filled, np.floor(filled)):
                    raise CodecError(f"{where}: expected whole numbers for an int64 column")
                return filled.astype(np.int64), present
        elif pd.api.types.is_bool_dtype(dtype) or (
            c.kind == "int64" and pd.api.types.is_integer_dtype(dtype)
        ):
            # nullable Int64 / boolean: values + mask
            present = ~s.isna().to_numpy()
            return s.to_numpy(dtype=np.int64, na_value=0), present
        # object (or anything else): check each value
        values = s.tolist()
        present = np.fromiter((not is_null(v) for v in values), dtype=bool, count=len(values))
        out = np.zeros(len(values), dtype=np.int64)
        for i, v in enumerate(values):
            if not present[i]:
                continue
            ok = (
                isinstance(v, (bool, np.bool_))
                if c.kind == "bool"
                else (isinstance(v, (int, np.integer)) or (isinstance(v, float) and v.is_integer()))
            )
            if not ok:
                raise CodecError(
                    f"{where}: row {i} holds {type(v).__name__} {v!r}; expected {c.kind}"
                )
            out[i] = int(v)
        return out, present

    @staticmethod
    def _timestamp_ns(s: pd.Series, where: str) -> np.ndarray:
        try:
            if not pd.api.types.is_datetime64_any_dtype(s.dtype):
                s = pd.to_datetime(s)
            if isinstance(s.dtype, pd.DatetimeTZDtype):
                s = s.dt.tz_convert("UTC").dt.tz_localize(None)
            return s.to_numpy(dtype="datetime64[ns]").view(np.int64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise CodecError(f"{where}: expected datetimes for a timestamp column: {exc}") from exc

    def _text_wire(self, c: Column, number: int, s: pd.Series, where: str) -> ColumnWire:
        return ColumnWire.raw(number, *self._text_buffers(c, s, where))

    def _text_buffers(
        self, c: Column, s: pd.Series, where: str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The UTF-8 (or raw) bytes of the present cells, their offsets, and the present mask."""
        dtype = s.dtype
        if (
            c.kind == "string"
            and _pa is not None
            and isinstance(dtype, pd.StringDtype)
            and dtype.storage == "pyarrow"
        ):
            # pandas' default str dtype is already UTF-8 in Arrow buffers: no Python objects.
            arr = _pa.chunked_array(_pa.array(s.array)).combine_chunks()
            present = ~arr.is_null().to_numpy(zero_copy_only=False)
            mask = self._present(c, present)
            if mask is not None:
                arr = arr.drop_null()
            return self._arrow_buffers(arr, mask)
        if isinstance(dtype, np.dtype):
            values = s.tolist()
        else:
            values = s.to_numpy(dtype=object, na_value=None).tolist()
        want = str if c.kind == "string" else bytes
        if not all(v.__class__ is want for v in values):
            values = [self._coerce(v, c.kind, where) for v in values]
        if any(v is None for v in values):
            present = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
            mask = self._present(c, present)
            values = [v for v in values if v is not None]
        else:
            mask = None
        if c.kind == "string" and _pa is not None:
            return self._arrow_buffers(_pa.array(values, type=_pa.large_string()), mask)
        encoded = [v.encode("utf-8") for v in values] if c.kind == "string" else values
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(
            np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:]
        )
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return data, offsets, mask

    @staticmethod
    def _arrow_buffers(
        arr: Any, mask: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        assert _pa is not None
        arr = arr.cast(_pa.large_string())
        _, offsets_buf, data_buf = arr.buffers()
        offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
        data = (
            np.frombuffer(data_buf, dtype=np.uint8)
            if data_buf is not None
            else np.zeros(0, dtype=np.uint8)
        )
        return data, offsets, mask

    @staticmethod
    def _coerce(v: Any, kind: str, where: str) -> Any:
        if is_null(v):
            return None
        if kind == "bytes":
            if isinstance(v, (bytes, bytearray, memoryview)):
                return bytes(v)
            if isinstance(v, str):
                return v.encode("utf-8")
            raise CodecError(f"{where}: expected bytes, got {type(v).__name__} {v!r}")
        if isinstance(v, str):
            return v
        if isinstance(v, bytes):
            return v.decode("utf-8", "replace")
        if isinstance(v, (Mapping, list, tuple, set, np.ndarray)):
            raise CodecError(f"{where}: expected text, got {type(v).__name__} {v!r}")
        # Mixed object columns are typed `string` (see infer.py): send their text.
        return str(v)


class ColumnsCodec(TableCodec):
    """Codec of one ``<Name>Columns`` field: the ``columns`` layout of a table.

    Every column is a ``repeated`` field of one message (a timestamp as int64 nanoseconds, an
    optional column with its ``repeated bool <column>_valid``, see
    :func:`kedro_krt.node.schema.types.validity_fields`). Decoding reads each numeric field into a
    numpy array in one call (upb's repeated scalar containers implement ``__array__``), so no
    Python object is made per row; encoding writes each column's wire bytes with numpy and lets
    protobuf parse them once.
    """

    def __init__(self, field: Field, field_number: int, cols_desc: Descriptor, owner: str) -> None:
        super().__init__(field, field_number, cols_desc, owner)
        validity = validity_fields(self.columns)
        self.valid_names: list[str | None] = []
        self.valid_numbers: list[int] = []
        for c in self.columns:
            name = validity.get(c.name, (None, 0))[0]
            what = f"{self.where}: the message {cols_desc.full_name}"
            fd = field_of(cols_desc, name, what) if name else None
            self.valid_names.append(name)
            self.valid_numbers.append(fd.number if fd is not None else 0)
        self._np_types = [
            np.float64 if c.kind == "double" else bool if c.kind == "bool" else np.int64
            for c in self.columns
        ]

    def _gen_decoder(self) -> Callable[[Any], list[tuple[list[Any], list[int]]]]:
        return lambda rows: []  # no rows to loop over: see decode

    def presence_checker(self) -> Callable[[Any], None] | None:
        """Every column must have one value per row (checked where a request enters)."""

        def check(cols: Any) -> None:
            self.count(cols)

        return check

    def count(self, cols: Any) -> int:
        """The number of rows; refuses columns (or validity lists) of different lengths."""
        lengths = [len(getattr(cols, c.name)) for c in self.columns]
        n = max(lengths, default=0)
        for c, k in zip(self.columns, lengths, strict=True):
            if k != n:
                longest = self.columns[lengths.index(n)].original
                raise CodecError(
                    f"{self.where}: column {c.original!r} has {k} value(s) and column "
                    f"{longest!r} has {n}: in the columns layout every column holds one value "
                    "per row (send a placeholder and false in its _valid list for a null)"
                )
        for c, name in zip(self.columns, self.valid_names, strict=True):
            if name is not None:
                k = len(getattr(cols, name))
                if k not in (0, n):
                    raise CodecError(
                        f"{self.where}: {name!r} has {k} value(s) for {n} row(s): send one "
                        f"per row (false where {c.original!r} is null), or none if no row is"
                    )
        return n

    # decode

    def decode(self, cols: Any) -> pd.DataFrame:
        """The DataFrame of a ``<Name>Columns`` message (None or empty: an empty frame)."""
        n = 0 if cols is None else self.count(cols)
        if not n:
            if self._empty is None:
                self._empty = self._frame([r([], []) for r in self.restorers], 0)
            return self._empty.copy()
        arrays = []
        for c, restore, np_type, valid_name in zip(
            self.columns, self.restorers, self._np_types, self.valid_names, strict=True
        ):
            rep = getattr(cols, c.name)
            values: Any = list(rep) if c.kind in ("string", "bytes") else np.asarray(rep, np_type)
            missing: list[int] = []
            if valid_name is not None:
                valid = getattr(cols, valid_name)
                if len(valid):
                    missing = np.flatnonzero(~np.asarray(valid, bool)).tolist()
            if missing:
                if c.kind == "double":
                    values[missing] = math.nan
                elif c.kind == "timestamp":
                    values[missing] = _NAT
                elif c.kind in ("string", "bytes"):
                    for i in missing:
                        values[i] = None
            arrays.append(restore(values, missing))
        return self._frame(arrays, n)

    # encode

    def encode(self, msg: Any, value: Any) -> None:
        """Set the (cleared) ``<Name>Columns`` field of ``msg`` from the DataFrame ``value``."""
        df = self._as_frame(value)
        self._positions_in(df)
        if not len(df):
            return
        chunks: list[bytes] = []
        valid_chunks: list[bytes] = []
        for c, number, valid_number in zip(
            self.columns, self.numbers, self.valid_numbers, strict=True
        ):
            body, mask = self._column_bytes(c, number, df[c.original])
            chunks.append(body)
            if mask is not None:
                valid_chunks.append(packed_varints(valid_number, mask))
        data = length_delimited(self.field_number, b"".join(chunks + valid_chunks))
        try:
            msg.MergeFromString(data)
        except Exception as exc:  # our bug, not the user's: say so
            raise CodecError(f"{self.where}: internal error encoding the table: {exc}") from exc

    def _column_bytes(
        self, c: Column, number: int, s: pd.Series
    ) -> tuple[bytes, np.ndarray | None]:
        """The wire bytes of one column (every row) and its present mask (None: all present)."""
        where = f"{self.where}[{c.original!r}]"
        kind = c.kind
        if kind == "double":
            arr, mask = self._double_values(c, s, where)
            return packed_doubles(number, arr), mask
        if kind in ("int64", "bool"):
            arr, present = self._int_values(c, s, where)
            mask = self._present(c, present)
            if kind == "bool":
                arr = arr.astype(bool)
            return packed_varints(number, arr), mask
        if kind == "timestamp":
            ns = self._timestamp_ns(s, where)
            if not c.optional:  # NaT goes as pandas stores it: the int64 minimum
                return packed_varints(number, ns), None
            present = ns != _NAT
            mask = None if bool(present.all()) else present
            if mask is not None:
                ns = np.where(present, ns, 0)
            return packed_varints(number, ns), mask
        data, offsets, mask = self._text_buffers(c, s, where)
        if mask is not None:  # nulls hold "" (zero bytes): one element per row
            sizes = np.zeros(len(mask), dtype=np.int64)
            sizes[mask] = np.diff(offsets)
            full = np.zeros(len(mask) + 1, dtype=np.int64)
            np.cumsum(sizes, out=full[1:])
            data, offsets = data[int(offsets[0]) : int(offsets[-1])], full
        return repeated_bytes(number, data, offsets), mask


# --- the message codec ----------------------------------------------------------------------
