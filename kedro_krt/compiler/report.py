"""The compile report: how a pipeline became a KRT version, and why each dataset got its role."""

from __future__ import annotations

from kedro_krt.node.analysis import text_table
from kedro_krt.node.plan import ROLE_LABELS, Plan, WorkflowPlan
from kedro_krt.node.schema.types import Message


def _message(msg: Message, title: str) -> list[str]:
    lines = [f"  {title} {msg.name}"]
    rows = [["field", "type", "dataset"]]
    for f in msg.fields:
        rows.append([f.name, f.type.describe(f.name), f.original])
        if f.type.kind == "table":
            for c in f.type.columns:
                opt = "optional " if c.optional else ("required " if c.must_send else "")
                orig = c.original if c.original != c.name else ""
                rows.append([f"  .{c.name}", f"{opt}{c.kind}", f"{orig} ({c.dtype})".strip()])
        elif f.type.kind == "record":
            for sub in f.type.fields:
                rows.append([f"  .{sub.name}", sub.type.describe(sub.name), sub.original])
                if sub.type.kind == "record":
                    for leaf in sub.type.fields:
                        typ = leaf.type.describe(leaf.name)
                        rows.append([f"    .{leaf.name}", typ, leaf.original])
    return lines + text_table(rows)


_COPY_LABELS = {
    "assign": "by reference",
    "copy": "a copy per reader",
    "deepcopy": "a deep copy per reader",
}


def render_workflow(w: WorkflowPlan) -> list[str]:
    """Report lines of one workflow."""
    where = f"pipeline '{w.pipeline}'" + (f", namespace '{w.namespace}'" if w.namespace else "")
    lines = [
        f"Workflow {w.name}: rpc Entrypoint/{w.rpc}, {where}, grouping {w.grouping}",
        "  KRT nodes (sequential):"
        if not w.exitpoint
        else f"  KRT nodes (KRT v2: subscriptions; the exitpoint is {w.exitpoint}):",
    ]
    rows = []
    for i, n in enumerate(w.nodes, 1):
        if n.inputs:  # v2: each subscription, and what the node reads of its message
            heard = "; ".join(
                f"{inp.source}: "
                + (", ".join([*inp.datasets, *(["parameters"] if inp.parameters else [])]) or "-")
                for inp in n.inputs
            )
            flow = f"[{heard}] -> {n.output_message}"
        else:
            flow = f"{n.input_message} -> {n.output_message}"
        what = ", ".join(n.kedro_nodes) or "(generated: assembles the response)"
        rows.append([f"{i}.", n.name, flow, what])
    lines += text_table(rows)
    lines.append("  Datasets:")
    rows = [["dataset", "role", "field", "type (from)", "rule"]]
    for d in w.datasets:
        typ = f"{d.type.describe(d.field or '')} ({d.type_source})" if d.type else "-"
        rows.append([d.name, ROLE_LABELS[d.role], d.field or "-", typ, d.rule])
    lines += text_table(rows)
    copies = [d for d in w.datasets if d.copy_mode]
    if copies:
        lines.append("  Copies (what a node may change in place without anyone else seeing it):")
        lines += text_table([[d.name, _COPY_LABELS[d.copy_mode], d.copy_rule] for d in copies])
    lines += _message(w.request, "Request")
    lines += _message(w.response, "Response")
    for msg in w.internal:
        lines += _message(msg, "Between nodes:")
    if w.warnings:
        lines.append("  Warnings:")
        lines += [f"    - {warning}" for warning in w.warnings]
    return lines


def render_report(plan: Plan) -> str:
    """The whole report, deterministic (no paths, no times) so that it can be a golden file."""
    lines = [
        f"KRT version {plan.version} from project '{plan.project_name}' (conf env {plan.env})",
        f"  entrypoint image {plan.entrypoint_image}; Kedro nodes image {plan.runtime_image}",
    ]
    if plan.variables:
        lines.append(f"  config.variables: {', '.join(plan.variables)}")
    for w in plan.workflows:
        lines.append("")
        lines += render_workflow(w)
    warnings = [*plan.warnings, *(x for w in plan.workflows for x in w.warnings)]
    if plan.warnings:  # the version's own (a workflow's are listed under it)
        lines += ["", "Warnings:", *(f"  - {warning}" for warning in plan.warnings)]
    lines.append("")
    lines.append(
        f"{len(plan.workflows)} workflow(s), {sum(len(w.nodes) for w in plan.workflows)} KRT "
        f"node(s), {len(warnings)} warning(s)"
    )
    return "\n".join(lines) + "\n"
