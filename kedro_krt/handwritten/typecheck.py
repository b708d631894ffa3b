"""Does a hand-written proto field carry a dataset? The type compile infers, against protoc's
descriptor of the field.

The check returns the dataset's type adapted to the hand-written message (its field and column
names, its presence), which the runtime's codec then uses as is; a mismatch is a
:class:`Mismatch` whose text says what differs. Table columns need the proto type compile
would give them (the codec writes large tables straight to the wire), scalars and lists take
the neighbouring types too (``int32`` for an ``int64``, ``float`` for a ``double``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from kedro_krt.node.schema.relay import is_repeated
from kedro_krt.node.schema.types import Column, Field, TypeSpec, to_identifier

Direction = Literal["in", "out"]

TIMESTAMP = "google.protobuf.Timestamp"
STRUCT = "google.protobuf.Struct"
VALUE = "google.protobuf.Value"

_FD = FieldDescriptor
_SCALAR_NAMES = {
    _FD.TYPE_DOUBLE: "double",
    _FD.TYPE_FLOAT: "float",
    _FD.TYPE_INT64: "int64",
    _FD.TYPE_UINT64: "uint64",
    _FD.TYPE_INT32: "int32",
    _FD.TYPE_FIXED64: "fixed64",
    _FD.TYPE_FIXED32: "fixed32",
    _FD.TYPE_BOOL: "bool",
    _FD.TYPE_STRING: "string",
    _FD.TYPE_BYTES: "bytes",
    _FD.TYPE_UINT32: "uint32",
    _FD.TYPE_SFIXED32: "sfixed32",
    _FD.TYPE_SFIXED64: "sfixed64",
    _FD.TYPE_SINT32: "sint32",
    _FD.TYPE_SINT64: "sint64",
}
_INTEGERS = frozenset(
    {
        _FD.TYPE_INT64,
        _FD.TYPE_UINT64,
        _FD.TYPE_INT32,
        _FD.TYPE_FIXED64,
        _FD.TYPE_FIXED32,
        _FD.TYPE_UINT32,
        _FD.TYPE_SFIXED32,
        _FD.TYPE_SFIXED64,
        _FD.TYPE_SINT32,
        _FD.TYPE_SINT64,
    }
)
#: The proto type compile gives each scalar kind: what a table column must be.
_EXACT = {
    "double": _FD.TYPE_DOUBLE,
    "int64": _FD.TYPE_INT64,
    "bool": _FD.TYPE_BOOL,
    "string": _FD.TYPE_STRING,
    "bytes": _FD.TYPE_BYTES,
}
_KIND_OF_TYPE = {
    _FD.TYPE_DOUBLE: "double",
    _FD.TYPE_FLOAT: "double",
    _FD.TYPE_BOOL: "bool",
    _FD.TYPE_STRING: "string",
    _FD.TYPE_BYTES: "bytes",
    **{t: "int64" for t in _INTEGERS},
}
_DEFAULT_DTYPE = {
    "double": "float64",
    "int64": "int64",
    "bool": "bool",
    "string": "object",
    "bytes": "object",
    "timestamp": "datetime64[ns]",
}


class Mismatch(Exception):
    """The field cannot carry the dataset; the message says what differs."""


@dataclass
class Fitted:
    """The dataset's type adapted to the field, and what is worth a warning."""

    spec: TypeSpec
    notes: list[str] = field(default_factory=list)


def _message_name(message: Descriptor) -> str:
    return message.full_name if message.full_name.startswith("google.") else message.name


def describe_field(fd: FieldDescriptor) -> str:
    """The field's type as its proto declares it: ``repeated ShuttleRow``, ``optional string``."""
    if fd.message_type is not None:
        text = _message_name(fd.message_type)
    elif fd.enum_type is not None:
        text = fd.enum_type.name
    else:
        text = _SCALAR_NAMES.get(fd.type, str(fd.type))
    if is_repeated(fd):
        return f"repeated {text}"
    if fd.has_presence and fd.message_type is None:
        return f"optional {text}"
    return text


def _is_message(fd: FieldDescriptor, name: str | None = None) -> bool:
    if fd.message_type is None:
        return False
    return name is None or fd.message_type.full_name == name


def _scalar_ok(kind: str, fd: FieldDescriptor, exact: bool) -> bool:
    if kind == "timestamp":
        return _is_message(fd, TIMESTAMP)
    if fd.message_type is not None or fd.enum_type is not None:
        return False
    if exact:
        return fd.type == _EXACT[kind]
    if kind == "double":
        return fd.type in (_FD.TYPE_DOUBLE, _FD.TYPE_FLOAT)
    if kind == "int64":
        return fd.type in _INTEGERS
    return fd.type == _EXACT[kind]


def _row_field(row: Descriptor, column: str, ident: str) -> FieldDescriptor | None:
    fields = row.fields_by_name
    return fields.get(ident) or fields.get(column) or fields.get(to_identifier(column))


def fit(spec: TypeSpec, fd: FieldDescriptor, direction: Direction) -> Fitted:
    """``spec`` (the dataset's type) adapted to field ``fd``, or :class:`Mismatch`.

    ``direction`` ``in``: the field's value becomes the dataset (the node's input message);
    ``out``: the dataset is written into the field (its output message).
    """
    if spec.kind == "value":
        if _is_message(fd, VALUE):
            return Fitted(spec)
        return Fitted(
            spec_from_field(fd),
            [f"no type was found for the dataset: it is read as the field declares it "
             f"({describe_field(fd)})"],
        )
    if spec.kind == "table":
        return _fit_table(spec, fd, direction)
    if spec.kind == "list":
        if not is_repeated(fd) or not _scalar_ok(spec.scalar or "", fd, False):
            raise Mismatch("a list needs a repeated field of that scalar type")
        return Fitted(spec)
    if spec.kind == "scalar":
        if is_repeated(fd) or not _scalar_ok(spec.scalar or "", fd, False):
            raise Mismatch("a single value needs a field of that scalar type, not repeated")
        return Fitted(spec)
    if spec.kind == "struct":
        if _is_message(fd, STRUCT) and not is_repeated(fd):
            return Fitted(spec)
        raise Mismatch("a free-form dict needs a google.protobuf.Struct field")
    return _fit_record(spec, fd, direction)


def _fit_table(spec: TypeSpec, fd: FieldDescriptor, direction: Direction) -> Fitted:
    if not is_repeated(fd) or fd.message_type is None or fd.message_type.full_name.startswith(
        "google."
    ) or fd.message_type.GetOptions().map_entry:
        raise Mismatch("a table needs a repeated field of a row message (one field per column)")
    row = fd.message_type
    notes: list[str] = []
    problems: list[str] = []
    columns: list[Column] = []
    used: set[str] = set()
    for c in spec.columns:
        cell = _row_field(row, c.original, c.name)
        if cell is None:
            if direction == "in":
                problems.append(f"{row.name} has no field for column '{c.original}' ({c.kind})")
            else:
                notes.append(
                    f"column '{c.original}' has no field in {row.name}: it is left out"
                )
            continue
        used.add(cell.name)
        if is_repeated(cell) or not _scalar_ok(c.kind, cell, True):
            wanted = TIMESTAMP if c.kind == "timestamp" else c.kind
            problems.append(
                f"column '{c.original}' is {c.kind} in the dataset, {row.name}.{cell.name} is "
                f"{describe_field(cell)} (a column needs {wanted})"
            )
            continue
        presence = bool(cell.has_presence)
        if direction == "in":
            if c.optional and not presence:
                notes.append(
                    f"column '{c.original}' holds nulls in the data it was typed from, but "
                    f"{row.name}.{cell.name} has no presence: a missing value cannot be sent "
                    f"(declare it `optional {describe_field(cell)}`)"
                )
            optional = presence
        else:
            if c.optional and not presence:
                notes.append(
                    f"column '{c.original}' may hold nulls, which {row.name}.{cell.name} (no "
                    "presence) delivers as 0, false or \"\""
                )
            optional = c.optional
        columns.append(
            replace(c, name=cell.name, number=cell.number, optional=optional, required=False)
        )
    if problems:
        raise Mismatch("; ".join(problems))
    extra = [f.name for f in row.fields if f.name not in used]
    if extra:
        if direction == "in":
            notes.append(f"{row.name} fields {', '.join(extra)} are not given to the pipeline")
        else:
            notes.append(f"{row.name} fields {', '.join(extra)} are left unset")
    return Fitted(replace(spec, columns=tuple(columns)), notes)


def _fit_record(spec: TypeSpec, fd: FieldDescriptor, direction: Direction) -> Fitted:
    if is_repeated(fd) or fd.message_type is None or fd.message_type.full_name.startswith(
        "google."
    ):
        raise Mismatch("a dict with known keys needs a field of a message with one field per key")
    message = fd.message_type
    notes: list[str] = []
    problems: list[str] = []
    fields: list[Field] = []
    used: set[str] = set()
    for sub in spec.fields:
        target = _row_field(message, sub.original, sub.name)
        if target is None:
            problems.append(f"{message.name} has no field for key '{sub.original}'")
            continue
        used.add(target.name)
        try:
            fitted = fit(sub.type, target, direction)
        except Mismatch as exc:
            problems.append(
                f"key '{sub.original}' ({sub.type.describe(sub.name)}) does not fit "
                f"{message.name}.{target.name} ({describe_field(target)}): {exc}"
            )
            continue
        notes.extend(fitted.notes)
        fields.append(Field(target.name, sub.original, fitted.spec, target.number))
    if problems:
        raise Mismatch("; ".join(problems))
    extra = [f.name for f in message.fields if f.name not in used]
    if extra:
        notes.append(f"{message.name} fields {', '.join(extra)} are "
                     + ("not given to the pipeline" if direction == "in" else "left unset"))
    return Fitted(replace(spec, fields=tuple(fields)), notes)


def spec_from_field(fd: FieldDescriptor) -> TypeSpec:
    """The type a field declares, for a dataset whose type nothing else tells.

    A repeated message becomes a table (a DataFrame), a message a dict, a repeated scalar a
    list, a scalar a value. Enums and messages nested in rows have no such reading.
    """
    if fd.enum_type is not None:
        raise Mismatch("an enum field has no Python type here: give the dataset's type under "
                       "`schemas:`")
    if fd.message_type is not None:
        name = fd.message_type.full_name
        if name == TIMESTAMP:
            kind: TypeSpec = TypeSpec(kind="scalar", scalar="timestamp")
            return TypeSpec(kind="list", scalar="timestamp") if is_repeated(fd) else kind
        if name == STRUCT:
            return TypeSpec(kind="struct", container="dict")
        if name == VALUE:
            return TypeSpec(kind="value")
        if is_repeated(fd):
            columns = []
            for cell in fd.message_type.fields:
                if is_repeated(cell) or (
                    cell.message_type is not None and cell.message_type.full_name != TIMESTAMP
                ):
                    raise Mismatch(
                        f"{fd.message_type.name}.{cell.name} is {describe_field(cell)}: a row "
                        "field read as a table column must be a single scalar or a Timestamp"
                    )
                ckind = "timestamp" if cell.message_type is not None else _KIND_OF_TYPE[cell.type]
                columns.append(
                    Column(
                        name=cell.name,
                        original=cell.name,
                        kind=ckind,  # type: ignore[arg-type]
                        optional=bool(cell.has_presence),
                        dtype=_DEFAULT_DTYPE[ckind],
                        number=cell.number,
                    )
                )
            return TypeSpec(kind="table", columns=tuple(columns), container="dataframe")
        fields = tuple(
            Field(sub.name, sub.name, spec_from_field(sub), sub.number)
            for sub in fd.message_type.fields
        )
        return TypeSpec(kind="record", fields=fields, container="dict")
    kind_name = _KIND_OF_TYPE[fd.type]
    if is_repeated(fd):
        return TypeSpec(kind="list", scalar=kind_name, container="list")  # type: ignore[arg-type]
    return TypeSpec(
        kind="scalar", scalar=kind_name, optional=bool(fd.has_presence)  # type: ignore[arg-type]
    )
