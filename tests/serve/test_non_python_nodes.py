"""A KRT with nodes that are not Python (a Go binary for kre-go): the local server serves the
workflows whose nodes are all Python, says which it leaves out, and refuses a KRT with none."""

from __future__ import annotations

import pytest

from kedro_krt.formats.manifest_base import Entrypoint
from kedro_krt.formats.manifest_v1 import Manifest, NodeSpec, WorkflowSpec
from kedro_krt.serve.errors import ServeError
from kedro_krt.serve.serving_v1 import python_workflows


def _manifest(*workflows: WorkflowSpec) -> Manifest:
    return Manifest(
        version="mixed",
        description="Python and Go",
        entrypoint=Entrypoint("public_input.proto", "konstellation/kre-entrypoint:1.8.1"),
        nodes=(
            NodeSpec("prep", "konstellation/kre-py:2.1.5", "src/prep/main.py"),
            NodeSpec("audit", "konstellation/kre-go:2.1.4", "bin/audit"),
        ),
        workflows=workflows,
    )


def test_workflows_with_a_go_node_are_left_out_with_a_warning() -> None:
    manifest = _manifest(
        WorkflowSpec("quote", "Quote", ("prep",)),
        WorkflowSpec("audit", "Audit", ("prep", "audit")),
    )
    served, warnings = python_workflows(manifest)
    assert [w.name for w in served.workflows] == ["quote"]
    assert served.nodes == manifest.nodes
    (warning,) = warnings
    assert warning.startswith("workflow 'audit' (rpc Audit) is not served: node(s) 'audit' ")
    assert "bin/audit, konstellation/kre-go:2.1.4" in warning


def test_a_krt_with_no_python_workflow_is_refused() -> None:
    with pytest.raises(ServeError, match="no workflow of this KRT can be served here"):
        python_workflows(_manifest(WorkflowSpec("audit", "Audit", ("audit",))))
