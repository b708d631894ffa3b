"""krt.yml's ``hooks:`` on a small project: what compile reports and refuses, what the plan
carries, and what a session built from it runs (all in this process: the unit tier)."""

from __future__ import annotations

import pickle
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kedro_krt.node.plan import HooksPlan, NodeRuntimePlan
from kedro_krt.node.runtime.hooks import HooksConfigError
from kedro_krt.node.runtime.session import KrtSession
from tests.compiler.compiler_helpers import write_project

HOOKS = '''
from kedro.framework.hooks import hook_impl

RECORDS = []


class CountingHooks:
    @hook_impl
    def after_context_created(self, context):
        RECORDS.append(("after_context_created",))

    @hook_impl
    def after_catalog_created(self, catalog):
        RECORDS.append(("after_catalog_created",))

    @hook_impl
    def after_dataset_loaded(self, dataset_name, data, node):
        RECORDS.append(("after_dataset_loaded", node.name, dataset_name))

    @hook_impl
    def before_node_run(self, node, inputs):
        RECORDS.append(("before_node_run", node.name))
        if node.name == "scale" and inputs["x"] == 99:
            return {"x": 1}
        return None


class TimingHooks:
    @hook_impl
    def after_node_run(self, node):
        RECORDS.append(("after_node_run", node.name))
'''

PIPELINE = '''
from kedro.pipeline import Pipeline, node


def scale(x, model):
    return x * model["factor"]


def shift(y, offset):
    return y + offset


def register_pipelines():
    p = Pipeline([
        node(scale, ["x", "model"], "y", name="scale"),
        node(shift, ["y", "params:offset"], "z", name="shift"),
    ])
    return {"p": p, "__default__": p}
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Any]]:
    """A project whose settings register two hooks; yields its root and the hooks module."""
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "true")
    package = f"hooked_{uuid.uuid4().hex[:8]}"
    root = write_project(
        tmp_path / "project",
        package=package,
        modules={
            "hooks.py": HOOKS,
            "pipeline_registry.py": PIPELINE,
            "settings.py": f"from {package}.hooks import CountingHooks, TimingHooks\n\n"
            "HOOKS = (CountingHooks(), TimingHooks())\n",
        },
        catalog=textwrap.dedent(
            """\
            model:
              type: pickle.PickleDataset
              filepath: data/model.pickle
            """
        ),
        parameters="offset: 1\n",
    )
    (root / "data").mkdir()
    (root / "data" / "model.pickle").write_bytes(pickle.dumps({"factor": 10}))
    try:
        yield root, lambda: sys.modules[f"{package}.hooks"]
    finally:
        for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
            del sys.modules[name]


def _compile(root: Path, krt_yml: str) -> Any:
    from kedro_krt.compiler.compile import compile_project
    from kedro_krt.compiler.project import open_project

    (root / "conf" / "base" / "krt.yml").write_text(krt_yml, encoding="utf-8")
    return compile_project(open_project(root), ["p"])


def test_compile_reports_the_hooks_and_the_workflow_choice_wins(
    project: tuple[Path, Any],
) -> None:
    from kedro_krt.compiler.report import render_report

    root, _ = project
    plan = _compile(
        root,
        "workflows:\n  - name: p\n    artifacts: [model]\n    hooks: {keep: [TimingHooks]}\n"
        "hooks: {enabled: false}\n",
    )
    (workflow,) = plan.workflows
    assert workflow.hooks == HooksPlan(keep=("TimingHooks",))
    report = render_report(plan)
    assert "    TimingHooks (after_node_run)\n" in report
    assert "    CountingHooks: left out, krt.yml's hooks.keep does not name it\n" in report
    assert "kedro-telemetry: left out, krt.yml's hooks.keep does not name it" in report
    plan = _compile(root, "workflows:\n  - name: p\n    artifacts: [model]\n")
    report = render_report(plan)
    assert (
        "    CountingHooks (after_catalog_created, after_context_created, after_dataset_loaded,"
        " before_node_run)\n" in report
    )
    assert "kedro-telemetry: left out, off in served nodes unless hooks.keep names it" in report


def test_keep_naming_no_hook_of_the_project_is_refused(project: tuple[Path, Any]) -> None:
    root, _ = project
    with pytest.raises(HooksConfigError, match="TimingHook, which the project does not register"):
        _compile(
            root, "workflows:\n  - name: p\n    artifacts: [model]\nhooks: {keep: [TimingHook]}\n"
        )


def test_the_plan_json_keeps_the_choice_and_leaves_the_default_out(
    project: tuple[Path, Any],
) -> None:
    from kedro_krt.emit.files import node_plans

    root, _ = project
    plain = node_plans(_compile(root, "workflows:\n  - name: p\n    artifacts: [model]\n"))
    text = next(iter(plain.values())).dumps()
    assert '"hooks"' not in text and NodeRuntimePlan.loads(text).hooks == HooksPlan()
    chosen = node_plans(
        _compile(root, "workflows:\n  - name: p\n    artifacts: [model]\n"
                       "    hooks: {enabled: false}\n")
    )
    text = next(iter(chosen.values())).dumps()
    assert NodeRuntimePlan.loads(text).hooks == HooksPlan(enabled=False)


def test_a_session_runs_the_hooks_once_at_init_and_per_node_per_run(
    project: tuple[Path, Any],
) -> None:
    root, hooks = project
    session = KrtSession(root, "p", artifacts=("model",))
    records = hooks().RECORDS
    assert records == [
        ("after_context_created",),
        ("after_catalog_created",),
        ("after_dataset_loaded", "scale", "model"),  # the artifact, loaded once
    ]
    records.clear()
    assert session.run({"x": 2}) == {"z": 21}
    assert session.run({"x": 99}) == {"z": 11}  # before_node_run replaced x
    per_run = [
        ("after_dataset_loaded", "scale", "x"),
        ("after_dataset_loaded", "scale", "model"),
        ("before_node_run", "scale"),
        ("after_node_run", "scale"),
        ("after_dataset_loaded", "shift", "y"),
        ("after_dataset_loaded", "shift", "params:offset"),
        ("before_node_run", "shift"),
        ("after_node_run", "shift"),
    ]
    assert records == per_run * 2


def test_hooks_switched_off_run_nothing(project: tuple[Path, Any]) -> None:
    root, hooks = project
    session = KrtSession(root, "p", artifacts=("model",), hooks=HooksPlan(enabled=False))
    assert session.run({"x": 99}) == {"z": 991}
    assert hooks().RECORDS == []
    kept = KrtSession(root, "p", artifacts=("model",), hooks=HooksPlan(keep=("TimingHooks",)))
    kept.run({"x": 2})
    assert hooks().RECORDS == [("after_node_run", "scale"), ("after_node_run", "shift")]
