"""What the envelopes of every KRT format share: messages declared from their descriptor, and
KRE's gzip rule, and the refusal our runners add to an error.

The envelopes (:mod:`~kedro_krt.node.runner.envelope_v1`, :mod:`~kedro_krt.node.runner.envelope_v2`)
are built from their descriptors rather than from generated ``*_pb2.py``, so that they load under
any protobuf runtime from 3.20 on: generated code pins the runtime it was generated for, and
these modules ship inside every ``.krt``.

Compression (kre-py ``src/compression.py``, 2.1.5 and 3.4.1 alike): a message over the limit is
gzipped at level 9; a receiver tells a gzipped message by its two magic bytes alone; still over
the limit after gzip is an error, worded as kre-py words it. ``ctx.db.save`` (every format)
gzips over 1 MiB: :func:`compress_if_needed`.

The refusal (:func:`with_refusal`, :func:`refusal_in`): when a node refuses a request as the
caller's mistake (:class:`~kedro_krt.node.runtime.errors.InvalidRequest`), our runner sends the
error message KRE's runner sends, ``error`` worded as kre-py words it, followed by one more field,
number 100, that neither format's ``KreNatsMessage`` declares: the words the caller should get.
Protobuf's wire format is a list of fields, so the two serialisations one after the other are one
message; KRE's entrypoint parses it with its own ``KreNatsMessage``, skips field 100 and answers
``INTERNAL`` with ``error`` as before, while the ``serve --nats`` front reads field 100 and answers
``INVALID_ARGUMENT`` with it, as the in-process server does.
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
    "MessageTooLarge",
    "compress_if_needed",
    "field_proto",
    "gunzip",
    "gzip_over",
    "message_class",
    "refusal_in",
    "with_refusal",
]

#: kre-py's MESSAGE_THRESHOLD: NATS' default max payload, which KRE keeps.
MESSAGE_THRESHOLD = 1024 * 1024
COMPRESS_LEVEL = 9
GZIP_MAGIC = b"\x1f\x8b"

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


#: The field that carries a refusal after an error envelope: declared by neither format's
#: ``KreNatsMessage`` (v1: 1 to 7, v2: 1 to 5), so KRE's parsers skip it.
REFUSAL_FIELD = 100


def _refusal_file() -> descriptor_pb2.FileDescriptorProto:
    f = descriptor_pb2.FieldDescriptorProto
    message = descriptor_pb2.DescriptorProto(
        name="Refusal", field=[field_proto("invalid_request", REFUSAL_FIELD, f.TYPE_STRING)]
    )
    return descriptor_pb2.FileDescriptorProto(
        name="kedro_krt/refusal.proto", package="kedro_krt.refusal", syntax="proto3",
        message_type=[message],
    )


#: The refusal alone; the other fields of the envelope it follows are skipped when it parses.
Refusal: Any = message_class("kedro_krt.refusal.Refusal", _refusal_file)


def with_refusal(envelope: bytes, refusal: str) -> bytes:
    """An error envelope (serialised) followed by the caller's ``refusal`` (none: as it is)."""
    if not refusal:
        return envelope
    return envelope + Refusal(invalid_request=refusal).SerializeToString()


def refusal_in(message: Message | bytes) -> str:
    """The refusal an envelope (parsed, which keeps the fields it does not declare, or its
    bytes, not gzipped) carries; "" when none: a failure, or a message of KRE's runner."""
    data = message if isinstance(message, bytes) else message.SerializeToString()
    try:
        return str(Refusal.FromString(data).invalid_request)
    except Exception:  # not an envelope of ours: nothing to read
        return ""
