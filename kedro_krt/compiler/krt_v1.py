"""A compiled plan as a KRT v1 version: the plan as compiled, each workflow a chain of nodes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from kedro_krt.compiler.format_base import CompileFormat
from kedro_krt.node.krt_version import KrtVersion
from kedro_krt.node.plan import Plan

__all__ = ["V1_COMPILE", "V1Compile"]


class V1Compile(CompileFormat):
    """KRT v1: the compiled plan unchanged; ``replicas:`` only earns a warning."""

    krt_version = KrtVersion.V1

    def finish(self, plan: Plan, replicas: Mapping[str, Mapping[str, int]]) -> Plan:
        if not any(replicas.values()):
            return plan
        return replace(
            plan,
            warnings=(
                *plan.warnings,
                "`replicas:` in krt.yml applies to KRT v2 only (KRE 8): this v1 version runs "
                "one pod per node; package with --krt-version v2 to use it",
            ),
        )

    def refusal(self, said: str, kre_version: str) -> str:
        return (
            f"{said} is v1, but deploy.kre_version is {kre_version}, and KRE 8.1 and later "
            "accept only KRT v2 (konstellation-io/kre #706): package with --krt-version v2, "
            "or write krt_version: v2 in krt.yml"
        )


#: KRT v1, the entry of :data:`kedro_krt.compiler.krt_formats.COMPILE_FORMATS`.
V1_COMPILE = V1Compile()
