"""Dataset types and the per-message codec: Python values <-> protobuf messages.

* :mod:`~kedro_krt.node.schema.types`: the plain data (``TypeSpec``, ``Column``, ``Field``,
  ``Message``) and the naming rules;
* :mod:`~kedro_krt.node.schema.infer`: types from data, type hints and the ``schemas:`` config
  (shipped because the in-process session's rules ask whether data can travel in a message);
* :mod:`~kedro_krt.node.schema.codec`: ``MessageCodec``, the per-message hot path, with
  :mod:`~kedro_krt.node.schema.table_codec`, :mod:`~kedro_krt.node.schema.wire` and
  :mod:`~kedro_krt.node.schema.relay`.

Proto text and protoc are build-time: :mod:`kedro_krt.emit`.
"""

from kedro_krt.node.schema.codec import CodecError, MessageCodec
from kedro_krt.node.schema.infer import infer_type, type_from_config, type_from_hint
from kedro_krt.node.schema.types import (
    Column,
    Field,
    Message,
    SchemaError,
    TypeSpec,
    to_identifier,
    to_message_name,
    unique_identifiers,
)

__all__ = [
    "CodecError",
    "Column",
    "Field",
    "Message",
    "MessageCodec",
    "SchemaError",
    "TypeSpec",
    "infer_type",
    "to_identifier",
    "to_message_name",
    "type_from_config",
    "type_from_hint",
    "unique_identifiers",
]
