"""A KRT v1 version's files: a ``sequential`` krt.yml and a chain in the docs."""

from __future__ import annotations

from kedro_krt.emit.format_base import EmitFormat
from kedro_krt.formats.manifest_base import ConfigSpec, Entrypoint
from kedro_krt.formats.manifest_v1 import Manifest, NodeSpec, WorkflowSpec
from kedro_krt.node.krt_version import KrtVersion
from kedro_krt.node.plan import PUBLIC_PROTO, Plan, WorkflowPlan

__all__ = ["V1_EMIT", "V1Emit"]


class V1Emit(EmitFormat):
    """KRT v1: nodes listed once, each workflow a chain of them."""

    krt_version = KrtVersion.V1
    node_template = "node_main_v1.py.tmpl"

    def manifest(self, plan: Plan) -> Manifest:
        nodes = [
            NodeSpec(name=n.name, image=plan.runtime_image, src=f"src/{n.name}/main.py", gpu=n.gpu)
            for w in plan.workflows
            for n in w.nodes
        ]
        workflows = [
            WorkflowSpec(name=w.name, entrypoint=w.rpc, sequential=tuple(n.name for n in w.nodes))
            for w in plan.workflows
        ]
        return Manifest(
            version=plan.version,
            description=plan.description,
            entrypoint=Entrypoint(proto=PUBLIC_PROTO, image=plan.entrypoint_image),
            nodes=tuple(nodes),
            workflows=tuple(workflows),
            config=ConfigSpec(variables=tuple(plan.variables)),
        )

    def flowchart(self, workflow: WorkflowPlan) -> list[str]:
        return [
            "  request([request]) --> "
            + " --> ".join(n.name for n in workflow.nodes)
            + " --> response([response])"
        ]


#: KRT v1, the entry of :data:`kedro_krt.emit.krt_formats.EMIT_FORMATS`.
V1_EMIT = V1Emit()
