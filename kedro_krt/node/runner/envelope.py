"""KRE's message between nodes, ``KreNatsMessage``, and its gzip rule.

The envelope is kre-runners' ``proto/kre_nats_msg.proto`` (konstellation-io/kre-runners @
kre-py-v2.1.5; the same file at kre-entrypoint-v1.8.1): no ``package``, fields 1 to 7, the
payload an ``Any``. It is built here from its descriptor rather than from a generated
``*_pb2.py``, so that it loads under any protobuf runtime from 3.20 on: generated code pins the
runtime it was generated for, and this module ships inside every ``.krt``.

Compression (kre-py ``src/compression.py``): a message over 1 MiB is gzipped at level 9; a
receiver tells a gzipped message by its two magic bytes alone; still over 1 MiB after gzip is
an error, worded as kre-py words it.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Any

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool
from google.protobuf.message import Message

__all__ = [
    "GZIP_MAGIC",
    "MESSAGE_THRESHOLD",
    "KreNatsMessage",
    "MessageTooLarge",
    "compress_if_needed",
    "decode",
    "field_proto",
    "gunzip",
    "gzip_over",
    "message_class",
]

#: kre-py's MESSAGE_THRESHOLD: NATS' default max payload, which KRE keeps.
MESSAGE_THRESHOLD = 1024 * 1024
COMPRESS_LEVEL = 9
GZIP_MAGIC = b"\x1f\x8b"

_FILE = "kre_nats_msg.proto"


class MessageTooLarge(Exception):
    """A message still over 1 MiB after gzip; KRE refuses it."""


def field_proto(
    name: str, number: int, kind: Any, type_name: str = "", *, repeated: bool = False
) -> descriptor_pb2.FieldDescriptorProto:
    """One field of an envelope declared by hand (proto3: optional unless ``repeated``)."""
    f = descriptor_pb2.FieldDescriptorProto
    label = f.LABEL_REPEATED if repeated else f.LABEL_OPTIONAL
    made = f(name=name, number=number, type=kind, label=label)
    if type_name:
        made.type_name = type_name
    return made


def _file_proto() -> descriptor_pb2.FileDescriptorProto:
    f, field = descriptor_pb2.FieldDescriptorProto, field_proto
    string = f.TYPE_STRING
    tracking = descriptor_pb2.DescriptorProto(
        name="Tracking",
        field=[field("node_name", 1, string), field("start", 2, string), field("end", 3, string)],
    )
    message = descriptor_pb2.DescriptorProto(
        name="KreNatsMessage",
        nested_type=[tracking],
        field=[
            field("tracking_id", 1, string),
            field("tracking", 2, f.TYPE_MESSAGE, ".KreNatsMessage.Tracking", repeated=True),
            field("reply", 3, string),
            field("payload", 4, f.TYPE_MESSAGE, ".google.protobuf.Any"),
            field("error", 5, string),
            field("replied", 6, f.TYPE_BOOL),
            field("early_exit", 7, f.TYPE_BOOL),
        ],
    )
    return descriptor_pb2.FileDescriptorProto(
        name=_FILE,
        syntax="proto3",
        dependency=["google/protobuf/any.proto"],
        message_type=[message],
        options=descriptor_pb2.FileOptions(go_package="./kre"),
    )


def message_class(
    full_name: str, file_proto: Callable[[], descriptor_pb2.FileDescriptorProto]
) -> type[Message]:
    """The class of message ``full_name``, its file added to the default pool the first time."""
    pool = descriptor_pool.Default()
    try:
        descriptor = pool.FindMessageTypeByName(full_name)
    except KeyError:
        # any.proto is in the default pool once any_pb2 is imported (above).
        assert any_pb2.Any.DESCRIPTOR.full_name == "google.protobuf.Any"
        pool.AddSerializedFile(file_proto().SerializeToString())
        descriptor = pool.FindMessageTypeByName(full_name)
    try:
        from google.protobuf.message_factory import GetMessageClass
    except ImportError:  # protobuf < 4.21
        from google.protobuf.message_factory import MessageFactory

        return MessageFactory(pool).GetPrototype(descriptor)  # type: ignore[attr-defined,no-any-return]
    return GetMessageClass(descriptor)


#: The envelope's class; ``KreNatsMessage.Tracking`` is its nested tracking entry.
KreNatsMessage: Any = message_class("KreNatsMessage", _file_proto)


def gzip_over(data: bytes, limit: int, too_large: str) -> bytes:
    """``data`` as it goes on the wire: gzipped (level 9) when over ``limit`` bytes.

    Raises:
        MessageTooLarge: still over ``limit`` after gzip; ``too_large`` is its message, with
            ``{size}`` and ``{limit}`` in KB.
    """
    if len(data) <= limit:
        return data
    out = gzip.compress(data, compresslevel=COMPRESS_LEVEL)
    if len(out) > limit:
        raise MessageTooLarge(too_large.format(size=len(out) / 1024, limit=limit / 1024))
    return out


def gunzip(data: bytes) -> bytes:
    """``data`` gunzipped when it starts with gzip's magic bytes (how kre-py tells), else as is."""
    return gzip.decompress(data) if data[:2] == GZIP_MAGIC else data


def compress_if_needed(data: bytes) -> bytes:
    """``data`` as it goes on the wire: gzipped (level 9) when over 1 MiB.

    Raises:
        MessageTooLarge: still over 1 MiB after gzip, with kre-py's message.
    """
    return gzip_over(
        data, MESSAGE_THRESHOLD,
        "compressed message {size:.2f} KB exceeds maximum size allowed of {limit:.2f} KB.",
    )


def decode(data: bytes) -> Any:
    """A ``KreNatsMessage`` from the wire, gunzipped first when it starts with gzip's magic."""
    return KreNatsMessage.FromString(gunzip(data))
