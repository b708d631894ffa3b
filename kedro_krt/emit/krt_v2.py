"""A KRT v2 version's files: a krt.yml of subscriptions and an exitpoint, one arrow per
subscription in the docs, and both protos' modules in every node folder."""

from __future__ import annotations

from collections.abc import Iterable

from kedro_krt.emit.format_base import EmitFormat
from kedro_krt.formats.manifest_base import ConfigSpec, Entrypoint
from kedro_krt.formats.manifest_v2 import ENTRYPOINT, ManifestV2, NodeV2, ObjectStore, WorkflowV2
from kedro_krt.node.krt_version import KrtVersion
from kedro_krt.node.plan import PUBLIC_PROTO, NodeRuntimePlan, Plan, WorkflowPlan

__all__ = ["V2_EMIT", "V2Emit"]


class V2Emit(EmitFormat):
    """KRT v2: the plan of :func:`kedro_krt.compiler.krt_v2.to_v2` as KRE 8 reads it."""

    krt_version = KrtVersion.V2
    node_template = "node_main_v2.py.tmpl"

    def manifest(self, plan: Plan) -> ManifestV2:
        workflows = tuple(
            WorkflowV2(
                name=w.name,
                entrypoint=w.rpc,
                exitpoint=w.exitpoint,
                nodes=tuple(
                    NodeV2(
                        name=n.name,
                        image=plan.runtime_image,
                        src=f"src/{n.name}/main.py",
                        subscriptions=n.subscriptions,
                        gpu=n.gpu,
                        replicas=n.replicas,
                        object_store=(
                            ObjectStore(n.object_store, n.object_store_scope)
                            if n.object_store
                            else None
                        ),
                    )
                    for n in w.nodes
                ),
            )
            for w in plan.workflows
        )
        return ManifestV2(
            version=plan.version,
            description=plan.description,
            entrypoint=Entrypoint(proto=PUBLIC_PROTO, image=plan.entrypoint_image),
            workflows=workflows,
            config=ConfigSpec(variables=tuple(plan.variables)),
        )

    def flowchart(self, workflow: WorkflowPlan) -> list[str]:
        lines = []
        for n in workflow.nodes:
            for source in n.subscriptions:
                start = "request([request])" if source == ENTRYPOINT else source
                lines.append(f"  {start} --> {n.name}")
        lines.append(f"  {workflow.exitpoint} --> response([response])")
        return lines

    def node_modules(self, node: NodeRuntimePlan, generated: Iterable[str]) -> set[str]:
        # A v2 node's messages come from both protos: the *_pb2 modules import each other.
        modules = super().node_modules(node, generated) | {u.module for u in node.upstreams}
        return modules | {m.removesuffix(".py") for m in generated if m.endswith("_pb2.py")}


#: KRT v2, the entry of :data:`kedro_krt.emit.krt_formats.EMIT_FORMATS`.
V2_EMIT = V2Emit()
