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
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
from google.protobuf import message_factory
from google.protobuf.message import Message as PbMessage

from kedro_krt.node.schema.pandas_private import numeric_series_builder, series_values_getter
from kedro_krt.node.schema.table_codec import (
    NS_PER_S,
    CodecError,
    ColumnsCodec,
    TableCodec,
    field_of,
    is_null,
    ns_to_datetime_array,
    timestamp_error,
    timestamp_ns,
    timestamps_ns,
)
from kedro_krt.node.schema.types import Field

__all__ = ["CodecError", "MessageCodec", "PresenceCheck", "RowsCheck"]

_OMIT = object()


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


def _extend(rep: Any, values: list[Any], where: str, kind: str | None) -> None:
    """``rep.extend(values)``; a value the field cannot hold is the user's error, said so."""
    try:
        rep.extend(values)
    except (TypeError, ValueError) as exc:
        bad = next((v for v in values if v is None or is_null(v)), None)
        detail = "a null, which a repeated field cannot hold" if bad is None else str(exc)
        raise CodecError(f"{where}: expected a list of {kind}; {detail}") from exc


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
            codec = ColumnsCodec if f.type.layout == "columns" else TableCodec
            check = codec(f, fd.number, fd.message_type, desc.full_name).presence_checker()
            if check is not None:
                self._checks.append((f.name, check))

    def __bool__(self) -> bool:
        return bool(self._checks)

    def __call__(self, msg: Any) -> None:
        """Raise :class:`CodecError` naming the row and column of the first missing cell."""
        for name, check in self._checks:
            check(getattr(msg, name))


class RowsCheck:
    """Refuses a request with no row in a table that has required columns.

    Compile makes every request column that holds no null in the sample required
    (:attr:`~kedro_krt.node.schema.types.Column.required`): a row must send it. A table with such
    columns and no row at all (``{}``, or an empty list) is as much the caller's mistake as a row
    without them, and would reach the Kedro nodes as an empty DataFrame (a model's ``predict``
    fails on zero samples). Checked where the request enters, before any Kedro node runs.
    """

    def __init__(self, message_cls: type[PbMessage], fields: Sequence[Field]) -> None:
        desc: Any = message_cls.DESCRIPTOR
        #: The request message, as the caller names it.
        self.message = desc.full_name
        #: (field, its columns, its required columns, columns layout) of each table to check
        self._tables: list[tuple[str, tuple[str, ...], tuple[str, ...], bool]] = []
        for f in fields:
            if f.name not in desc.fields_by_name or f.type.kind != "table":
                continue
            required = tuple(c.name for c in f.type.columns if c.required and not c.optional)
            if required:
                columns = tuple(c.name for c in f.type.columns)
                self._tables.append((f.name, columns, required, f.type.layout == "columns"))

    def __bool__(self) -> bool:
        return bool(self._tables)

    def __call__(self, msg: Any) -> None:
        """Raise :class:`CodecError` naming the table and its required fields when it has no
        row."""
        for name, columns, required, columnar in self._tables:
            if columnar:  # one message of lists: its longest list (ragged ones fail later)
                table = getattr(msg, name)
                rows = max(len(getattr(table, c)) for c in columns) if msg.HasField(name) else 0
            else:
                rows = len(getattr(msg, name))
            if not rows:
                raise CodecError(
                    f"{self.message}.{name} has no row: send at least one, each with its "
                    f"required field(s) {', '.join(required)}"
                )


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
            fd = field_of(desc, f.name, f"{self.name} (for {f.original!r})")
            dec, enc = self._build(f, fd)
            self._decoders.append((f.original, dec))
            self._encoders[f.original] = enc

    # -- building the per-field functions

    def _build(self, f: Field, fd: Any) -> tuple[_Decoder, _Encoder]:
        spec = f.type
        where = f"{self.name}.{f.name}"
        name = f.name
        if spec.kind == "table" and spec.layout == "columns":
            columns = ColumnsCodec(f, fd.number, fd.message_type, self.name)

            def dec_columns(msg: Any) -> Any:
                if not msg.HasField(name):
                    return _OMIT if self.omit_absent else columns.decode(None)
                return columns.decode(getattr(msg, name))

            def enc_columns(msg: Any, value: Any) -> None:
                if value is None:
                    return
                msg.ClearField(name)
                columns.encode(msg, value)

            return dec_columns, enc_columns
        if spec.kind == "table":
            table = TableCodec(f, fd.number, fd.message_type, self.name)

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

        np_series = None  # a Series of a numpy numeric dtype: built straight from its array
        if container == "series" and dtype and kind in ("double", "int64", "bool"):
            try:
                candidate = np.dtype(dtype)
            except TypeError:
                candidate = None
            if candidate is not None and candidate.kind in "fiub":
                np_series = candidate

        make_series = (
            numeric_series_builder(np_series, series_name) if np_series is not None else None
        )

        def restore(values: Any) -> Any:
            if make_series is not None:
                return make_series(values)
            if kind == "timestamp":
                arr: Any = ns_to_datetime_array(values, dtype or "datetime64[ns]")
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
                return restore(timestamps_ns(rep, where))
            return restore(rep if np_series is not None else list(rep))

        # Series dtypes whose values go into the repeated field as they are.
        fast_kinds = {"double": "fiu", "int64": "iu", "bool": "b"}.get(kind or "", "")
        values_of = series_values_getter()

        def enc_list(msg: Any, value: Any) -> None:
            if value is None:
                return
            if value.__class__ is pd.Series:
                # A numeric Series, the usual case: its numpy array's values go in as they are.
                arr = values_of(value)
                if isinstance(arr, np.ndarray) and arr.dtype.kind in fast_kinds:
                    rep = getattr(msg, name)
                    if len(rep):
                        del rep[:]
                    _extend(rep, arr.tolist(), where, kind)
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
                    ns = timestamp_ns(v, f"{where}[{i}]")
                    rep.add(seconds=ns // NS_PER_S, nanos=ns % NS_PER_S)
                return
            if (
                isinstance(value, pd.Series)
                and isinstance(value.dtype, np.dtype)
                and value.dtype.kind in fast_kinds
            ):
                values = value.to_numpy().tolist()  # numpy numbers: no null to look for
            elif isinstance(value, pd.Series):
                values = value.to_numpy(dtype=object, na_value=None).tolist()
            elif isinstance(value, np.ndarray):
                if value.ndim != 1:
                    raise CodecError(f"{where}: expected a 1-D array, got shape {value.shape}")
                values = value.tolist()
            else:
                values = [v.item() if isinstance(v, np.generic) else v for v in value]
            if kind == "double":
                values = [math.nan if v is None else v for v in values]
            _extend(rep, values, where, kind)

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
                seconds, nanos = t.seconds, t.nanos
                error = timestamp_error(where, seconds, nanos)
                if error is not None:
                    raise error
                ts = pd.Timestamp(seconds * NS_PER_S + nanos, unit="ns")
                if tz:
                    ts = ts.tz_localize("UTC").tz_convert(tz)
                if unit:
                    return np.datetime64(ts.as_unit(unit).value, unit)  # type: ignore[call-overload]
                return ts.to_pydatetime() if as_datetime else ts

            def enc_ts(msg: Any, value: Any) -> None:
                if value is None or value is pd.NaT:
                    return
                ns = timestamp_ns(value, where)
                t = getattr(msg, name)
                t.seconds = ns // NS_PER_S
                t.nanos = ns % NS_PER_S

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
