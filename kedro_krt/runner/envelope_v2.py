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

import gzip
from typing import Any

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool
from google.protobuf.message import Message

from kedro_krt.runner.envelope import COMPRESS_LEVEL, GZIP_MAGIC, MESSAGE_THRESHOLD, MessageTooLarge

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
    f = descriptor_pb2.FieldDescriptorProto
    string, optional = f.TYPE_STRING, f.LABEL_OPTIONAL

    def field(name: str, number: int, kind: Any, type_name: str = "") -> Any:
        made = f(name=name, number=number, type=kind, label=optional)
        if type_name:
            made.type_name = type_name
        return made

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
            field("request_id", 1, string),
            field("payload", 2, f.TYPE_MESSAGE, ".google.protobuf.Any"),
            field("error", 3, string),
            field("from_node", 4, string),
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


def _message_class() -> type[Message]:
    pool = descriptor_pool.Default()
    name = f"{_PACKAGE}.KreNatsMessage"
    try:
        descriptor = pool.FindMessageTypeByName(name)
    except KeyError:
        assert any_pb2.Any.DESCRIPTOR.full_name == "google.protobuf.Any"
        pool.AddSerializedFile(_file_proto().SerializeToString())
        descriptor = pool.FindMessageTypeByName(name)
    try:
        from google.protobuf.message_factory import GetMessageClass
    except ImportError:  # protobuf < 4.21
        from google.protobuf.message_factory import MessageFactory

        return MessageFactory(pool).GetPrototype(descriptor)  # type: ignore[attr-defined,no-any-return]
    return GetMessageClass(descriptor)


#: kre-py 3's ``KreNatsMessage``.
KreNatsMessageV2: Any = _message_class()


def type_name(message_type: int) -> str:
    """``OK``, ``ERROR``, ... for a ``message_type`` value."""
    return _TYPE_NAMES[message_type] if 0 <= message_type < len(_TYPE_NAMES) else str(message_type)


def compress_to(data: bytes, max_size: int = MESSAGE_THRESHOLD) -> bytes:
    """``data`` as it goes on the wire: gzipped (level 9) when over ``max_size``.

    Raises:
        MessageTooLarge: still over ``max_size`` after gzip (kre-py 3:
            ``compressed message exceeds maximum size allowed``), with both sizes.
    """
    if len(data) <= max_size:
        return data
    out = gzip.compress(data, compresslevel=COMPRESS_LEVEL)
    if len(out) > max_size:
        raise MessageTooLarge(
            f"compressed message exceeds maximum size allowed: {len(out) / 1024:.2f} KB "
            f"after gzip, the limit is {max_size / 1024:.2f} KB"
        )
    return out


def decode_v2(data: bytes) -> Any:
    """A kre-py 3 ``KreNatsMessage`` from the wire, gunzipped first on gzip's magic bytes."""
    if data[:2] == GZIP_MAGIC:
        data = gzip.decompress(data)
    return KreNatsMessageV2.FromString(data)
