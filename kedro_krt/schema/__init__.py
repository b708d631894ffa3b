"""Dataset types -> proto messages, and Python values <-> protobuf messages (the codec).

* :mod:`~kedro_krt.schema.types`: the plain data (``TypeSpec``, ``Column``, ``Field``, ``Message``)
  and the naming rules;
* :mod:`~kedro_krt.schema.infer`: types from data, type hints and the ``schemas:`` config;
* :mod:`~kedro_krt.schema.proto`: proto3 text; :mod:`~kedro_krt.schema.protoc`: real protoc;
* :mod:`~kedro_krt.schema.codec`: ``MessageCodec``, the per-message hot path.
"""

from kedro_krt.schema.codec import CodecError, MessageCodec
from kedro_krt.schema.infer import infer_type, type_from_config, type_from_hint
from kedro_krt.schema.proto import render_proto
from kedro_krt.schema.protoc import (
    ProtoCompileError,
    compile_protos,
    import_generated,
)
from kedro_krt.schema.types import (
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
    "ProtoCompileError",
    "SchemaError",
    "TypeSpec",
    "compile_protos",
    "import_generated",
    "infer_type",
    "render_proto",
    "to_identifier",
    "to_message_name",
    "type_from_config",
    "type_from_hint",
    "unique_identifiers",
]
