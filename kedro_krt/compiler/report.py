"""The compile report: how a pipeline became a KRT version, and why each dataset got its role.

Two forms: :func:`render_summary`, what ``compile`` prints by default (per KRT node its Kedro
nodes, what it reads and sends; the request and the response once; within
:data:`SUMMARY_WIDTH` columns), and :func:`render_report`, the full report of ``compile
--full`` (every dataset's role, rule and type source, every message between nodes).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

from kedro_krt.node.analysis import text_table
from kedro_krt.node.plan import ROLE_LABELS, KrtNodePlan, Plan, WorkflowPlan
from kedro_krt.node.schema.types import Field, Message

#: The summary's lines fit a terminal of this width.
SUMMARY_WIDTH = 100
#: What the summary's last line names for the whole report.
FULL_FLAG = "--full"


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


def _node_settings(w: WorkflowPlan) -> list[str]:
    """The pods' settings of the nodes that have any (krt.yml's replicas, gpu, object_store)."""
    rows = [
        [
            n.name,
            str(n.replicas),
            "yes" if n.gpu else "-",
            f"{n.object_store} ({n.object_store_scope})" if n.object_store else "-",
        ]
        for n in w.nodes
        if n.replicas != 1 or n.gpu or n.object_store
    ]
    if not rows:
        return []
    return ["  Node settings:", *text_table([["node", "replicas", "gpu", "object store"], *rows])]


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
    lines += _node_settings(w)
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
    if w.hook_report:
        lines.append("  Kedro hooks (per message around each Kedro node, and at init):")
        lines += [f"    {line}" for line in w.hook_report]
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


#: Joins what a line must not break between (a column's name and its type).
_KEEP = "\u00a0"


def _wrap(text: str, indent: str, hanging: str | None = None) -> list[str]:
    """``text`` in lines of at most :data:`SUMMARY_WIDTH` columns, never broken at
    :data:`_KEEP`; a word longer than a line is cut (the width is a promise)."""
    lines = textwrap.wrap(
        text,
        width=SUMMARY_WIDTH,
        initial_indent=indent,
        subsequent_indent=hanging if hanging is not None else indent,
        break_on_hyphens=False,
    ) or [indent.rstrip()]
    return [line.replace(_KEEP, " ") for line in lines]


def _labelled(label: str, items: Iterable[str], indent: str, width: int) -> list[str]:
    """``label`` padded to ``width``, then the items, comma-separated, wrapped under them."""
    text = ", ".join(items)
    return _wrap(f"{label.ljust(width)}{text}", indent, indent + " " * width)


def _field_summary(f: Field) -> str:
    """One request/response field in short: its columns (tables), its leaves (records)."""
    typ = f.type
    if typ.kind == "table":
        cols = [
            f"{c.name}{_KEEP}{c.kind}{_KEEP + '(optional)' if c.optional else ''}"
            for c in typ.columns
        ]
        n = len(typ.columns)
        return f"{n} column{'s' if n != 1 else ''}: " + ", ".join(cols)
    if typ.kind == "record":
        leaves: list[str] = []

        def walk(fields: tuple[Field, ...], prefix: str) -> None:
            for sub in fields:
                if sub.type.kind == "record":
                    walk(sub.type.fields, f"{prefix}{sub.name}.")
                else:
                    described = sub.type.describe(sub.name).removeprefix("optional ")
                    leaves.append(f"{prefix}{sub.name}{_KEEP}{described}")

        walk(typ.fields, "")
        return ", ".join(leaves)
    return typ.describe(f.name)


def _message_summary(msg: Message, title: str) -> list[str]:
    lines = [f"  {title} {msg.name}:"]
    width = max((len(f.name) for f in msg.fields), default=0) + 2
    for f in msg.fields:
        text = _field_summary(f)
        if f.name == "parameters" and f.type.kind == "record":
            text = f"optional overrides: {text}"
        lines += _wrap(f"{f.name.ljust(width)}{text}", "    ", "    " + " " * width)
    if not msg.fields:
        lines.append("    (no field)")
    return lines


def _node_summary(i: int, n: KrtNodePlan, w: WorkflowPlan, name_width: int) -> list[str]:
    roles = {d.name: d.role for d in w.datasets}
    head = f"{i}. {n.name.ljust(name_width)}  "
    what = ", ".join(n.kedro_nodes) or "(generated: assembles the response)"
    lines = _wrap(head + what, "    ", "    " + " " * len(head))
    pad = "    " + " " * len(head)

    def tagged(name: str, role: str) -> str:
        return f"{name}{_KEEP}({role})" if roles.get(name) == role else name

    reads = [tagged(d, "request") for d in n.reads]
    reads += [f"artifact{_KEEP}{a}" for a in n.artifacts]
    reads += [f"fixed{_KEEP}{p}" for p in n.fixed_parameters]
    reads += [p.dataset for p in n.parameters]
    if n.inputs:  # v2: what it subscribes to
        lines += _labelled("from ", (inp.source for inp in n.inputs), pad, 5)
    if reads:
        lines += _labelled("in:  ", reads, pad, 5)
    if n.writes:
        writes = [tagged(d, "response") for d in n.writes]
        later = [m for m in w.nodes if m.input_message == n.output_message and m is not n]
        if later and not n.inputs:  # v1: all of it goes to the next node in `sequential`
            label = f"out: to {later[0].name}: "
            lines += _labelled(label, writes, pad, len(label))
        else:
            lines += _labelled("out: ", writes, pad, 5)
    return lines


def render_summary(plan: Plan) -> str:
    """What ``compile`` prints: the version, per workflow its KRT nodes (their Kedro nodes,
    what each reads and sends on), the request and response fields once, the artifacts, the
    warnings; every line within :data:`SUMMARY_WIDTH` columns. Deterministic, as
    :func:`render_report`."""
    lines = _wrap(
        f"KRT version {plan.version} from project '{plan.project_name}' (conf env {plan.env})",
        "",
        "  ",
    )
    lines += _wrap(f"entrypoint image {plan.entrypoint_image}", "  ", "    ")
    lines += _wrap(f"Kedro nodes image {plan.runtime_image}", "  ", "    ")
    if plan.variables:
        lines += _labelled("config.variables: ", plan.variables, "  ", 18)
    for w in plan.workflows:
        where = f"pipeline '{w.pipeline}'" + (
            f", namespace '{w.namespace}'" if w.namespace else ""
        )
        lines.append("")
        lines += _wrap(
            f"Workflow {w.name}: rpc Entrypoint/{w.rpc}, {where}, grouping {w.grouping}", "", "  "
        )
        lines.append(
            "  KRT nodes, in order:"
            if not w.exitpoint
            else f"  KRT nodes (KRT v2; the exitpoint is {w.exitpoint}):"
        )
        name_width = max(len(n.name) for n in w.nodes) if w.nodes else 0
        for i, n in enumerate(w.nodes, 1):
            lines += _node_summary(i, n, w, name_width)
        lines += _message_summary(w.request, "Request")
        lines += _message_summary(w.response, "Response")
        shared = [d.name for d in w.datasets if d.role in ("artifact", "fixed-parameter")]
        if shared:
            lines += _labelled("Loaded once at init: ", shared, "  ", 21)
        if w.warnings:
            lines.append("  Warnings:")
            for warning in w.warnings:
                lines += _wrap(f"- {warning}", "    ", "      ")
    warnings = [*plan.warnings, *(x for w in plan.workflows for x in w.warnings)]
    if plan.warnings:
        lines += ["", "Warnings:"]
        for warning in plan.warnings:
            lines += _wrap(f"- {warning}", "  ", "    ")
    lines.append("")
    lines += _wrap(
        f"Each dataset's role and rule, the types' sources, the messages between nodes: "
        f"compile {FULL_FLAG}",
        "",
    )
    lines.append(
        f"{len(plan.workflows)} workflow(s), {sum(len(w.nodes) for w in plan.workflows)} KRT "
        f"node(s), {len(warnings)} warning(s)"
    )
    return "\n".join(lines) + "\n"
