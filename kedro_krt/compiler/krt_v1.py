"""A compiled plan as a KRT v1 version: the plan as compiled, each workflow a chain of nodes."""

from __future__ import annotations

from kedro_krt.compiler.format_base import CompileFormat, Settings
from kedro_krt.node.krt_version import KrtVersion
from kedro_krt.node.plan import Plan

__all__ = ["V1_COMPILE", "V1Compile"]


class V1Compile(CompileFormat):
    """KRT v1: the compiled plan unchanged, with its nodes' ``gpu``.

    KRE 7 reads ``gpu`` on a v1 node (konstellation-io/kre @ kre-7.0.0: krt/types.go, and
    k8s-manager's manager_node.go asks one ``nvidia.com/gpu``); it has no ``replicas`` nor
    ``objectStore``, so those are refused rather than lost.
    """

    krt_version = KrtVersion.V1
    node_settings = ("gpu",)

    def finish(self, plan: Plan, settings: Settings) -> Plan:
        return self.apply_settings(plan, settings)

    def refusal(self, said: str, kre_version: str) -> str:
        return (
            f"{said} is v1, but deploy.kre_version is {kre_version}, and KRE 8.1 and later "
            "accept only KRT v2 (konstellation-io/kre #706): package with --krt-version v2, "
            "or write krt_version: v2 in krt.yml"
        )

    def unsupported(self, key: str, workflow: str, node: str) -> str:
        what = {
            "replicas": "replicas (a v1 version runs one pod per node)",
            "object_store": "object stores",
        }[key]
        return (
            f"`{key}:` of workflow '{workflow}' in krt.yml sets node '{node}', and it needs "
            f"`krt_version: v2`: KRT v1 (KRE 6.x to 8.0) has no {what}. Write krt_version: v2 in "
            "krt.yml (or package with --krt-version v2; KRE 8.0 and later read it), or remove "
            f"`{key}:` for this v1 version"
        )


#: KRT v1, the entry of :data:`kedro_krt.compiler.krt_formats.COMPILE_FORMATS`.
V1_COMPILE = V1Compile()
