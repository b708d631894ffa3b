"""The KRT formats alone: the krt.yml models (v1, and v2 for KRE 8) and their table
(:data:`FORMATS`), validation, safe archive read/write, protos.

Nothing here knows of Kedro.
"""

from kedro_krt.formats.archive import KrtArchiveError, extract_krt, list_krt, read_krt, write_krt
from kedro_krt.formats.format_base import ManifestFormat
from kedro_krt.formats.krt_formats import FORMATS, AnyManifest, parse_any_manifest
from kedro_krt.formats.manifest_base import (
    ConfigSpec,
    Entrypoint,
    ManifestError,
    is_valid_name,
    to_valid_name,
)
from kedro_krt.formats.manifest_v1 import Manifest, NodeSpec, WorkflowSpec, parse_manifest
from kedro_krt.formats.manifest_v2 import (
    ManifestV2,
    NodeV2,
    ObjectStore,
    Subscription,
    WorkflowV2,
    parse_manifest_v2,
)
from kedro_krt.formats.proto import ProtoError, proto_package, proto_services
from kedro_krt.formats.validate import (
    Problem,
    ValidationReport,
    format_report,
    validate_files,
    validate_path,
)

__all__ = [
    "FORMATS",
    "AnyManifest",
    "ConfigSpec",
    "Entrypoint",
    "KrtArchiveError",
    "Manifest",
    "ManifestError",
    "ManifestFormat",
    "ManifestV2",
    "NodeSpec",
    "NodeV2",
    "ObjectStore",
    "Problem",
    "ProtoError",
    "Subscription",
    "ValidationReport",
    "WorkflowSpec",
    "WorkflowV2",
    "extract_krt",
    "format_report",
    "is_valid_name",
    "list_krt",
    "parse_any_manifest",
    "parse_manifest",
    "parse_manifest_v2",
    "proto_package",
    "proto_services",
    "read_krt",
    "to_valid_name",
    "validate_files",
    "validate_path",
    "write_krt",
]
