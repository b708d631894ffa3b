"""The example request of a workflow, from the rows the trial run used (sample files, catalog).

A new user sends the example unchanged first: it must answer. One made up from each field's
type and name (``"company_rating": "company_rating"``) reaches the model and fails there, so
where the compiler has real sample rows the example is made of them, written in proto3 JSON as a
caller sends it: field and column names as in the proto, 64-bit integers as strings,
timestamps in RFC 3339, bytes in base64, a null cell left out. The first rows that have every
required column are taken (:data:`EXAMPLE_ROWS`); the trial run checks that the workflow answers
them (:func:`kedro_krt.compiler.datatypes.TypeResolver.answers`).

The emitter reads this example back through protobuf's own JSON parser (which proves it fits
the request message) and writes it into ``docs/README.md`` and ``docs/examples/<Rpc>.json``,
which the local server's ``/endpoints`` and ``kedro krt call --example`` show.
"""

from __future__ import annotations

import base64
import contextlib
import math
from collections.abc import Mapping
from typing import Any

from google.protobuf import timestamp_pb2

from kedro_krt.node.schema.table_codec import CodecError, timestamp_ns
from kedro_krt.node.schema.types import Column, Message, TypeSpec, validity_fields

__all__ = ["EXAMPLE_ROWS", "example_request", "sample_rows"]

#: Rows of each table in the example request: enough to show a batch, short enough to read.
EXAMPLE_ROWS = 2


class _NoValue(Exception):
    """A value the example cannot show (a null where the type has no room for one)."""


def _is_null(value: Any) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(value)) if not isinstance(value, list | tuple | dict) else False
    except (TypeError, ValueError):
        return False


def _scalar(kind: str, value: Any) -> Any:
    """One value in proto3 JSON for a scalar of ``kind``."""
    if _is_null(value):
        raise _NoValue
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # numpy scalar -> Python
    if kind == "double":
        number = float(value)
        if math.isnan(number):
            raise _NoValue
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return number
    if kind == "int64":
        return str(int(value))
    if kind == "bool":
        return bool(value)
    if kind == "bytes":
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
        return base64.b64encode(raw).decode("ascii")
    if kind == "timestamp":
        ts = timestamp_pb2.Timestamp()
        ts.FromNanoseconds(timestamp_ns(value, "example"))
        return ts.ToJsonString()
    return str(value)


def _row(columns: tuple[Column, ...], row: Mapping[str, Any]) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for c in columns:
        try:
            out[c.name] = _scalar(c.kind, row[c.original])
        except _NoValue:
            if not c.optional:
                return None  # a row the request could not carry as it is
    return out


def sample_rows(spec: TypeSpec, frame: Any, rows: int = EXAMPLE_ROWS) -> Any:
    """The first ``rows`` rows of ``frame`` that every required column fills, as a DataFrame."""
    keep = []
    for i, (_, row) in enumerate(frame.iterrows()):
        if _row(spec.columns, row) is not None:
            keep.append(i)
        if len(keep) == rows:
            break
    return frame.iloc[keep]


def _table(spec: TypeSpec, frame: Any) -> Any:
    records = [r for r in (_row(spec.columns, row) for _, row in frame.iterrows()) if r]
    if spec.layout == "rows":
        return records
    # The columns layout: one list per column, a timestamp as int64 nanoseconds, and an optional
    # column's validity list beside it (a placeholder where the cell is null).
    validity = validity_fields(spec.columns)
    out: dict[str, Any] = {}
    for c in spec.columns:
        values, valid = [], []
        for _, row in frame.iterrows():
            cell = row[c.original]
            present = not _is_null(cell)
            valid.append(present)
            if c.kind == "timestamp":
                values.append(str(timestamp_ns(cell, c.original)) if present else "0")
            else:
                values.append(_scalar(c.kind, cell) if present else _PLACEHOLDER[c.kind])
        out[c.name] = values
        if c.name in validity and not all(valid):
            out[validity[c.name][0]] = valid
    return out


_PLACEHOLDER: dict[str, Any] = {
    "double": 0.0,
    "int64": "0",
    "bool": False,
    "string": "",
    "bytes": "",
}


def _value(spec: TypeSpec, value: Any) -> Any:
    if spec.kind == "table":
        return _table(spec, value)
    if spec.kind == "list":
        assert spec.scalar is not None
        return [_scalar(spec.scalar, v) for v in list(value) if not _is_null(v)]
    if spec.kind == "scalar":
        assert spec.scalar is not None
        return _scalar(spec.scalar, value)
    if spec.kind == "record":
        out = {}
        for f in spec.fields:
            if f.original in value:
                with contextlib.suppress(_NoValue):
                    out[f.name] = _value(f.type, value[f.original])
        return out
    return value  # struct, value: JSON as it is


def example_request(
    request: Message, values: Mapping[str, Any], skip: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """The example of ``request`` in proto3 JSON, from ``values`` by dataset name; ``None``
    when a field has no value to show (the emitter then writes one made from the types).

    Fields named in ``skip`` (the per-message ``parameters``) are left out.
    """
    out: dict[str, Any] = {}
    for f in request.fields:
        if f.name in skip:
            continue
        if f.original not in values:
            return None
        try:
            out[f.name] = _value(f.type, values[f.original])
        except (_NoValue, CodecError, TypeError, ValueError, KeyError):
            return None
    return out
