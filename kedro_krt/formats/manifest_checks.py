"""Compatibility only: the names this module held before the format seam, re-exported.

Import from where they live now: :mod:`kedro_krt.formats.manifest_v1` (the v1 checks),
:mod:`kedro_krt.formats.images` (:class:`ImageName`). Removed once no caller imports it.
"""

from kedro_krt.formats.images import ImageName
from kedro_krt.formats.manifest_v1 import check_manifest, parse_manifest, parse_manifest_lenient

__all__ = ["ImageName", "check_manifest", "parse_manifest", "parse_manifest_lenient"]
