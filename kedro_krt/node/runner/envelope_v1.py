"""KRE's message between the nodes of a KRT v1, ``KreNatsMessage``.

The envelope is kre-runners' ``proto/kre_nats_msg.proto`` (konstellation-io/kre-runners @
kre-py-v2.1.5; the same file at kre-entrypoint-v1.8.1): no ``package``, fields 1 to 7, the
payload an ``Any``; built from its descriptor (see :mod:`~kedro_krt.node.runner.envelope_base`).
A message over 1 MiB is gzipped (:func:`~kedro_krt.node.runner.envelope_base.compress_if_needed`).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2

from kedro_krt.node.runner.envelope_base import (
    compress_if_needed,
    field_proto,
    gunzip,
    message_class,
)

__all__ = ["KreNatsMessage", "compress_if_needed", "decode"]

_FILE = "kre_nats_msg.proto"


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


#: The envelope's class; ``KreNatsMessage.Tracking`` is its nested tracking entry.
KreNatsMessage: Any = message_class("KreNatsMessage", _file_proto)


def decode(data: bytes) -> Any:
    """A ``KreNatsMessage`` from the wire, gunzipped first when it starts with gzip's magic."""
    return KreNatsMessage.FromString(gunzip(data))
