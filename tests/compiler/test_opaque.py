"""A dataset holding a Python object (a model) cannot travel between KRT nodes: compile says so."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import copy_project, run_cli


def test_a_model_between_two_krt_nodes_is_refused_with_what_to_change(
    trained_project: Path,
) -> None:
    # The training pipeline has no namespace: each Kedro node becomes a KRT node, so the fitted
    # sklearn Pipeline would have to cross from train_model to evaluate_model in a message.
    proc = run_cli(["kedro", "krt", "compile", "--pipeline", "training"], trained_project, False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "'price_model' holds a sklearn.pipeline.Pipeline" in proc.stderr
    assert "grouping: single" in proc.stderr


def test_the_same_pipeline_as_one_krt_node_compiles(trained_project: Path, tmp_path: Path) -> None:
    # A conf env of its own: on a copy, the trained project is shared by the whole run.
    project = copy_project(trained_project, tmp_path / "example_project")
    env = project / "conf" / "one_node"
    env.mkdir()
    (env / "krt.yml").write_text(
        "workflows:\n  - name: training\n    pipeline: training\n    grouping: single\n",
        encoding="utf-8",
    )
    proc = run_cli(["kedro", "krt", "compile", "--env", "one_node", "--full"], project)
    assert "price_model" in proc.stdout and "intermediate (in memory)" in proc.stdout
    assert "1 workflow(s), 1 KRT node(s)" in proc.stdout
