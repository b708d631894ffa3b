"""KRE 8's message between the nodes of a KRT v2, and its gzip rule.

The envelope is kre-runners' ``proto/kre_nats_msg.proto`` as kre-py 3.x ships it
(konstellation-io/kre-runners @ kre-py/v3.4.1: ``proto/kre_nats_msg.proto``,
``kre-py/src/kre_nats_msg_pb2.py``)::

    enum MessageType { UNDEFINED = 0; OK = 1; ERROR = 2; EARLY_REPLY = 3; EARLY_EXIT = 4; }
    message KreNatsMessage {
      string request_id = 1; google.protobuf.Any payload = 2; string error = 3;
      string from_node = 4; MessageType message_type = 5;
    }

It has the same message name as v1's envelope (``KreNatsMessage``, no package) with other
fields, so it is declared here in a package of its own (``kedro_krt.kre3``): protobuf's wire
format carries field numbers, never names, so the bytes are kre-py 3's; only the two
declarations can live side by side in one process (the ``serve --nats`` front speaks both).

Compression (kre-py 3.4.1 ``src/compression.py``): a message over the limit is gzipped at
level 9; the limit is the smaller of the stream's ``max_msg_size`` and the server's
``max_payload`` (1 MiB by default); a receiver tells a gzipped message by its magic bytes.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2

from kedro_krt.node.runner.envelope_base import (
    MESSAGE_THRESHOLD,
    field_proto,
    gunzip,
    gzip_over,
    message_class,
)

__all__ = [
    "EARLY_EXIT",
    "EARLY_REPLY",
    "ERROR",
    "OK",
    "UNDEFINED",
    "KreNatsMessageV2",
    "compress_to",
    "decode_v2",
    "type_name",
]

UNDEFINED, OK, ERROR, EARLY_REPLY, EARLY_EXIT = range(5)
_TYPE_NAMES = ("UNDEFINED", "OK", "ERROR", "EARLY_REPLY", "EARLY_EXIT")

_FILE = "kedro_krt/kre_nats_msg_v3.proto"
_PACKAGE = "kedro_krt.kre3"


def _file_proto() -> descriptor_pb2.FileDescriptorProto:
    f, field = descriptor_pb2.FieldDescriptorProto, field_proto
    enum = descriptor_pb2.EnumDescriptorProto(
        name="MessageType",
        value=[
            descriptor_pb2.EnumValueDescriptorProto(name=name, number=number)
            for number, name in enumerate(_TYPE_NAMES)
        ],
    )
    message = descriptor_pb2.DescriptorProto(
        name="KreNatsMessage",
        field=[
            field("request_id", 1, f.TYPE_STRING),
            field("payload", 2, f.TYPE_MESSAGE, ".google.protobuf.Any"),
            field("error", 3, f.TYPE_STRING),
            field("from_node", 4, f.TYPE_STRING),
            field("message_type", 5, f.TYPE_ENUM, f".{_PACKAGE}.MessageType"),
        ],
    )
    return descriptor_pb2.FileDescriptorProto(
        name=_FILE,
        package=_PACKAGE,
        syntax="proto3",
        dependency=["google/protobuf/any.proto"],
        message_type=[message],
        enum_type=[enum],
    )


#: kre-py 3's ``KreNatsMessage``.
KreNatsMessageV2: Any = message_class(f"{_PACKAGE}.KreNatsMessage", _file_proto)


def type_name(message_type: int) -> str:
    """``OK``, ``ERROR``, ... for a ``message_type`` value."""
    return _TYPE_NAMES[message_type] if 0 <= message_type < len(_TYPE_NAMES) else str(message_type)


def compress_to(data: bytes, max_size: int = MESSAGE_THRESHOLD) -> bytes:
    """``data`` as it goes on the wire: gzipped (level 9) when over ``max_size``.

    Raises:
        MessageTooLarge: still over ``max_size`` after gzip (kre-py 3:
            ``compressed message exceeds maximum size allowed``), with both sizes.
    """
    return gzip_over(
        data, max_size,
        "compressed message exceeds maximum size allowed: {size:.2f} KB after gzip, the limit "
        "is {limit:.2f} KB",
    )


def decode_v2(data: bytes) -> Any:
    """A kre-py 3 ``KreNatsMessage`` from the wire, gunzipped first on gzip's magic bytes."""
    return KreNatsMessageV2.FromString(gunzip(data))
