"""The unknown-field check of a request (runtime/node_base.py) finds what protobuf leaves unknown.

Bytes of another message type parse without error in proto3 and leave unknown fields. A message
of up to 64 KiB is checked whole (``unknown_fields_in``: its size with and without them); a
bigger one by a walk that looks at the message and the first element of each repeated message
field, depth first (``unknown_fields_at``), and names where it found them. The walk's field
list is worked out once per message type; these cases hold it to a walk over ``ListFields()``
on every message.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import descriptor_pb2, struct_pb2, unknown_fields

from kedro_krt.node.runtime import node_base as node_module
from kedro_krt.node.runtime.errors import InvalidRequest
from kedro_krt.node.runtime.node_base import (
    WrongType,
    refuse_stray_fields,
    unknown_fields_at,
    unknown_fields_in,
)
from kedro_krt.node.schema.relay import is_repeated


def _walk(msg: Any, path: str) -> str | None:
    """The same check, reading the set fields of every message with ListFields()."""
    unknown = unknown_fields.UnknownFieldSet(msg)
    if len(unknown):
        numbers = sorted({f.field_number for f in unknown})
        return f"{path or 'the message'} (field number(s) {', '.join(map(str, numbers))})"
    for fd, value in msg.ListFields():
        if fd.message_type is None or fd.message_type.GetOptions().map_entry:
            continue
        if is_repeated(fd):
            value, where = value[0], f"{path}{'.' if path else ''}{fd.name}[0]"
        else:
            where = f"{path}{'.' if path else ''}{fd.name}"
        found = _walk(value, where)
        if found:
            return found
    return None


def _file(where: str) -> descriptor_pb2.FileDescriptorProto:
    msg = descriptor_pb2.FileDescriptorProto(name="x.proto")
    msg.message_type.add(name="A")
    msg.message_type.add(name="B").field.add(name="f", number=1)
    foreign = b"\xa8\x06\x01"  # field 101, varint 1: unknown to these types
    if where == "top":
        msg.MergeFromString(foreign)
    elif where == "first row":
        msg.message_type[0].MergeFromString(foreign)
    elif where == "second row":  # not looked at: the walk reads the first element only
        msg.message_type[1].MergeFromString(foreign)
    elif where == "nested":
        msg.options.MergeFromString(b"\xa0\x38\x01")  # field 900 of FileOptions
    return msg


@pytest.mark.parametrize("where", ["none", "top", "first row", "second row", "nested"])
def test_the_check_finds_what_a_full_walk_finds(where: str) -> None:
    msg = _file(where)
    assert unknown_fields_at(msg, "") == _walk(msg, "")
    expected = {
        "none": None,
        "top": "the message (field number(s) 101)",
        "first row": "message_type[0] (field number(s) 101)",
        "second row": None,
        "nested": "options (field number(s) 900)",
    }[where]
    assert unknown_fields_at(msg, "") == expected


def test_map_fields_are_not_walked() -> None:
    msg = struct_pb2.Struct()
    msg.fields["a"].number_value = 1
    assert unknown_fields_at(msg, "") is None


@pytest.mark.parametrize("where", ["none", "top", "first row", "second row", "nested"])
def test_a_small_message_is_checked_whole(where: str) -> None:
    payload = _file(where).SerializeToString()
    msg = descriptor_pb2.FileDescriptorProto.FromString(payload)
    found = unknown_fields_in(msg, payload)
    expected = {
        "none": None,
        "top": "the message (field number(s) 101)",
        "first row": "message_type[0] (field number(s) 101)",
        # the sampling walk does not look there; the whole check does, and says where
        "second row": "message_type[1] (field number(s) 101)",
        "nested": "options (field number(s) 900)",
    }[where]
    assert found == expected


def test_a_big_message_gets_the_sampling_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node_module, "_WHOLE_CHECK_BYTES", 4)
    first = "message_type[0] (field number(s) 101)"
    for where, expected in (("second row", None), ("first row", first)):
        payload = _file(where).SerializeToString()
        assert len(payload) > 4
        msg = descriptor_pb2.FileDescriptorProto.FromString(payload)
        assert unknown_fields_in(msg, payload) == expected


def test_a_defined_field_of_the_wrong_wire_type_is_named_with_both_types() -> None:
    """`name` (a string) sent as a varint: protobuf keeps it aside as unknown; the check says
    which field it is, what it is and what came, not "fields it does not define"."""
    msg = descriptor_pb2.FileDescriptorProto(name="x.proto")
    msg.message_type.add(name="A").MergeFromString(b"\x08\x05")  # field 1, varint 5
    payload = msg.SerializeToString()
    found = unknown_fields_in(descriptor_pb2.FileDescriptorProto.FromString(payload), payload)
    assert isinstance(found, WrongType)
    assert found == (
        "message_type[0], field 'name' (number 1): a string, sent as a length-delimited value, "
        "got a varint"
    )
    with pytest.raises(InvalidRequest) as refused:
        refuse_stray_fields("etl", "google.protobuf.FileDescriptorProto", found)
    assert str(refused.value).startswith(
        "node 'etl': the google.protobuf.FileDescriptorProto has a field of the wrong type, at "
        "message_type[0], field 'name'"
    )
    undefined = unknown_fields_at(_file("top"), "")
    assert undefined is not None and not isinstance(undefined, WrongType)
    with pytest.raises(InvalidRequest, match=r"carries fields it does not define, at the "
                       r"message \(field number\(s\) 101\)"):
        refuse_stray_fields("etl", "T", undefined)
