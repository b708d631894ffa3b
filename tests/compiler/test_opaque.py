"""A dataset holding a Python object (a model) cannot travel between KRT nodes: compile says so."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_a_model_taken_for_a_request_input_says_to_list_it_as_an_artifact() -> None:
    # A pipeline whose Kedro nodes have no namespace (datasets named `prep.x` do not make one)
    # takes every free input for a request input, the model too. Before: "it is a response
    # output", which it is not.
    from kedro_krt.compiler.compile import _refuse_opaque
    from kedro_krt.node.analysis import CompileError, Decision

    decisions = {"regressor": Decision("request", "no dataset is namespaced")}
    with pytest.raises(CompileError) as info:
        _refuse_opaque({"regressor": "sklearn.linear_model.LinearRegression"}, decisions, [])
    text = str(info.value)
    assert "it is a request input here" in text and "`artifacts:`" in text
    assert "response output" not in text
