"""The example request of an rpc, from its descriptor: the one of docs/README.md and /endpoints.

The example is proto3 JSON exactly as ``json_format.MessageToDict(..., preserving_proto_field_name
=True)`` prints it (64-bit integers as strings, bytes in base64, well-known types in their own
JSON form), so that what the docs show, what ``/endpoints`` returns and what a caller sends agree.
Every field is filled with a value that is not its default (json_format would leave a default
out), except kedro-krt's per-message ``parameters``: left unset, every parameter keeps the
project's value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from kedro_krt.node.plan import PARAMETERS_FIELD, PUBLIC_PROTO

__all__ = [
    "EXAMPLES_DIR",
    "MAX_DEPTH",
    "SCALARS",
    "WELL_KNOWN_EXAMPLES",
    "example_message",
    "example_path",
    "example_requests",
    "field_enum",
    "field_message",
    "given_example",
    "is_map",
    "is_repeated",
]

MAX_DEPTH = 6

#: Where a KRT keeps each rpc's example request (proto3 JSON): written by ``package``, read by
#: the local server's ``/endpoints``; a hand-written KRT may hold its own.
EXAMPLES_DIR = "docs/examples"


def example_path(rpc: str) -> str:
    """The path in a KRT of ``rpc``'s example request."""
    return f"{EXAMPLES_DIR}/{rpc}.json"


#: Well-known types have a JSON form of their own in proto3 JSON.
WELL_KNOWN_EXAMPLES: dict[str, Any] = {
    "google.protobuf.Timestamp": "2024-01-01T00:00:00Z",
    "google.protobuf.Duration": "1.500s",
    "google.protobuf.Struct": {"key": "value"},
    "google.protobuf.Value": "any JSON value",
    "google.protobuf.ListValue": ["any JSON value"],
    "google.protobuf.Empty": {},
    "google.protobuf.FieldMask": "a.b,c",
    # An Any names a type the reader must know: the empty Any is the one every reader takes.
    "google.protobuf.Any": {},
    "google.protobuf.DoubleValue": 0.5,
    "google.protobuf.FloatValue": 0.5,
    "google.protobuf.Int64Value": "1",
    "google.protobuf.UInt64Value": "1",
    "google.protobuf.Int32Value": 1,
    "google.protobuf.UInt32Value": 1,
    "google.protobuf.BoolValue": True,
    "google.protobuf.StringValue": "text",
    "google.protobuf.BytesValue": "Ynl0ZXM=",
}

#: The proto name of each scalar field type, and its example (``None``: the field's name).
SCALARS: dict[int, tuple[str, Any]] = {
    FieldDescriptor.TYPE_DOUBLE: ("double", 0.5),
    FieldDescriptor.TYPE_FLOAT: ("float", 0.5),
    FieldDescriptor.TYPE_INT64: ("int64", "1"),  # proto3 JSON writes 64-bit ints as strings
    FieldDescriptor.TYPE_UINT64: ("uint64", "1"),
    FieldDescriptor.TYPE_SINT64: ("sint64", "1"),
    FieldDescriptor.TYPE_FIXED64: ("fixed64", "1"),
    FieldDescriptor.TYPE_SFIXED64: ("sfixed64", "1"),
    FieldDescriptor.TYPE_INT32: ("int32", 1),
    FieldDescriptor.TYPE_UINT32: ("uint32", 1),
    FieldDescriptor.TYPE_SINT32: ("sint32", 1),
    FieldDescriptor.TYPE_FIXED32: ("fixed32", 1),
    FieldDescriptor.TYPE_SFIXED32: ("sfixed32", 1),
    FieldDescriptor.TYPE_BOOL: ("bool", True),
    FieldDescriptor.TYPE_STRING: ("string", None),
    FieldDescriptor.TYPE_BYTES: ("bytes", "Ynl0ZXM="),  # b"bytes", base64 as proto3 JSON has it
}


def field_message(fd: FieldDescriptor) -> Descriptor:
    """The message type of a message field."""
    assert fd.message_type is not None, fd.full_name
    return fd.message_type


def field_enum(fd: FieldDescriptor) -> EnumDescriptor:
    """The enum type of an enum field."""
    assert fd.enum_type is not None, fd.full_name
    return fd.enum_type


def is_map(fd: FieldDescriptor) -> bool:
    """Whether ``fd`` is a ``map<...>`` field."""
    msg = fd.message_type
    return bool(msg is not None and msg.GetOptions().map_entry)


def is_repeated(fd: FieldDescriptor) -> bool:
    """Whether ``fd`` is ``repeated`` (maps included)."""
    # ``label`` is deprecated in recent protobuf in favour of ``is_repeated``.
    flag = getattr(fd, "is_repeated", None)
    if flag is not None:
        return bool(flag)
    return bool(getattr(fd, "label", None) == FieldDescriptor.LABEL_REPEATED)


def _example_single(fd: FieldDescriptor, depth: int) -> Any:
    if fd.type == FieldDescriptor.TYPE_ENUM:
        values = [v.name for v in field_enum(fd).values]
        return values[1] if len(values) > 1 else values[0]
    if fd.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
        nested = field_message(fd)
        if nested.full_name in WELL_KNOWN_EXAMPLES:
            return WELL_KNOWN_EXAMPLES[nested.full_name]
        return example_message(nested, depth + 1) if depth < MAX_DEPTH else {}
    value = SCALARS[fd.type][1]
    return fd.name if value is None else value


def _map_key(fd: FieldDescriptor) -> str:
    """A map key as proto3 JSON writes it: always text, of the key's type ("1", "true")."""
    if fd.type == FieldDescriptor.TYPE_STRING:
        return "key"
    return "true" if fd.type == FieldDescriptor.TYPE_BOOL else "1"


def example_message(desc: Descriptor, depth: int = 0) -> dict[str, Any]:
    """An example of a message in proto3 JSON (field names as in the proto).

    Every field is filled, one member per oneof, except a top-level message field named
    ``parameters`` (kedro-krt's per-message parameters: unset, the project's values hold).
    """
    if desc.full_name in WELL_KNOWN_EXAMPLES:
        value = WELL_KNOWN_EXAMPLES[desc.full_name]
        return value if isinstance(value, dict) else {"value": value}
    out: dict[str, Any] = {}
    seen_oneofs: set[str] = set()
    for fd in desc.fields:
        if depth == 0 and fd.name == PARAMETERS_FIELD and fd.message_type is not None:
            continue
        oneof = fd.containing_oneof
        if oneof is not None and oneof.name != f"_{fd.name}":
            if oneof.name in seen_oneofs:
                continue  # one member of a oneof, or the request is invalid
            seen_oneofs.add(oneof.name)
        if is_map(fd):
            entry = field_message(fd)
            key = _map_key(entry.fields_by_name["key"])
            out[fd.name] = {key: _example_single(entry.fields_by_name["value"], depth)}
        elif is_repeated(fd):
            out[fd.name] = [_example_single(fd, depth)]
        else:
            out[fd.name] = _example_single(fd, depth)
    return out


def given_example(desc: Descriptor, text: str | bytes) -> dict[str, Any] | None:
    """``text`` (proto3 JSON) as json_format prints it for message ``desc``, or ``None`` when
    it is not a valid ``desc``: protobuf's own parser is the judge of what a caller may send."""
    try:
        message = json_format.Parse(text, message_factory.GetMessageClass(desc)())
    except (json_format.ParseError, TypeError, ValueError):
        return None
    return dict(json_format.MessageToDict(message, preserving_proto_field_name=True))


def example_requests(
    descriptors: descriptor_pb2.FileDescriptorSet,
    given: Mapping[str, str] | None = None,
    service: str = "Entrypoint",
) -> Mapping[str, dict[str, Any]]:
    """The example request of every rpc of ``service`` in ``public_input.proto``, by rpc name.

    ``descriptors`` is protoc's descriptor set of the protos, imports included
    (:func:`kedro_krt.emit.protoc.descriptor_set`). ``given`` holds, by rpc, the example the
    compiler made of sample rows (proto3 JSON text); an rpc without one, or whose example does
    not fit its request, gets one made from the types (:func:`example_message`).
    """
    pool = descriptor_pool.DescriptorPool()
    for file_proto in descriptors.file:
        pool.Add(file_proto)
    methods = pool.FindFileByName(PUBLIC_PROTO).services_by_name[service].methods
    out = {}
    for m in methods:
        text = (given or {}).get(m.name, "")
        example = given_example(m.input_type, text) if text else None
        out[m.name] = example if example is not None else example_message(m.input_type)
    return out
