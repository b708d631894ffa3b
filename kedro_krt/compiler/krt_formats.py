"""The compiler's table of KRT formats, and the choice of the format to write.

A new format is one module beside :mod:`~kedro_krt.compiler.krt_v1` and
:mod:`~kedro_krt.compiler.krt_v2` (a :class:`~kedro_krt.compiler.format_base.CompileFormat`) and
one entry in :data:`COMPILE_FORMATS`.
"""

from __future__ import annotations

from kedro_krt.compiler.format_base import CompileFormat
from kedro_krt.compiler.krt_v1 import V1_COMPILE
from kedro_krt.compiler.krt_v2 import V2_COMPILE
from kedro_krt.formats.krt_formats import FORMATS, format_read_by
from kedro_krt.formats.validate import kre_target
from kedro_krt.node.analysis import CompileError
from kedro_krt.node.krt_version import KrtVersion

__all__ = ["COMPILE_FORMATS", "choose_krt_version"]

#: Every format the compiler writes.
COMPILE_FORMATS: dict[KrtVersion, CompileFormat] = {
    KrtVersion.V1: V1_COMPILE,
    KrtVersion.V2: V2_COMPILE,
}


def choose_krt_version(flag: str | None, configured: str | None, kre_version: str) -> KrtVersion:
    """The KRT format to write: ``--krt-version``, else ``krt_version:`` of krt.yml, else the
    one ``deploy.kre_version`` reads (v2 from KRE 8.1 on, else v1).

    Raises:
        CompileError: the format and the KRE version deployed to do not go together (KRE 8.1+
            refuses v1, KRE 7 reads no v2), or ``deploy.kre_version`` is not a version number.
    """
    try:
        kre = kre_target(kre_version or None)
    except ValueError:
        raise CompileError(
            f"deploy.kre_version in krt.yml is {kre_version!r}: write the KRE version you "
            "deploy to, e.g. 7, 8.0 or 8.2"
        ) from None
    named = flag or configured
    chosen = KrtVersion.parse(named) if named else format_read_by(kre).krt_version
    if kre is not None and kre not in FORMATS[chosen].kre_targets:
        said = "--krt-version" if flag else "krt_version in krt.yml"
        raise CompileError(COMPILE_FORMATS[chosen].refusal(said, kre_version))
    return chosen
