"""The KRT v1 format alone: the krt.yml model, validation, safe archive read/write, protos.

Nothing here knows of Kedro, so that another KRT format can be added beside v1.
"""

from kedro_krt.krt.archive import KrtArchiveError, extract_krt, list_krt, read_krt, write_krt
from kedro_krt.krt.manifest import (
    ConfigSpec,
    Entrypoint,
    Manifest,
    ManifestError,
    NodeSpec,
    WorkflowSpec,
    is_valid_name,
    to_valid_name,
)
from kedro_krt.krt.manifest_checks import parse_manifest
from kedro_krt.krt.proto import ProtoError, proto_package, proto_services
from kedro_krt.krt.validate import (
    Problem,
    ValidationReport,
    format_report,
    validate_files,
    validate_path,
)

__all__ = [
    "ConfigSpec",
    "Entrypoint",
    "KrtArchiveError",
    "Manifest",
    "ManifestError",
    "NodeSpec",
    "Problem",
    "ProtoError",
    "ValidationReport",
    "WorkflowSpec",
    "extract_krt",
    "format_report",
    "is_valid_name",
    "list_krt",
    "parse_manifest",
    "proto_package",
    "proto_services",
    "read_krt",
    "to_valid_name",
    "validate_files",
    "validate_path",
    "write_krt",
]
