"""Compatibility only: the names this module held before the format seam, re-exported.

Import from where they live now: the shared pieces from :mod:`kedro_krt.formats.manifest_base`,
the v1 model from :mod:`kedro_krt.formats.manifest_v1`. Removed once no caller imports it.
"""

from kedro_krt.formats.manifest_base import (
    MAX_NAME_LENGTH,
    NAME_RE,
    RPC_RE,
    ConfigSpec,
    Entrypoint,
    ManifestError,
    is_valid_name,
    krt_yaml,
    to_valid_name,
)
from kedro_krt.formats.manifest_v1 import Manifest, NodeSpec, WorkflowSpec

__all__ = [
    "MAX_NAME_LENGTH",
    "NAME_RE",
    "RPC_RE",
    "ConfigSpec",
    "Entrypoint",
    "Manifest",
    "ManifestError",
    "NodeSpec",
    "WorkflowSpec",
    "is_valid_name",
    "krt_yaml",
    "to_valid_name",
]
