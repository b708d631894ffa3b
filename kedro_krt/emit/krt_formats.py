"""The emitter's table of KRT formats.

A new format is one module beside :mod:`~kedro_krt.emit.krt_v1` and
:mod:`~kedro_krt.emit.krt_v2` (an :class:`~kedro_krt.emit.format_base.EmitFormat`) and one entry
in :data:`EMIT_FORMATS`.
"""

from __future__ import annotations

from kedro_krt.emit.format_base import EmitFormat
from kedro_krt.emit.krt_v1 import V1_EMIT
from kedro_krt.emit.krt_v2 import V2_EMIT
from kedro_krt.node.krt_version import KrtVersion

__all__ = ["EMIT_FORMATS"]

#: Every format the emitter and the packager write, by ``Plan.krt_version``.
EMIT_FORMATS: dict[KrtVersion, EmitFormat] = {
    KrtVersion.V1: V1_EMIT,
    KrtVersion.V2: V2_EMIT,
}
