"""Plain data that describes a dataset's type, and the naming rules for protobuf.

A :class:`TypeSpec` says what a request/response/internal field carries and how to rebuild the
Python value at decode. Everything here is a frozen dataclass that round-trips through JSON, because
the compiled plan stores it and the runtime reads it back inside a KRT node.

Naming rules (the same in code and docs):

* a field identifier is lower ``snake_case`` ASCII, ``[a-z_][a-z0-9_]*``; ``CamelCase`` is split
  (``EngineType`` -> ``engine_type``), any other character becomes ``_``, a ``.`` becomes ``__``
  (``ds.price`` -> ``ds__price``), a leading digit gets a ``_`` prefix (``2nd`` -> ``_2nd``), and a
  name that is a proto or Python keyword gets a trailing ``_`` (``class`` -> ``class_``);
* a message name is ``CamelCase`` of the words (``ny-room.price`` -> ``NyRoomPrice``);
* names that collide after conversion get ``_2``, ``_3`` ... in the order given (also when only
  their JSON names collide, which protoc rejects: ``a_b`` and ``a__b`` are both ``aB`` in JSON).
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from kedro_krt.node.errors import KrtError

ScalarKind = Literal["double", "int64", "bool", "string", "bytes", "timestamp"]
Kind = Literal["scalar", "list", "table", "record", "struct", "value"]
#: How a table travels: ``rows`` = ``repeated <Name>Row`` (one message per row), ``columns`` =
#: one ``<Name>Columns`` message with a ``repeated`` field per column (see :func:`validity_fields`).
TableLayout = Literal["rows", "columns"]
TABLE_LAYOUTS: tuple[str, ...] = get_args(TableLayout)

SCALAR_KINDS: tuple[str, ...] = get_args(ScalarKind)
KINDS: tuple[str, ...] = get_args(Kind)

#: proto type of each scalar kind.
PROTO_SCALAR: Mapping[str, str] = {
    "double": "double",
    "int64": "int64",
    "bool": "bool",
    "string": "string",
    "bytes": "bytes",
    "timestamp": "google.protobuf.Timestamp",
}


class SchemaError(KrtError, ValueError):
    """A type declared or inferred for a dataset cannot become a proto field."""


@dataclass(frozen=True)
class Column:
    """One column of a table: a field of its ``<Name>Row`` message."""

    name: str  # proto identifier
    original: str  # the DataFrame's column name, restored at decode
    kind: ScalarKind
    optional: bool  # may hold nulls -> proto3 `optional` (presence) -> NaN/NA/None/NaT at decode
    dtype: str  # pandas dtype restored at decode, e.g. "int64", "Int64", "datetime64[ns, UTC]"
    number: int = 0  # field number in the row message; 0 = by position (1, 2, ...)
    # A value must be sent: declared `optional` in proto (for presence) and an unset cell is an
    # error at decode, instead of proto3 silently reading 0, false or "" (request columns).
    required: bool = False

    @property
    def must_send(self) -> bool:
        """Whether a row without this cell is refused (INVALID_ARGUMENT): the one rule the
        runtime applies, and the one docs/README.md and ``/endpoints`` show."""
        return self.required and not self.optional

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        out: dict[str, Any] = {
            "name": self.name,
            "original": self.original,
            "kind": self.kind,
            "optional": self.optional,
            "dtype": self.dtype,
        }
        if self.number:
            out["number"] = self.number
        if self.required:
            out["required"] = True
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Column:
        """Inverse of :meth:`to_json`."""
        kind = str(d["kind"])
        if kind not in SCALAR_KINDS:
            raise SchemaError(f"column {d.get('original')!r}: unknown scalar kind {kind!r}")
        return cls(
            name=str(d["name"]),
            original=str(d["original"]),
            kind=cast(ScalarKind, kind),
            optional=bool(d["optional"]),
            dtype=str(d["dtype"]),
            number=int(d.get("number", 0)),
            required=bool(d.get("required", False)),
        )


@dataclass(frozen=True)
class Field:
    """One field of a message: a dataset, a record key or a parameter."""

    name: str  # proto identifier
    original: str  # the dataset name / dict key restored at decode
    type: TypeSpec
    number: int

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "name": self.name,
            "original": self.original,
            "type": self.type.to_json(),
            "number": self.number,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Field:
        """Inverse of :meth:`to_json`."""
        return cls(
            name=str(d["name"]),
            original=str(d["original"]),
            type=TypeSpec.from_json(d["type"]),
            number=int(d["number"]),
        )


@dataclass(frozen=True)
class TypeSpec:
    """What a field carries, and what Python value to rebuild from it.

    ``container`` names the Python value rebuilt at decode: ``"dataframe"`` (table), ``"series"`` /
    ``"ndarray"`` / ``"list"`` / ``"tuple"`` (list), ``"dict"`` (record, struct) or ``""``.
    ``meta`` holds what else restoration needs, as string pairs: ``series_name`` (or
    ``series_name_json`` for a non-string name), ``dtype`` (Series/ndarray/numpy scalar dtype),
    ``tz`` (timezone of a datetime scalar), ``scalar_type`` (``datetime`` or ``pandas`` for a
    timestamp scalar).
    """

    kind: Kind
    scalar: ScalarKind | None = None  # scalar kind, or element kind of a list
    optional: bool = False  # scalar presence (proto3 `optional`)
    columns: tuple[Column, ...] = ()  # table
    fields: tuple[Field, ...] = ()  # record
    container: str = ""
    meta: tuple[tuple[str, str], ...] = ()
    layout: TableLayout = "rows"  # table: one message per row, or one repeated field per column

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SchemaError(f"unknown type kind {self.kind!r}; expected one of {list(KINDS)}")
        if self.layout not in TABLE_LAYOUTS:
            raise SchemaError(
                f"unknown table layout {self.layout!r}; expected one of {list(TABLE_LAYOUTS)}"
            )
        if self.layout != "rows" and self.kind != "table":
            raise SchemaError(f"a {self.kind} has no layout; only a table is rows or columns")
        if self.kind in ("scalar", "list") and self.scalar not in SCALAR_KINDS:
            raise SchemaError(
                f"a {self.kind} type needs a scalar kind, one of {list(SCALAR_KINDS)}; "
                f"got {self.scalar!r}"
            )

    def meta_get(self, key: str, default: str | None = None) -> str | None:
        """The value of ``key`` in :attr:`meta`, or ``default``."""
        for k, v in self.meta:
            if k == key:
                return v
        return default

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (only the keys that differ from the defaults)."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.scalar is not None:
            out["scalar"] = self.scalar
        if self.optional:
            out["optional"] = True
        if self.columns:
            out["columns"] = [c.to_json() for c in self.columns]
        if self.fields:
            out["fields"] = [f.to_json() for f in self.fields]
        if self.container:
            out["container"] = self.container
        if self.meta:
            out["meta"] = [[k, v] for k, v in self.meta]
        if self.layout != "rows":
            out["layout"] = self.layout
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TypeSpec:
        """Inverse of :meth:`to_json`."""
        kind = str(d["kind"])
        if kind not in KINDS:
            raise SchemaError(f"unknown type kind {kind!r}; expected one of {list(KINDS)}")
        scalar = d.get("scalar")
        return cls(
            kind=cast(Kind, kind),
            scalar=cast(ScalarKind, str(scalar)) if scalar is not None else None,
            optional=bool(d.get("optional", False)),
            columns=tuple(Column.from_json(c) for c in d.get("columns", ())),
            fields=tuple(Field.from_json(f) for f in d.get("fields", ())),
            container=str(d.get("container", "")),
            meta=tuple((str(k), str(v)) for k, v in d.get("meta", ())),
            layout=cast(TableLayout, str(d.get("layout", "rows"))),
        )

    def describe(self, field_name: str = "") -> str:
        """Short form for reports: ``repeated ShuttlesRow (12 columns)``, ``optional bool``."""
        if self.kind == "scalar":
            assert self.scalar is not None
            text = PROTO_SCALAR[self.scalar]
            # A Timestamp is a message: it has presence without `optional`.
            return f"optional {text}" if self.optional and self.scalar != "timestamp" else text
        if self.kind == "list":
            assert self.scalar is not None
            return f"repeated {PROTO_SCALAR[self.scalar]}"
        if self.kind == "table":
            n = len(self.columns)
            count = f"({n} column{'s' if n != 1 else ''})"
            if self.layout == "columns":
                cols = f"{to_message_name(field_name)}Columns" if field_name else "Columns"
                return f"{cols} {count}"
            row = f"{to_message_name(field_name)}Row" if field_name else "Row"
            return f"repeated {row} {count}"
        if self.kind == "record":
            name = to_message_name(field_name) if field_name else "message"
            n = len(self.fields)
            return f"{name} ({n} field{'s' if n != 1 else ''})"
        if self.kind == "struct":
            return "google.protobuf.Struct"
        return "google.protobuf.Value"


@dataclass(frozen=True)
class Message:
    """A top-level proto message: a request, a response or a message between KRT nodes."""

    name: str  # CamelCase message name
    fields: tuple[Field, ...]
    doc: str = ""  # comment emitted above the message

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        out: dict[str, Any] = {"name": self.name, "fields": [f.to_json() for f in self.fields]}
        if self.doc:
            out["doc"] = self.doc
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Message:
        """Inverse of :meth:`to_json`."""
        return cls(
            name=str(d["name"]),
            fields=tuple(Field.from_json(f) for f in d.get("fields", ())),
            doc=str(d.get("doc", "")),
        )


# --- naming ---------------------------------------------------------------------------------

# Proto keywords and scalar type names: protoc accepts most of them as field names, but generated
# code in several languages (and readers) trip on them, so we never emit them.
_PROTO_WORDS = frozenset(
    " ".join(
        (
            "syntax import weak public package option message enum service rpc returns stream",
            "repeated optional required reserved to max map oneof extensions extend group true",
            "false inf nan double float int32 int64 uint32 uint64 sint32 sint64 fixed32 fixed64",
            "sfixed32 sfixed64 bool string bytes",
        )
    ).split()
)
# Python keywords (`class`, `from`, ...) would make `msg.class` a syntax error; the builtins the
# generated modules reference would be shadowed at module level by a same-named message.
_RESERVED_FIELDS = _PROTO_WORDS | frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)
_RESERVED_MESSAGES = frozenset({"None", "True", "False", "DESCRIPTOR"}) | frozenset(
    {"Any", "Struct", "Value", "ListValue", "Timestamp", "NullValue", "Empty"}
)

_CAMEL_1 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL_2 = re.compile(r"([a-z0-9])([A-Z])")
_NON_IDENT = re.compile(r"[^a-z0-9]+")


def _ascii(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")


def _snake_part(part: str) -> str:
    part = _CAMEL_2.sub(r"\1_\2", _CAMEL_1.sub(r"\1_\2", _ascii(part)))
    return _NON_IDENT.sub("_", part.lower()).strip("_")


def to_identifier(name: str) -> str:
    """Turn any string into a valid proto3 field identifier (see the module docstring).

    Deterministic; collisions between different names are resolved by :func:`unique_identifiers`.
    """
    ident = "__".join(_snake_part(p) for p in str(name).split("."))
    if not ident.strip("_"):
        ident = "field"
    if ident[0].isdigit():
        ident = "_" + ident
    if ident in _RESERVED_FIELDS:
        ident += "_"
    return ident


def to_message_name(name: str) -> str:
    """``"ny-room.price"`` -> ``"NyRoomPrice"``; ``"2nd"`` -> ``"M2nd"``."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", _ascii(str(name))) if w]
    text = "".join(w[0].upper() + w[1:] for w in words) or "Message"
    if text[0].isdigit():
        text = "M" + text
    if text in _RESERVED_MESSAGES:
        text += "_"
    return text


def json_name(identifier: str) -> str:
    """The JSON name protoc derives from a field identifier (lowerCamelCase of the underscores)."""
    out: list[str] = []
    upper_next = False
    for ch in identifier:
        if ch == "_":
            upper_next = True
        elif upper_next:
            out.append(ch.upper())
            upper_next = False
        else:
            out.append(ch)
    return "".join(out)


def unique_identifiers(names: Sequence[str], taken: Sequence[str] = ()) -> dict[str, str]:
    """Map each original name to a distinct identifier; later duplicates get ``_2``, ``_3`` ...

    Identifiers in ``taken`` are never returned. Two identifiers whose protoc JSON names coincide
    (``a_b`` / ``a__b``) count as a collision, since protoc refuses such a message.
    """
    used: set[str] = set(taken)
    used_json: set[str] = {json_name(t).lower() for t in taken}
    out: dict[str, str] = {}
    for original in names:
        if original in out:
            continue
        base = to_identifier(original)
        ident, n = base, 1
        # JSON names are compared case-folded too: "aB" vs "ab" are distinct for protoc, but
        # clients that lower-case keys are not; it costs nothing to keep them apart.
        while ident in used or json_name(ident).lower() in used_json:
            n += 1
            ident = f"{base.rstrip('_')}_{n}"
        used.add(ident)
        used_json.add(json_name(ident).lower())
        out[original] = ident
    return out


#: A validity field is numbered this much above its column (columns layout).
VALIDITY_OFFSET = 10_000
#: Column numbers at or above this cannot have a validity field (proto3 reserves 19000-19999).
MAX_COLUMNS_NUMBER = 9_000


def column_numbers(columns: Sequence[Column]) -> list[int]:
    """The field number of each column: its pinned ``number``, else its position (1, 2, ...)."""
    return [c.number or i for i, c in enumerate(columns, start=1)]


def validity_fields(columns: Sequence[Column]) -> dict[str, tuple[str, int]]:
    """``{column identifier: (validity field identifier, number)}`` for the optional columns of
    a table in the ``columns`` layout.

    An optional column ``x`` travels with ``repeated bool x_valid``: ``true`` where the row has
    a value, ``false`` where it is null (the column then holds a placeholder, 0, false, "" or
    NaN, so that every column has one value per row). An empty validity list means every row has
    a value. Its number is the column's number plus :data:`VALIDITY_OFFSET`, so that pinning a
    column's number pins its validity field too.
    """
    optional = [c for c in columns if c.optional]
    if not optional:
        return {}
    names = unique_identifiers(
        [f"{c.name}_valid" for c in optional], taken=[c.name for c in columns]
    )
    out: dict[str, tuple[str, int]] = {}
    for c, number in zip(columns, column_numbers(columns), strict=True):
        if not c.optional:
            continue
        if number >= MAX_COLUMNS_NUMBER:
            raise SchemaError(
                f"column {c.original!r} has field number {number}: in the columns layout an "
                f"optional column's number must be below {MAX_COLUMNS_NUMBER} (its validity "
                f"field takes number + {VALIDITY_OFFSET})"
            )
        out[c.name] = (names[f"{c.name}_valid"], number + VALIDITY_OFFSET)
    return out
