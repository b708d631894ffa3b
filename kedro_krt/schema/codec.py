"""Python values <-> protobuf messages: the hot path of every KRT node.

A :class:`MessageCodec` is built once per message class (in a node's ``init``) and then decodes and
encodes every message. Everything that can be decided ahead is decided in ``__init__``: the
per-field functions, the row classes, and for tables a decode loop and an encode loop generated as
Python source for that row type (one attribute access per cell, no per-cell dispatch), which is
several times faster than generic ``getattr`` loops over upb messages.

Decoded values:

* table -> ``pd.DataFrame`` with the original column names, order and dtypes; unset optional cells
  become ``NaN`` (float), ``pd.NA`` (``Int64``/``boolean``/``string``), ``None`` (object), ``NaN``
  (``str``) or ``NaT`` (datetime); an absent table is an empty DataFrame with the right dtypes;
* list -> ``pd.Series`` (name and dtype restored), ``np.ndarray``, ``list`` or ``tuple``;
* scalar -> Python value (numpy scalar when the type says so; ``pd.Timestamp`` / ``datetime`` for
  timestamps, in the original timezone); an unset optional scalar is ``None``;
* record -> ``dict`` holding only the keys that were sent (unset optional scalars, unset
  messages and empty repeated fields are left out: records carry per-message overrides, where
  ``0``, ``False`` and ``""`` are real values);
* struct -> ``dict``; value -> JSON-like Python value. Both go through JSON numbers (doubles):
  a whole number comes back as ``int`` (JSON clients cannot say ``3`` vs ``3.0``).
"""

from __future__ import annotations

import datetime as _dt
import gc
import keyword
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message as PbMessage

from kedro_krt.schema.types import Column, Field
from kedro_krt.schema.wire import ColumnWire, encode_rows

try:  # pyarrow makes string columns cheaper to encode; it is optional
    import pyarrow as _pa
except ImportError:  # pragma: no cover - exercised only where pyarrow is absent
    _pa = None

__all__ = ["CodecError", "MessageCodec"]

_NS = 1_000_000_000
_NAT = int(np.iinfo(np.int64).min)  # NaT's int64 representation
_OMIT = object()
_SMALL_TABLE = 32  # rows; above this the vectorised wire encoder wins


class CodecError(ValueError):
    """A value does not fit the field it is encoded into (or a message does not fit its codec)."""


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


def _is_null(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    try:
        return bool(v != v)  # NaN and NaT-likes
    except (TypeError, ValueError):
        return False


def _json_number(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer() and abs(v) <= 2**53:
        return int(v)
    return v


def _from_pb_value(v: Any) -> Any:
    kind = v.WhichOneof("kind")
    if kind == "number_value":
        return _json_number(v.number_value)
    if kind == "string_value":
        return v.string_value
    if kind == "bool_value":
        return v.bool_value
    if kind == "struct_value":
        return _from_pb_struct(v.struct_value)
    if kind == "list_value":
        return [_from_pb_value(x) for x in v.list_value.values]
    return None


def _from_pb_struct(s: Any) -> dict[str, Any]:
    return {k: _from_pb_value(v) for k, v in s.fields.items()}


def _to_jsonable(v: Any, where: str) -> Any:
    """Plain JSON types for Struct/Value (numpy scalars, tuples, arrays, NaN -> None)."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, float)):
        return None if isinstance(v, float) and math.isnan(v) else v
    if isinstance(v, np.generic):
        return _to_jsonable(v.item(), where)
    if isinstance(v, Mapping):
        out = {}
        for k, x in v.items():
            if not isinstance(k, str):
                raise CodecError(f"{where}: a Struct key must be a string, got {k!r}")
            out[k] = _to_jsonable(x, f"{where}.{k}")
        return out
    if isinstance(v, (list, tuple, np.ndarray, pd.Series)):
        return [_to_jsonable(x, where) for x in list(v)]
    if isinstance(v, (_dt.datetime, _dt.date, pd.Timestamp)):
        return v.isoformat()
    if v is pd.NA or v is pd.NaT:
        return None
    raise CodecError(
        f"{where}: {type(v).__name__} value {v!r} cannot go into a google.protobuf.Struct/Value; "
        "expected JSON-like data (dict, list, str, number, bool, None)"
    )


def _timestamp_ns(v: Any, where: str) -> int:
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


def _ns_to_datetime_array(ns: list[int], dtype: str) -> Any:
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


def _column_restorer(col: Column) -> Callable[[list[Any], list[int]], Any]:
    """Decoded column values -> array of the original dtype.

    The decode loop gives: doubles with NaN for unset; ints/bools with 0/False for unset and the
    unset row numbers in ``missing``; strings/bytes with None for unset; timestamps as int64
    nanoseconds with ``_NAT`` for unset.
    """
    dtype = col.dtype
    if col.kind == "timestamp":
        return lambda ns, missing: _ns_to_datetime_array(ns, dtype)
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
            # A bare object array of strings would be re-inferred as `str` by the DataFrame.
            return pd.Series(arr, dtype=obj, copy=False)

        return _obj
    if isinstance(target, pd.CategoricalDtype):
        if target.categories is None:  # "category" without categories: infer them, as pandas does
            return lambda vals, missing: pd.Categorical(vals)
        return lambda vals, missing: pd.Categorical(vals, dtype=target)
    # extension dtypes: Float64, string, str ...
    return lambda vals, missing: pd.array(vals, dtype=target)


_GC_PAUSE_ROWS = 2_000


class _TableCodec:
    """Column-wise codec of one ``repeated <Name>Row`` field."""

    def __init__(self, field: Field, field_number: int, row_desc: Descriptor, owner: str) -> None:
        self.field = field
        self.field_number = field_number
        self.where = f"{owner}.{field.name}"
        self.columns = field.type.columns
        self.originals = [c.original for c in self.columns]
        self.numbers: list[int] = []
        for c in self.columns:
            fd = row_desc.fields_by_name.get(c.name)
            if fd is None:
                raise CodecError(
                    f"{self.where}: the row message {row_desc.full_name} has no field {c.name!r}; "
                    "the generated code does not match the compiled plan, recompile the KRT"
                )
            self.numbers.append(fd.number)
        self.restorers = [_column_restorer(c) for c in self.columns]
        self._decode_rows = self._gen_decoder()
        self._empty: pd.DataFrame | None = None
        self._positions: dict[tuple[Any, ...], list[int]] = {}

    def _gen_decoder(self) -> Callable[[Any], list[tuple[list[Any], list[int]]]]:
        lines = ["def _decode(rows):"]
        for i in range(len(self.columns)):
            lines.append(f"    l{i} = []; a{i} = l{i}.append; x{i} = []; m{i} = x{i}.append")
        if any(
            (c.optional and c.kind in ("int64", "bool")) or (c.required and not c.optional)
            for c in self.columns
        ):
            lines.append("    for i, r in enumerate(rows):")
        else:
            lines.append("    for r in rows:")
        for i, c in enumerate(self.columns):
            get = _attr("r", c.name)
            if c.kind == "timestamp":
                lines.append(f"        if r.HasField({c.name!r}):")
                lines.append(f"            t = {get}; a{i}(t.seconds * {_NS} + t.nanos)")
                if c.required and not c.optional:
                    lines.append(f"        else: missing({c.original!r}, i)")
                else:
                    lines.append(f"        else: a{i}({_NAT})")
            elif c.required and not c.optional:
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
        namespace: dict[str, Any] = {"NAN": math.nan, "missing": self._missing}
        exec(compile("\n".join(lines), f"<krt decode {self.where}>", "exec"), namespace)
        return cast(Callable[[Any], list[tuple[list[Any], list[int]]]], namespace["_decode"])

    def _missing(self, column: str, index: int) -> None:
        raise CodecError(
            f"{self.where}: row {index} has no {column!r}; the column is required and was not "
            "sent (proto3 would read it as 0, false or \"\"); send a value, or declare the "
            "column optional ('?') under `schemas:` in krt.yml if a missing value is meaningful"
        )

    def presence_checker(self) -> Callable[[Any], None] | None:
        """A check that every required cell was sent, without decoding (None: none required).

        For a request table that a node passes on without reading: it must be refused where
        it enters, since the messages between nodes carry no presence.
        """
        required = [c for c in self.columns if c.required and not c.optional]
        if not required:
            return None
        lines = ["def _check(rows):", "    for i, r in enumerate(rows):"]
        for c in required:
            if c.kind == "timestamp":
                lines.append(f"        if not r.HasField({c.name!r}): missing({c.original!r}, i)")
            else:
                get = _attr("r", c.name)
                lines.append(
                    f"        if not ({get} or r.HasField({c.name!r})): missing({c.original!r}, i)"
                )
        namespace: dict[str, Any] = {"missing": self._missing}
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
            # GC would scan them again and again for nothing (about a tenth of the time).
            paused = gc.isenabled()
            gc.disable()
            try:
                cols = self._decode_rows(rows)
            finally:
                if paused:
                    gc.enable()
        arrays = [r(v, m) for r, (v, m) in zip(self.restorers, cols, strict=True)]
        return self._frame(arrays, len(rows))

    def _frame(self, arrays: list[Any], n: int) -> pd.DataFrame:
        # The arrays are fresh from the restorers and owned by nobody else: no copy needed.
        return pd.DataFrame(
            dict(zip(self.originals, arrays, strict=True)), index=pd.RangeIndex(n), copy=False
        )

    # encode

    def encode(self, msg: Any, value: Any) -> None:
        """Append the rows of ``value`` to the (cleared) repeated field of ``msg``."""
        df = self._as_frame(value)
        missing = [c for c in self.originals if c not in df.columns]
        if missing:
            raise CodecError(
                f"{self.where}: the DataFrame lacks the column(s) {missing}; expected the columns "
                f"{self.originals} (its schema)"
            )
        if len(df) <= _SMALL_TABLE:
            self._encode_small(msg, df)
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

    def _encode_small(self, msg: Any, df: pd.DataFrame) -> None:
        """Cell by cell: for a few rows, numpy's per-call overhead costs more than the loop."""
        key = tuple(df.columns)
        positions = self._positions.get(key)
        if positions is None:  # a node returns frames of the same columns: look them up once
            positions = df.columns.get_indexer(self.originals).tolist()
            if len(self._positions) < 8:
                self._positions[key] = positions
        rows = getattr(msg, self.field.name)
        for i, row in enumerate(df.to_numpy(dtype=object).tolist()):
            r = rows.add()
            for c, j in zip(self.columns, positions, strict=True):
                v = row[j]
                if _is_null(v):
                    if c.kind == "double" and not c.optional and v is not None and v is not pd.NA:
                        setattr(r, c.name, math.nan)
                    elif not c.optional and c.kind != "timestamp":
                        mask = np.ones(len(df), dtype=bool)
                        mask[i] = False
                        raise self._null_error(c, mask)
                    continue
                where = f"{self.where}[{c.original!r}] row {i}"
                if c.kind == "timestamp":
                    ns = _timestamp_ns(v, where)
                    t = getattr(r, c.name)
                    t.seconds = ns // _NS
                    t.nanos = ns % _NS
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
            if value.columns.has_duplicates:
                raise CodecError(f"{self.where}: the DataFrame has duplicate column names")
            return value
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
        dtype = s.dtype
        np_dtype = dtype if isinstance(dtype, np.dtype) else None
        if kind == "double":
            try:
                if np_dtype is not None and np_dtype.kind in "fiub":
                    arr = s.to_numpy(dtype=np.float64)
                else:
                    arr = s.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError) as exc:
                raise CodecError(f"{where}: expected numbers for a double column: {exc}") from exc
            # NaN is a valid double: a non-optional column sends it as such.
            mask = self._present(c, ~np.isnan(arr)) if c.optional else None
            return ColumnWire.double(number, arr, mask)
        if kind in ("int64", "bool"):
            arr, present = self._int_values(c, s, where)
            return ColumnWire.varint(number, arr, self._present(c, present))
        if kind == "timestamp":
            ns = self._timestamp_ns(s, where)
            present = ns != _NAT
            secs, nanos = np.divmod(ns, _NS)
            # NaT in a non-optional timestamp column is sent unset: a message field has presence.
            mask = None if bool(present.all()) else present
            return ColumnWire.timestamp(number, secs, nanos, mask)
        return self._text_wire(c, number, s, where)

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
        present = np.fromiter((not _is_null(v) for v in values), dtype=bool, count=len(values))
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
            return self._arrow_wire(number, arr, mask)
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
            return self._arrow_wire(number, _pa.array(values, type=_pa.large_string()), mask)
        encoded = [v.encode("utf-8") for v in values] if c.kind == "string" else values
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(
            np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:]
        )
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return ColumnWire.raw(number, data, offsets, mask)

    @staticmethod
    def _arrow_wire(number: int, arr: Any, mask: np.ndarray | None) -> ColumnWire:
        assert _pa is not None
        arr = arr.cast(_pa.large_string())
        _, offsets_buf, data_buf = arr.buffers()
        offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
        data = (
            np.frombuffer(data_buf, dtype=np.uint8)
            if data_buf is not None
            else np.zeros(0, dtype=np.uint8)
        )
        return ColumnWire.raw(number, data, offsets, mask)

    @staticmethod
    def _coerce(v: Any, kind: str, where: str) -> Any:
        if _is_null(v):
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


# --- the message codec ----------------------------------------------------------------------

_Decoder = Callable[[Any], Any]
_Encoder = Callable[[Any, Any], None]


class PresenceCheck:
    """Refuses a message whose tables lack a required cell, without decoding them."""

    def __init__(self, message_cls: type[PbMessage], fields: Sequence[Field]) -> None:
        desc: Any = message_cls.DESCRIPTOR
        self._checks: list[tuple[str, Callable[[Any], None]]] = []
        for f in fields:
            fd = desc.fields_by_name.get(f.name)
            if fd is None or f.type.kind != "table":
                continue
            check = _TableCodec(f, fd.number, fd.message_type, desc.full_name).presence_checker()
            if check is not None:
                self._checks.append((f.name, check))

    def __bool__(self) -> bool:
        return bool(self._checks)

    def __call__(self, msg: Any) -> None:
        """Raise :class:`CodecError` naming the row and column of the first missing cell."""
        for name, check in self._checks:
            check(getattr(msg, name))


class MessageCodec:
    """Decode/encode one message class according to the fields of the compiled plan.

    ``omit_absent`` (used for nested records) leaves out of the decoded dict every field that was
    not sent: unset optional scalars and messages, and empty repeated fields.
    """

    def __init__(
        self, message_cls: type[PbMessage], fields: Sequence[Field], *, omit_absent: bool = False
    ) -> None:
        self.message_cls = message_cls
        self.fields = tuple(fields)
        self.omit_absent = omit_absent
        desc: Any = message_cls.DESCRIPTOR
        self.name = desc.full_name
        self._decoders: list[tuple[str, _Decoder]] = []
        self._encoders: dict[str, _Encoder] = {}
        for f in self.fields:
            fd = desc.fields_by_name.get(f.name)
            if fd is None:
                raise CodecError(
                    f"{self.name} has no field {f.name!r} (for {f.original!r}); the generated code "
                    "does not match the compiled plan, recompile the KRT"
                )
            dec, enc = self._build(f, fd)
            self._decoders.append((f.original, dec))
            self._encoders[f.original] = enc

    # -- building the per-field functions

    def _build(self, f: Field, fd: Any) -> tuple[_Decoder, _Encoder]:
        spec = f.type
        where = f"{self.name}.{f.name}"
        name = f.name
        if spec.kind == "table":
            table = _TableCodec(f, fd.number, fd.message_type, self.name)

            def dec_table(msg: Any) -> Any:
                rows = getattr(msg, name)
                if self.omit_absent and not len(rows):
                    return _OMIT
                return table.decode(rows)

            def enc_table(msg: Any, value: Any) -> None:
                if value is None:
                    return
                del getattr(msg, name)[:]
                table.encode(msg, value)

            return dec_table, enc_table
        if spec.kind == "record":
            sub = MessageCodec(
                message_factory.GetMessageClass(fd.message_type), spec.fields, omit_absent=True
            )

            def dec_record(msg: Any) -> Any:
                if not msg.HasField(name):
                    return _OMIT if self.omit_absent else {}
                return sub.decode(getattr(msg, name))

            def enc_record(msg: Any, value: Any) -> None:
                if value is None:
                    return
                if not isinstance(value, Mapping):
                    raise CodecError(f"{where}: expected a dict, got {type(value).__name__}")
                target = getattr(msg, name)
                target.SetInParent()
                sub.encode_into(target, value)

            return dec_record, enc_record
        if spec.kind == "struct":

            def dec_struct(msg: Any) -> Any:
                if not msg.HasField(name):
                    return _OMIT if self.omit_absent else {}
                return _from_pb_struct(getattr(msg, name))

            def enc_struct(msg: Any, value: Any) -> None:
                if value is None:
                    return
                if not isinstance(value, Mapping):
                    raise CodecError(
                        f"{where}: expected a dict for google.protobuf.Struct, "
                        f"got {type(value).__name__}"
                    )
                target = getattr(msg, name)
                target.Clear()
                target.update(_to_jsonable(value, where))

            return dec_struct, enc_struct
        if spec.kind == "value":

            def dec_value(msg: Any) -> Any:
                if not msg.HasField(name):
                    return _OMIT if self.omit_absent else None
                return _from_pb_value(getattr(msg, name))

            def enc_value(msg: Any, value: Any) -> None:
                from google.protobuf import json_format

                json_format.ParseDict(_to_jsonable(value, where), getattr(msg, name))

            return dec_value, enc_value
        if spec.kind == "list":
            return self._build_list(f, where)
        return self._build_scalar(f, fd, where)

    def _build_list(self, f: Field, where: str) -> tuple[_Decoder, _Encoder]:
        spec = f.type
        name = f.name
        kind = spec.scalar
        container = spec.container or "list"
        dtype = spec.meta_get("dtype")
        series_name: Any = spec.meta_get("series_name")
        if spec.meta_get("series_name_json") is not None:
            import json

            series_name = json.loads(cast(str, spec.meta_get("series_name_json")))

        def restore(values: list[Any]) -> Any:
            if kind == "timestamp":
                arr: Any = _ns_to_datetime_array(values, dtype or "datetime64[ns]")
                if container == "series":
                    return pd.Series(arr, name=series_name)
                if container == "ndarray":
                    return np.asarray(arr)
                return list(pd.DatetimeIndex(arr))
            if container == "series":
                return pd.Series(values, dtype=dtype, name=series_name)
            if container == "ndarray":
                np_dtype = np.dtype(dtype) if dtype else None
                if np_dtype is not None and np_dtype.kind in "US":
                    np_dtype = np.dtype(np_dtype.kind)  # width follows the data, no truncation
                return np.array(values, dtype=np_dtype)
            if container == "tuple":
                return tuple(values)
            return values

        def dec_list(msg: Any) -> Any:
            rep = getattr(msg, name)
            if self.omit_absent and not len(rep):
                return _OMIT
            if kind == "timestamp":
                return restore([t.seconds * _NS + t.nanos for t in rep])
            return restore(list(rep))

        def enc_list(msg: Any, value: Any) -> None:
            if value is None:
                return
            if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
                raise CodecError(
                    f"{where}: expected a list of {kind} (list, tuple, Series or 1-D array), "
                    f"got {type(value).__name__}"
                )
            rep = getattr(msg, name)
            del rep[:]
            if kind == "timestamp":
                for i, v in enumerate(list(value)):
                    ns = _timestamp_ns(v, f"{where}[{i}]")
                    rep.add(seconds=ns // _NS, nanos=ns % _NS)
                return
            if isinstance(value, pd.Series):
                values = value.to_numpy(dtype=object, na_value=None).tolist()
            elif isinstance(value, np.ndarray):
                if value.ndim != 1:
                    raise CodecError(f"{where}: expected a 1-D array, got shape {value.shape}")
                values = value.tolist()
            else:
                values = [v.item() if isinstance(v, np.generic) else v for v in value]
            if kind == "double":
                values = [math.nan if v is None else v for v in values]
            try:
                rep.extend(values)
            except (TypeError, ValueError) as exc:
                bad = next((v for v in values if v is None or _is_null(v)), None)
                detail = "a null, which a repeated field cannot hold" if bad is None else str(exc)
                raise CodecError(f"{where}: expected a list of {kind}; {detail}") from exc

        return dec_list, enc_list

    def _build_scalar(self, f: Field, fd: Any, where: str) -> tuple[_Decoder, _Encoder]:
        spec = f.type
        name = f.name
        kind = spec.scalar
        has_presence = bool(fd.has_presence)
        omit = self.omit_absent
        np_dtype = spec.meta_get("dtype")
        if kind == "timestamp":
            tz = spec.meta_get("tz")
            as_datetime = spec.meta_get("scalar_type") == "datetime"
            unit = None
            if np_dtype:
                unit = np.datetime_data(np.dtype(np_dtype))[0]

            def dec_ts(msg: Any) -> Any:
                if not msg.HasField(name):
                    return _OMIT if omit else None
                t = getattr(msg, name)
                ts = pd.Timestamp(t.seconds * _NS + t.nanos, unit="ns")
                if tz:
                    ts = ts.tz_localize("UTC").tz_convert(tz)
                if unit:
                    return np.datetime64(ts.as_unit(unit).value, unit)  # type: ignore[call-overload]
                return ts.to_pydatetime() if as_datetime else ts

            def enc_ts(msg: Any, value: Any) -> None:
                if value is None or value is pd.NaT:
                    return
                ns = _timestamp_ns(value, where)
                t = getattr(msg, name)
                t.seconds = ns // _NS
                t.nanos = ns % _NS

            return dec_ts, enc_ts

        cast_np = np.dtype(np_dtype).type if np_dtype else None

        def dec_scalar(msg: Any) -> Any:
            if has_presence and not msg.HasField(name):
                return _OMIT if omit else None
            v = getattr(msg, name)
            return cast_np(v) if cast_np is not None else v

        def enc_scalar(msg: Any, value: Any) -> None:
            if value is None or value is pd.NA:
                return
            if isinstance(value, np.generic):
                value = value.item()
            if kind == "int64" and isinstance(value, float) and value.is_integer():
                value = int(value)
            if kind == "string" and not isinstance(value, str):
                raise CodecError(f"{where}: expected string, got {type(value).__name__} {value!r}")
            try:
                setattr(msg, name, value)
            except (TypeError, ValueError) as exc:
                raise CodecError(
                    f"{where}: expected {kind}, got {type(value).__name__} {value!r} ({exc})"
                ) from exc

        return dec_scalar, enc_scalar

    # -- public API

    def decode(self, msg: Any) -> dict[str, Any]:
        """``{original name: Python value}`` from a message of this codec's class."""
        out: dict[str, Any] = {}
        for original, dec in self._decoders:
            v = dec(msg)
            if v is not _OMIT:
                out[original] = v
        return out

    def encode(self, values: Mapping[str, Any]) -> Any:
        """A new message from ``{original name: value}``; missing keys stay unset."""
        msg = self.message_cls()
        self.encode_into(msg, values)
        return msg

    def encode_into(self, msg: Any, values: Mapping[str, Any]) -> None:
        """Set the fields of ``msg`` from ``{original name: value}``; unknown keys are refused."""
        encoders = self._encoders
        for key, value in values.items():
            enc = encoders.get(key)
            if enc is None:
                raise CodecError(
                    f"{self.name}: no field for {key!r}; expected one of {list(encoders)}"
                )
            enc(msg, value)
