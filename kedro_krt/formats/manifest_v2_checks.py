"""Compatibility only: the names this module held before the format seam, re-exported.

Import from where they live now: :mod:`kedro_krt.formats.manifest_v2` (the v2 checks, beside
its model), :mod:`kedro_krt.formats.krt_formats` (:func:`parse_any_manifest`). Removed once no
caller imports it.
"""

from kedro_krt.formats.krt_formats import parse_any_manifest
from kedro_krt.formats.manifest_v2 import (
    KRE_RESOURCE_NAME_TRAILER,
    ParsedManifestV2,
    check_manifest_v2,
    kre_answer,
    parse_manifest_v2,
    parse_manifest_v2_lenient,
)

__all__ = [
    "KRE_RESOURCE_NAME_TRAILER",
    "ParsedManifestV2",
    "check_manifest_v2",
    "kre_answer",
    "parse_any_manifest",
    "parse_manifest_v2",
    "parse_manifest_v2_lenient",
]
