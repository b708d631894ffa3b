"""The build report: what each node is, how each Kedro mapping was typed, what went where.

Like compile's report it holds no absolute path and no time, so that a section can be a golden
file; the command prints the archive's path and size apart.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Mapping, Sequence

from kedro_krt.formats.manifest_v1 import Manifest
from kedro_krt.handwritten.ignore import IGNORE_FILE
from kedro_krt.handwritten.kedro_node import KedroNode
from kedro_krt.node.analysis import text_table
from kedro_krt.node.plan import ROLE_LABELS


def render_kedro_node(node: KedroNode) -> str:
    """The section of one node made from a Kedro pipeline."""
    source = node.source
    where = f"pipeline '{source.pipeline}'" + (
        f", namespace '{source.namespace}'" if source.namespace else ""
    )
    lines = [
        f"Node {node.name}: {where} of the Kedro project '{node.project.project_name}' (conf env "
        f"{source.env}), shipped in {node.folder}/",
        f"  Kedro nodes: {', '.join(node.kedro_nodes)}",
    ]
    if node.plan is None:
        lines.append(
            f"  main.py: hand-written ({node.src}); artifacts shipped: "
            f"{', '.join(node.artifacts) or '-'}"
        )
        return "\n".join(lines) + "\n"
    lines.append(
        f"  main.py: generated ({node.src}), {node.input_message} -> {node.output_message}"
    )
    lines.append(f"  Inputs ({node.input_message} field -> dataset):")
    rows = [["field", "type", "dataset", "type (from)"]]
    rows += [
        [m.field, m.field_type, m.dataset, f"{m.dataset_type} ({m.type_source})"]
        for m in node.inputs
    ]
    lines += text_table(rows) if node.inputs else ["    (none)"]
    lines.append(f"  Outputs (dataset -> {node.output_message} field):")
    rows = [["dataset", "type (from)", "field", "type"]]
    rows += [
        [m.dataset, f"{m.dataset_type} ({m.type_source})", m.field, m.field_type]
        for m in node.outputs
    ]
    lines += text_table(rows)
    lines.append(f"  Copied from the input message: {', '.join(node.carried) or '-'}")
    lines.append(f"  Left unset: {', '.join(node.unset) or '-'}")
    lines.append("  Datasets:")
    rows = [["dataset", "role", "rule"]]
    rows += [[d.name, ROLE_LABELS[d.role], d.rule] for d in node.datasets]
    lines += text_table(rows)
    notes = [n for m in (*node.inputs, *node.outputs) for n in m.notes]
    if notes:
        lines.append("  Notes:")
        lines += [f"    - {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _kind(name: str, src: str, kedro: Mapping[str, KedroNode]) -> str:
    if name in kedro:
        node = kedro[name]
        what = "generated from" if node.generated else "hand-written, with"
        return f"{what} the Kedro project '{node.project.project_name}' ({node.folder}/)"
    if src.endswith(".py"):
        return "hand-written Python"
    return "not Python: packaged as given"


def render_build_report(
    *,
    manifest: Manifest,
    executable: set[str],
    left_out: Sequence[str],
    ignore_rules: int,
    nodes: Sequence[KedroNode],
    placed: Mapping[str, Sequence[str]],
    warnings: Sequence[str],
    dockerfile: bool = False,
    portable: Collection[str] = (),
) -> str:
    """The whole report of a build. ``portable``: the folders whose generated code is the
    portable kind, for nodes on kre-py's images (kedro_krt.emit.portable)."""
    kedro = {n.name: n for n in nodes}
    lines = [f"KRT version {manifest.version}: {manifest.description}"]
    if ignore_rules:
        lines.append(
            f"  {IGNORE_FILE}: {ignore_rules} pattern(s), {len(left_out)} file(s) left out"
        )
    lines.append("Nodes:")
    rows = []
    for i, spec in enumerate(manifest.nodes, 1):
        src = posixpath.normpath(spec.src)
        mark = " (executable)" if src in executable else ""
        rows.append([f"{i}.", spec.name, f"{src}{mark}", _kind(spec.name, src, kedro)])
    lines += text_table(rows, "  ")
    lines.append("Workflows:")
    for wf in manifest.workflows:
        lines.append(f"  {wf.name} (rpc {wf.entrypoint}): {' -> '.join(wf.sequential)}")
    for node in nodes:
        lines.append("")
        lines.append(render_kedro_node(node).rstrip("\n"))
    lines.append("")
    if placed:
        lines.append("Protos compiled into the node folders:")
        lines += text_table(
            [
                [f"{f}/", ", ".join(m), "portable (kre-py image)" if f in portable else ""]
                for f, m in sorted(placed.items())
            ],
            "  ",
        )
    if nodes:
        lines.append(
            "Runtime: kedro_krt vendored in lib/; requirements.txt merged from "
            + ", ".join(sorted({f"{n.project.project_name}" for n in nodes}))
            + " and kedro_krt's own"
            + ("; Dockerfile generated" if dockerfile else "; the folder's own Dockerfile kept")
        )
    if warnings:
        lines.append("Warnings:")
        lines += [f"  - {w}" for w in warnings]
    generated = sum(1 for n in nodes if n.generated)
    lines.append(
        f"{len(manifest.nodes)} node(s), {generated} generated from Kedro, "
        f"{len(nodes) - generated} hand-written with Kedro; {len(warnings)} warning(s)"
    )
    return "\n".join(lines) + "\n"
