"""Render :class:`~kedro_krt.node.schema.types.Message` values as proto3 text.

The text is deterministic (same messages -> same bytes) so that the same project gives the same
KRT. Layout: header comment, ``syntax``, ``package``, imports (sorted), ``service Entrypoint``,
then each message. Inside a message, nested messages come first (a table field ``shuttles`` gets
``message ShuttlesRow``, or ``message ShuttlesColumns`` in the ``columns`` layout, a record field
``options`` gets ``message Options``), then the fields.

The ``columns`` layout of a table: ``message <Name>Columns`` holds one ``repeated`` field per
column, with the numbers the row message would have; a timestamp column is ``repeated int64``
nanoseconds since the epoch (UTC, NaT as the int64 minimum, as pandas stores it), since a
``repeated google.protobuf.Timestamp`` would be one message per row again; an optional column
``x`` gets ``repeated bool x_valid`` (see :func:`kedro_krt.node.schema.types.validity_fields`).
A field whose original name differs from its identifier carries it in a trailing comment.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence

from kedro_krt.node.schema.types import (
    PROTO_SCALAR,
    Column,
    Field,
    Message,
    SchemaError,
    TypeSpec,
    column_numbers,
    to_message_name,
    validity_fields,
)

__all__ = ["nested_message_names", "render_proto", "uses_imports"]

TIMESTAMP_PROTO = "google/protobuf/timestamp.proto"
STRUCT_PROTO = "google/protobuf/struct.proto"
_INDENT = "  "
_NS_NOTE = "nanoseconds since 1970-01-01 UTC"


def nested_message_names(fields: Sequence[Field], parent: str = "") -> dict[str, str]:
    """``{field name: nested message name}`` for the table and record fields of a message.

    Tables get ``<Field>Row`` (``<Field>Columns`` in the columns layout), records ``<Field>``;
    duplicates (and the parent's own name) are
    made unique with a number, deterministically in field order.
    """
    out: dict[str, str] = {}
    used: set[str] = {parent} if parent else set()
    for f in fields:
        if f.type.kind not in ("table", "record"):
            continue
        suffix = ""
        if f.type.kind == "table":
            suffix = "Columns" if f.type.layout == "columns" else "Row"
        base = to_message_name(f.name) + suffix
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}{n}"
        used.add(name)
        out[f.name] = name
    return out


def _walk_types(spec: TypeSpec) -> Iterator[TypeSpec]:
    yield spec
    for f in spec.fields:
        yield from _walk_types(f.type)


def uses_imports(messages: Sequence[Message]) -> list[str]:
    """The well-known-type protos the messages need, sorted."""
    needed: set[str] = set()
    for m in messages:
        for f in m.fields:
            for spec in _walk_types(f.type):
                if spec.scalar == "timestamp" or (
                    spec.layout == "rows" and any(c.kind == "timestamp" for c in spec.columns)
                ):
                    needed.add(TIMESTAMP_PROTO)
                if spec.kind in ("struct", "value"):
                    needed.add(STRUCT_PROTO)
    return sorted(needed)


def _comment(name: str, original: str) -> str:
    return f"  // {json.dumps(original, ensure_ascii=False)}" if original != name else ""


def _column_line(col: Column, number: int) -> str:
    proto = PROTO_SCALAR[col.kind]
    # A Timestamp is a message field: it has presence already, `optional` would be redundant.
    presence = col.optional or col.required
    label = "optional " if presence and col.kind != "timestamp" else ""
    return f"{label}{proto} {col.name} = {number};{_comment(col.name, col.original)}"


def _columns_lines(spec: TypeSpec, where: str) -> list[str]:
    """The fields of a ``<Name>Columns`` message: one repeated field per column, validity last."""
    numbers = column_numbers(spec.columns)
    validity = validity_fields(spec.columns)
    all_numbers = numbers + [n for _, n in validity.values()]
    if len(set(all_numbers)) != len(all_numbers):
        raise SchemaError(f"{where}: two columns share a field number {numbers}")
    lines = []
    for number, col in zip(numbers, spec.columns, strict=True):
        proto = "int64" if col.kind == "timestamp" else PROTO_SCALAR[col.kind]
        comment = _comment(col.name, col.original)
        if col.kind == "timestamp":
            comment = f"{comment}; {_NS_NOTE}" if comment else f"  // {_NS_NOTE}"
        lines.append(f"repeated {proto} {col.name} = {number};{comment}")
    for col in spec.columns:
        if col.name in validity:
            name, number = validity[col.name]
            lines.append(f"repeated bool {name} = {number};  // false: {col.name} is null")
    return lines


def _check_numbers(fields: Sequence[Field], where: str) -> None:
    seen: dict[int, str] = {}
    names: set[str] = set()
    for f in fields:
        if f.number < 1 or 19000 <= f.number <= 19999 or f.number > 536870911:
            raise SchemaError(f"{where}.{f.name}: field number {f.number} is not allowed by proto3")
        if f.number in seen:
            raise SchemaError(
                f"{where}: fields {seen[f.number]!r} and {f.name!r} share number {f.number}"
            )
        if f.name in names:
            raise SchemaError(f"{where}: two fields are named {f.name!r}")
        seen[f.number] = f.name
        names.add(f.name)


def _message_lines(name: str, fields: Sequence[Field], doc: str, depth: int) -> list[str]:
    pad = _INDENT * depth
    _check_numbers(fields, name)
    lines = [f"{pad}// {line}".rstrip() for line in doc.splitlines()] if doc else []
    lines.append(f"{pad}message {name} {{")
    nested = nested_message_names(fields, parent=name)
    inner = pad + _INDENT
    for f in fields:
        if f.type.kind == "table" and f.type.layout == "columns":
            lines.append(f"{inner}message {nested[f.name]} {{")
            for line in _columns_lines(f.type, f"{name}.{nested[f.name]}"):
                lines.append(f"{inner}{_INDENT}{line}")
            lines.append(f"{inner}}}")
        elif f.type.kind == "table":
            row = nested[f.name]
            lines.append(f"{inner}message {row} {{")
            numbers = [col.number or i for i, col in enumerate(f.type.columns, start=1)]
            if len(set(numbers)) != len(numbers):
                raise SchemaError(f"{name}.{row}: two columns share a field number {numbers}")
            for number, col in zip(numbers, f.type.columns, strict=True):
                lines.append(f"{inner}{_INDENT}{_column_line(col, number)}")
            lines.append(f"{inner}}}")
        elif f.type.kind == "record":
            lines.extend(_message_lines(nested[f.name], f.type.fields, "", depth + 1))
    for f in fields:
        lines.append(f"{inner}{_field_decl(f, nested)};{_comment(f.name, f.original)}")
    lines.append(f"{pad}}}")
    return lines


def _field_decl(f: Field, nested: Mapping[str, str]) -> str:
    spec = f.type
    if spec.kind == "scalar":
        assert spec.scalar is not None
        label = "optional " if spec.optional and spec.scalar != "timestamp" else ""
        return f"{label}{PROTO_SCALAR[spec.scalar]} {f.name} = {f.number}"
    if spec.kind == "list":
        assert spec.scalar is not None
        return f"repeated {PROTO_SCALAR[spec.scalar]} {f.name} = {f.number}"
    if spec.kind == "table" and spec.layout == "columns":
        return f"{nested[f.name]} {f.name} = {f.number}"
    if spec.kind == "table":
        return f"repeated {nested[f.name]} {f.name} = {f.number}"
    if spec.kind == "record":
        return f"{nested[f.name]} {f.name} = {f.number}"
    if spec.kind == "struct":
        return f"google.protobuf.Struct {f.name} = {f.number}"
    return f"google.protobuf.Value {f.name} = {f.number}"


def render_proto(
    messages: Sequence[Message],
    *,
    package: str = "entrypoint",
    service: Mapping[str, tuple[str, str]] | None = None,
    imports: Sequence[str] = (),
    header: str = "",
) -> str:
    """Render messages (and ``service Entrypoint`` when ``service`` is given) as proto3 text.

    ``service`` maps rpc name -> (request message, response message), rendered in the given order.
    ``imports`` are added to the well-known-type imports the messages need.
    """
    names = [m.name for m in messages]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SchemaError(f"messages {dupes} are defined more than once in package {package!r}")
    lines: list[str] = [f"// {line}".rstrip() for line in header.splitlines()]
    if lines:
        lines.append("")
    lines += ['syntax = "proto3";', "", f"package {package};", ""]
    all_imports = sorted(set(uses_imports(messages)) | set(imports))
    if all_imports:
        lines += [f'import "{i}";' for i in all_imports]
        lines.append("")
    if service:
        lines.append("service Entrypoint {")
        for rpc, (req, resp) in service.items():
            lines.append(f"{_INDENT}rpc {rpc} ({req}) returns ({resp}) {{}};")
        lines += ["}", ""]
    for m in messages:
        lines.extend(_message_lines(m.name, m.fields, m.doc, 0))
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
