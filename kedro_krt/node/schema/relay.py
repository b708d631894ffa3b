"""Pass message fields from one message type to another as bytes, without decoding them.

Between KRT nodes a message carries what later nodes need, and a node often only passes a field
on: `model` relays the request rows that `output` reads. Decoding those rows into a DataFrame and
encoding them again costs more than the node's own work on small requests. Two generated row
types with the same layout (names, numbers, types) have the same wire bytes, so a relay copies
each element's bytes under the destination field's number and lets protobuf parse them once.
The bytes relayed are the ones received: the value downstream is the value sent, whatever a node
did to its own decoded copy (as Kedro, which hands each node its own copy of a dataset).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from kedro_krt.node.schema.wire import tag_bytes, varint_bytes

_LENGTH_DELIMITED = 2


def same_layout(a: Descriptor, b: Descriptor, _seen: frozenset[str] = frozenset()) -> bool:
    """True when messages `a` and `b` have the same fields: names, numbers, types, labels."""
    if a.full_name in _seen:
        return True
    seen = _seen | {a.full_name}
    if set(a.fields_by_name) != set(b.fields_by_name):
        return False
    for name, fa in a.fields_by_name.items():
        fb = b.fields_by_name[name]
        # Presence (`optional`) may differ: a request column has it, the same column between
        # nodes does not. The wire bytes of a value are the same either way.
        if (fa.number, fa.type, is_repeated(fa)) != (fb.number, fb.type, is_repeated(fb)):
            return False
        ma, mb = fa.message_type, fb.message_type
        if ma is not None and mb is not None:
            if ma.full_name.startswith("google.protobuf."):
                if ma.full_name != mb.full_name:
                    return False
            elif not same_layout(ma, mb, seen):
                return False
    return True


def is_repeated(fd: FieldDescriptor) -> bool:
    """Is the field repeated, on every protobuf runtime a KRE runner may have."""
    # `is_repeated` is protobuf 6+; `label` the older API that kre-py's 3.x runners have.
    if hasattr(fd, "is_repeated"):
        return bool(fd.is_repeated)
    return bool(getattr(fd, "label") == FieldDescriptor.LABEL_REPEATED)  # noqa: B009


class Relay:
    """Copies message-typed fields `names` from `src_cls` messages into `dst_cls` messages."""

    def __init__(self, src_cls: type, dst_cls: type, names: Iterable[str]) -> None:
        src: Descriptor = src_cls.DESCRIPTOR  # type: ignore[attr-defined]
        dst: Descriptor = dst_cls.DESCRIPTOR  # type: ignore[attr-defined]
        self.fields: list[tuple[str, bytes, bool]] = []
        for name in names:
            fs, fd = src.fields_by_name[name], dst.fields_by_name[name]
            tag = tag_bytes(fd.number, _LENGTH_DELIMITED)
            self.fields.append((name, tag, is_repeated(fs)))

    @staticmethod
    def compatible(src_cls: type, dst_cls: type, name: str) -> bool:
        """Can field `name` be relayed (message-typed on both sides, same layout)?"""
        src = src_cls.DESCRIPTOR.fields_by_name.get(name)  # type: ignore[attr-defined]
        dst = dst_cls.DESCRIPTOR.fields_by_name.get(name)  # type: ignore[attr-defined]
        if src is None or dst is None:
            return False
        if src.type != FieldDescriptor.TYPE_MESSAGE or dst.type != FieldDescriptor.TYPE_MESSAGE:
            return False
        if is_repeated(src) != is_repeated(dst):
            return False
        return same_layout(src.message_type, dst.message_type)

    def copy(self, src_msg: Any, dst_msg: Any) -> None:
        """Append the relayed fields of `src_msg` to `dst_msg` (fields not set are skipped)."""
        chunks: list[bytes] = []
        append = chunks.append
        for name, tag, repeated in self.fields:
            if repeated:
                for element in getattr(src_msg, name):
                    body = element.SerializeToString()
                    append(tag)
                    append(varint_bytes(len(body)))
                    append(body)
            elif src_msg.HasField(name):
                body = getattr(src_msg, name).SerializeToString()
                append(tag)
                append(varint_bytes(len(body)))
                append(body)
        if chunks:
            dst_msg.MergeFromString(b"".join(chunks))


def copyable(src_cls: type, dst_cls: type, name: str) -> bool:
    """Can field `name` be copied from `src_cls` to `dst_cls` (same type on both sides)?"""
    src = src_cls.DESCRIPTOR.fields_by_name.get(name)  # type: ignore[attr-defined]
    dst = dst_cls.DESCRIPTOR.fields_by_name.get(name)  # type: ignore[attr-defined]
    if src is None or dst is None or src.type != dst.type:
        return False
    if is_repeated(src) != is_repeated(dst):
        return False
    if src.message_type is not None:
        return Relay.compatible(src_cls, dst_cls, name)
    if src.enum_type is not None:
        return bool(src.enum_type.full_name == dst.enum_type.full_name)
    return True


class FieldCopy:
    """Copies fields `names` (any type, see :func:`copyable`) from one message to another:
    messages as bytes (:class:`Relay`), scalars by value, a scalar with presence only if set."""

    def __init__(self, src_cls: type, dst_cls: type, names: Iterable[str]) -> None:
        src: Descriptor = src_cls.DESCRIPTOR  # type: ignore[attr-defined]
        names = list(names)
        messages = [n for n in names if src.fields_by_name[n].message_type is not None]
        self._relay = Relay(src_cls, dst_cls, messages)
        self._values = [
            (n, is_repeated(src.fields_by_name[n]), bool(src.fields_by_name[n].has_presence))
            for n in names
            if n not in messages
        ]
        self.names = tuple(names)

    def __bool__(self) -> bool:
        return bool(self.names)

    def copy(self, src_msg: Any, dst_msg: Any) -> None:
        """Copy the fields of `src_msg` into `dst_msg` (fields not set stay unset)."""
        self._relay.copy(src_msg, dst_msg)
        for name, repeated, presence in self._values:
            if repeated:
                getattr(dst_msg, name).extend(getattr(src_msg, name))
            elif not presence or src_msg.HasField(name):
                setattr(dst_msg, name, getattr(src_msg, name))
