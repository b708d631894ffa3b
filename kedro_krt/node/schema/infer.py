"""Where a field's type comes from: real data, a function annotation, or the config.

Inference from data (:func:`infer_type`)
========================================

=============================================  ==============================================
value                                          type
=============================================  ==============================================
``pd.DataFrame``                               table, one column per DataFrame column:
                                               float -> ``double``, (U)Int / ``Int64`` ->
                                               ``int64``, ``bool`` / ``boolean`` -> ``bool``,
                                               ``str`` / ``string`` / ``category`` -> ``string``,
                                               ``datetime64`` (with or without tz) ->
                                               ``timestamp``; a column holding nulls is
                                               ``optional``
``object`` column                              by its values (``pd.api.types.infer_dtype``):
                                               strings -> ``string``, bools -> ``bool``, ints ->
                                               ``int64``, floats -> ``double``, datetimes ->
                                               ``timestamp``, bytes -> ``bytes``; anything else
                                               (mixed, decimals, ...) -> ``string``: the codec
                                               sends ``str(value)``, so decode gives strings back
``pd.Series`` / 1-D ``np.ndarray``             list of its element kind (name and dtype kept)
``list`` / ``tuple`` of scalars of one kind    list
``bool``, ``int``, ``float``, ``str``,         scalar (``bool`` is tested before ``int``)
``bytes``, numpy scalars, ``datetime``,
``pd.Timestamp``
``dict`` with ``str`` keys, every value        record (fields in insertion order)
inferable
other ``dict``                                 struct (``google.protobuf.Struct``)
``None``, anything else                        ``None``: not enough to build a proto
=============================================  ==============================================

Lists cannot hold nulls on the wire: a Series with nulls is typed like one without, and the
codec refuses a null element (except ``NaN`` in a ``double`` list, which is a valid double).

The ``schemas:`` language (:func:`type_from_config`)
====================================================

``conf/<env>/krt.yml`` may declare a dataset's type instead of letting it be inferred::

    schemas:
      threshold: double              # a scalar; "double?" makes it optional (presence)
      tags: list[string]             # repeated scalars (a Python list)
      prices: {series: double}       # a pandas Series of float64
      shuttles:                      # a DataFrame
        table:
          id: int64
          Engine Type: string?       # "?" = the column may hold nulls
          rating: double?
          since: timestamp
      options:                       # a dict with known keys (every key is optional)
        record:
          depth: int64
          fast: bool
      extra: struct                  # a free-form dict (google.protobuf.Struct)
      anything: value                # any JSON-like value (google.protobuf.Value)

Scalar names: ``double``, ``int64``, ``bool``, ``string``, ``bytes``, ``timestamp``.
Aliases accepted: ``float`` -> ``double``, ``int`` -> ``int64``, ``str`` -> ``string``,
``datetime`` -> ``timestamp``.
"""

from __future__ import annotations

import datetime as _dt
import types as _types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd

from kedro_krt.node.schema.types import (
    SCALAR_KINDS,
    Column,
    Field,
    ScalarKind,
    SchemaError,
    TypeSpec,
    unique_identifiers,
)

__all__ = [
    "dtype_kind",
    "infer_type",
    "table_from_frame",
    "type_from_config",
    "type_from_hint",
]

_PY_SCALARS: tuple[tuple[type, ScalarKind], ...] = (
    # bool is a subclass of int: it must be tested first.
    (bool, "bool"),
    (int, "int64"),
    (float, "double"),
    (str, "string"),
    (bytes, "bytes"),
    (_dt.datetime, "timestamp"),
)

_OBJECT_KINDS: Mapping[str, ScalarKind] = {
    "string": "string",
    "empty": "string",
    "boolean": "bool",
    "integer": "int64",
    "floating": "double",
    "mixed-integer-float": "double",
    "datetime64": "timestamp",
    "datetime": "timestamp",
    "date": "timestamp",
    "bytes": "bytes",
}


def dtype_kind(dtype: Any, values: Any = None) -> ScalarKind:
    """The scalar kind of a pandas/numpy dtype; ``values`` decides for ``object`` dtypes."""
    if isinstance(dtype, pd.CategoricalDtype):
        return "string"
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamp"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int64"
    if pd.api.types.is_float_dtype(dtype):
        return "double"
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return "string"
    np_dtype = np.dtype(dtype) if isinstance(dtype, np.dtype) else None
    if np_dtype is not None and np_dtype.kind == "S":
        return "bytes"
    if values is not None:
        inferred = pd.api.types.infer_dtype(values, skipna=True)
        return _OBJECT_KINDS.get(inferred, "string")
    return "string"


def table_from_frame(df: pd.DataFrame) -> TypeSpec:
    """The table type of a DataFrame: one column per DataFrame column, in order."""
    originals = [str(c) for c in df.columns]
    if len(set(originals)) != len(originals):
        dupes = sorted({c for c in originals if originals.count(c) > 1})
        raise SchemaError(f"the DataFrame has duplicate column names {dupes}; rename them")
    idents = unique_identifiers(originals)
    columns = []
    for original, (_, series) in zip(originals, df.items(), strict=True):
        kind = dtype_kind(series.dtype, series)
        columns.append(
            Column(
                name=idents[original],
                original=original,
                kind=kind,
                optional=bool(series.isna().any()),
                dtype=str(series.dtype),
            )
        )
    return TypeSpec(kind="table", columns=tuple(columns), container="dataframe")


def _series_name_meta(name: Any) -> tuple[tuple[str, str], ...]:
    if name is None:
        return ()
    if isinstance(name, str):
        return (("series_name", name),)
    if isinstance(name, (bool, int, float)):
        import json

        return (("series_name_json", json.dumps(name)),)
    return (("series_name", str(name)),)


def _scalar_of(value: Any) -> TypeSpec | None:
    if isinstance(value, np.generic):
        if isinstance(value, np.datetime64):
            return TypeSpec(kind="scalar", scalar="timestamp", meta=(("dtype", str(value.dtype)),))
        if isinstance(value, (np.bool_, np.integer, np.floating, np.str_, np.bytes_)):
            kind = dtype_kind(value.dtype)
            return TypeSpec(kind="scalar", scalar=kind, meta=(("dtype", str(value.dtype)),))
        return None
    if isinstance(value, pd.Timestamp):
        meta: tuple[tuple[str, str], ...] = (("scalar_type", "pandas"),)
        if value.tz is not None:
            meta += (("tz", str(value.tz)),)
        return TypeSpec(kind="scalar", scalar="timestamp", meta=meta)
    for py_type, kind in _PY_SCALARS:
        if isinstance(value, py_type):
            if kind == "timestamp":
                meta = (("scalar_type", "datetime"),)
                tz = cast(_dt.datetime, value).tzinfo
                if tz is not None:
                    meta += (("tz", str(tz)),)
                return TypeSpec(kind="scalar", scalar=kind, meta=meta)
            return TypeSpec(kind="scalar", scalar=kind)
    return None


def infer_type(value: Any) -> TypeSpec | None:
    """The type of a real value (see the module docstring), or ``None`` when it cannot be told."""
    if value is None:
        return None
    if isinstance(value, pd.DataFrame):
        return table_from_frame(value)
    if isinstance(value, pd.Series):
        kind = dtype_kind(value.dtype, value)
        meta = (("dtype", str(value.dtype)), *_series_name_meta(value.name))
        return TypeSpec(kind="list", scalar=kind, container="series", meta=meta)
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            return None
        if value.dtype == object:
            kind = dtype_kind(value.dtype, value)
        elif value.dtype.kind in "biufMUS":
            kind = dtype_kind(value.dtype)
        else:
            return None
        return TypeSpec(
            kind="list", scalar=kind, container="ndarray", meta=(("dtype", str(value.dtype)),)
        )
    if isinstance(value, (list, tuple)):
        kinds = set()
        for item in value:
            spec = _scalar_of(item)
            if spec is None or spec.scalar is None:
                return None
            kinds.add(spec.scalar)
        if kinds == {"int64", "double"}:
            kinds = {"double"}
        if len(kinds) > 1:
            return None
        kind = cast(ScalarKind, kinds.pop()) if kinds else "double"
        container = "tuple" if isinstance(value, tuple) else "list"
        return TypeSpec(kind="list", scalar=kind, container=container)
    if isinstance(value, Mapping):
        if value and all(isinstance(k, str) for k in value):
            specs = {k: infer_type(v) for k, v in value.items()}
            if all(s is not None for s in specs.values()):
                return record_type({k: cast(TypeSpec, s) for k, s in specs.items()})
        return TypeSpec(kind="struct", container="dict")
    return _scalar_of(value)


def record_type(fields: Mapping[str, TypeSpec]) -> TypeSpec:
    """A record type from ``{key: type}`` in the given order, numbered from 1.

    Every scalar field of a record is made ``optional``: a record is how per-message overrides
    travel, and an override of ``0``/``False``/``""`` must be told apart from "not given".
    """
    idents = unique_identifiers(list(fields))
    out = []
    for number, (key, spec) in enumerate(fields.items(), start=1):
        if spec.kind == "scalar" and not spec.optional:
            spec = TypeSpec(
                kind="scalar",
                scalar=spec.scalar,
                optional=True,
                container=spec.container,
                meta=spec.meta,
            )
        out.append(Field(name=idents[key], original=key, type=spec, number=number))
    return TypeSpec(kind="record", fields=tuple(out), container="dict")


# --- type hints -----------------------------------------------------------------------------

_HINT_SCALARS: Mapping[Any, ScalarKind] = {
    bool: "bool",
    int: "int64",
    float: "double",
    str: "string",
    bytes: "bytes",
    _dt.datetime: "timestamp",
    pd.Timestamp: "timestamp",
}


def type_from_hint(hint: Any) -> TypeSpec | None:
    """The type told by a function annotation, or ``None`` when it is not enough for a proto.

    ``int``, ``float``, ``str``, ``bool``, ``bytes``, ``datetime`` -> scalars; ``X | None`` /
    ``Optional[X]`` -> optional scalar; ``list[X]`` / ``Sequence[X]`` / ``tuple[X, ...]`` -> list;
    ``dict[str, ...]`` / ``dict`` -> struct. ``pd.DataFrame``, ``np.ndarray``, ``Any`` and unknown
    hints -> ``None`` (their columns or dtype are not in the hint).
    """
    if hint is None or hint is Any or isinstance(hint, (str, typing.ForwardRef)):
        return None
    if hint in _HINT_SCALARS:
        kind = _HINT_SCALARS[hint]
        meta: tuple[tuple[str, str], ...] = ()
        if kind == "timestamp":
            meta = (("scalar_type", "pandas" if hint is pd.Timestamp else "datetime"),)
        return TypeSpec(kind="scalar", scalar=kind, meta=meta)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is _types.UnionType:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            inner = type_from_hint(rest[0])
            if inner is not None and inner.kind == "scalar":
                return TypeSpec(kind="scalar", scalar=inner.scalar, optional=True, meta=inner.meta)
            return inner
        return None
    if hint is dict or origin in (dict, Mapping) or hint is Mapping:
        if args and args[0] is not str:
            return None
        return TypeSpec(kind="struct", container="dict")
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return None
        if not args:
            return None
        inner = type_from_hint(args[0])
        if inner is None or inner.kind != "scalar" or inner.optional:
            return None
        container = "tuple" if origin is tuple else "list"
        return TypeSpec(kind="list", scalar=inner.scalar, container=container)
    return None


# --- the `schemas:` config language ---------------------------------------------------------

_ALIASES: Mapping[str, str] = {
    "float": "double",
    "int": "int64",
    "str": "string",
    "datetime": "timestamp",
}
_DTYPES: Mapping[tuple[str, bool], str] = {
    ("double", False): "float64",
    ("double", True): "float64",
    ("int64", False): "int64",
    ("int64", True): "Int64",
    ("bool", False): "bool",
    ("bool", True): "boolean",
    ("string", False): "str",
    ("string", True): "str",
    ("bytes", False): "object",
    ("bytes", True): "object",
    ("timestamp", False): "datetime64[ns]",
    ("timestamp", True): "datetime64[ns]",
}
_VALID = (
    "valid types: "
    + ", ".join(SCALAR_KINDS)
    + ", struct, value (a '?' suffix makes a scalar optional); list[<scalar>]; "
    + "{table: {column: <scalar>}}, {record: {key: <type>}}, {series: <scalar>}"
)


def _scalar_word(text: str, where: str) -> tuple[ScalarKind, bool]:
    word = text.strip()
    optional = word.endswith("?")
    word = word.rstrip("?").strip()
    word = _ALIASES.get(word, word)
    if word not in SCALAR_KINDS:
        raise SchemaError(f"{where}: unknown type {text!r}; {_VALID}")
    return cast(ScalarKind, word), optional


def type_from_config(spec: Any, *, where: str) -> TypeSpec:
    """Parse one entry of the ``schemas:`` section (the language is in the module docstring).

    ``where`` names the entry in errors, e.g. ``"schemas.shuttles in conf/base/krt.yml"``.
    """
    if isinstance(spec, str):
        text = spec.strip()
        if text in ("struct", "dict"):
            return TypeSpec(kind="struct", container="dict")
        if text in ("value", "any"):
            return TypeSpec(kind="value")
        if text.startswith("list[") and text.endswith("]"):
            kind, optional = _scalar_word(text[5:-1], where)
            if optional:
                raise SchemaError(
                    f"{where}: list elements cannot be optional in {text!r}; {_VALID}"
                )
            return TypeSpec(kind="list", scalar=kind, container="list")
        kind, optional = _scalar_word(text, where)
        meta: tuple[tuple[str, str], ...] = (
            (("scalar_type", "pandas"),) if kind == "timestamp" else ()
        )
        return TypeSpec(kind="scalar", scalar=kind, optional=optional, meta=meta)
    if isinstance(spec, Mapping) and len(spec) == 1:
        ((key, body),) = spec.items()
        if key == "table":
            return _table_from_config(body, where=f"{where}.table")
        if key == "record":
            if not isinstance(body, Mapping) or not body:
                raise SchemaError(
                    f"{where}.record: expected a mapping of key -> type, got {body!r}; {_VALID}"
                )
            return record_type(
                {str(k): type_from_config(v, where=f"{where}.record.{k}") for k, v in body.items()}
            )
        if key == "series":
            if not isinstance(body, str):
                raise SchemaError(f"{where}.series: expected a scalar type name, got {body!r}")
            kind, optional = _scalar_word(body, f"{where}.series")
            dtype = _DTYPES[(kind, optional)]
            return TypeSpec(kind="list", scalar=kind, container="series", meta=(("dtype", dtype),))
        if key == "list":
            return type_from_config(f"list[{body}]", where=where)
    raise SchemaError(f"{where}: cannot read the type {spec!r}; {_VALID}")


def _table_from_config(body: Any, *, where: str) -> TypeSpec:
    if not isinstance(body, Mapping) or not body:
        raise SchemaError(f"{where}: expected a mapping of column -> type, got {body!r}; {_VALID}")
    originals = [str(c) for c in body]
    idents = unique_identifiers(originals)
    columns = []
    for original, text in zip(originals, body.values(), strict=True):
        if not isinstance(text, str):
            raise SchemaError(
                f"{where}.{original}: expected a scalar type name, got {text!r}; {_VALID}"
            )
        kind, optional = _scalar_word(text, f"{where}.{original}")
        columns.append(
            Column(
                name=idents[original],
                original=original,
                kind=kind,
                optional=optional,
                dtype=_DTYPES[(kind, optional)],
            )
        )
    return TypeSpec(kind="table", columns=tuple(columns), container="dataframe")
