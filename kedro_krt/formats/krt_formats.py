"""The one table of KRT manifest formats, and the reading of a ``krt.yml`` of any of them.

A new format is one module beside :mod:`~kedro_krt.formats.manifest_v1` and
:mod:`~kedro_krt.formats.manifest_v2` (its model, its checks and its
:class:`~kedro_krt.formats.format_base.ManifestFormat`) and one entry in :data:`FORMATS`.
"""

from __future__ import annotations

from collections.abc import Mapping

import yaml

from kedro_krt.formats.format_base import ManifestFormat
from kedro_krt.formats.manifest_v1 import V1_FORMAT, Manifest
from kedro_krt.formats.manifest_v2 import V2_FORMAT, ManifestV2
from kedro_krt.formats.problems import Problem
from kedro_krt.node.krt_version import KrtVersion

__all__ = [
    "FORMATS",
    "AnyManifest",
    "format_of",
    "format_read_by",
    "krt_version_of",
    "parse_any_manifest",
]

#: Every format, oldest first: what a format-blind caller asks instead of testing the format.
FORMATS: dict[KrtVersion, ManifestFormat] = {
    KrtVersion.V1: V1_FORMAT,
    KrtVersion.V2: V2_FORMAT,
}

#: A manifest of any format.
AnyManifest = Manifest | ManifestV2


def krt_version_of(data: object) -> str:
    """The KRT format of parsed ``krt.yml`` data: ``"v2"``, ``"v1"``, or the odd value as given.

    KRE 8.0 treats a missing or empty ``krtVersion`` as v1 (konstellation-io/kre @ v8.0.0:
    ``krt/parser/parser.go``, ``ParseKrtYaml``); so do we.
    """
    if not isinstance(data, Mapping):
        return KrtVersion.V1.value
    value = data.get("krtVersion")
    if value is None or value == "":
        return KrtVersion.V1.value
    return str(value)


def format_of(data: object) -> ManifestFormat:
    """The format of parsed ``krt.yml`` data, by its ``krtVersion``. A value no format claims
    goes to the newest format, whose checks report it in KRE's words.

    Without ``krtVersion``, KRE 8.0 reads v1 and so do we, unless the file is written in
    another format's shape and not in v1's (a v2 workflow's ``nodes`` and ``exitpoint``, no
    top-level ``nodes``): that format's checks then lead with the one missing key, instead of
    v1's answer to a v2 file (``The field "Nodes" is required``, ``Unknown key "exitpoint"``).
    """
    newest = list(FORMATS.values())[-1]
    said = krt_version_of(data)
    chosen = next((f for v, f in FORMATS.items() if v.value == said), newest)
    unsaid = not isinstance(data, Mapping) or data.get("krtVersion") in (None, "")
    if not unsaid or not isinstance(data, Mapping) or chosen.written_as(data):
        return chosen
    shaped = [f for f in FORMATS.values() if f is not chosen and f.written_as(data)]
    return shaped[0] if len(shaped) == 1 else chosen


def format_read_by(kre: str | None) -> ManifestFormat:
    """The format a KRE version (one of ``KRE_TARGETS``) reads by default: the oldest one it
    reads; v1 when no KRE version is given."""
    return next((f for f in FORMATS.values() if kre in f.kre_targets), FORMATS[KrtVersion.V1])


def parse_any_manifest(text: str) -> tuple[AnyManifest | None, list[Problem]]:
    """Parse and check ``krt.yml`` text of any format, chosen by its ``krtVersion``.

    No ``krtVersion`` (or ``v1``): KRT v1, as :func:`~kedro_krt.formats.manifest_v1.
    parse_manifest`; anything else: KRT v2 (an unknown value is reported in KRE's words).
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    return format_of(data).parse(text)
