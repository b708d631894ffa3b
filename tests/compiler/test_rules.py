"""The compilation rules, one test each: on hand-written NodeInfo graphs (analysis.py alone), on
real Kedro pipelines converted by `node_infos`, and on a real project through `compile_project`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from kedro.pipeline import Pipeline, node, pipeline

from kedro_krt.compiler.compile import compile_project
from kedro_krt.compiler.config import ConfigError, parse_config
from kedro_krt.compiler.project import KedroProject, node_infos, open_project
from kedro_krt.node.analysis import (
    CompileError,
    NodeInfo,
    classify,
    is_under,
    liveness,
    make_groups,
    select_nodes,
)


def _f(*args: object) -> object:
    return args[0] if args else None


def _g(*args: object) -> tuple[object, object]:
    return (args[0], args[0])


def roles(decisions: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {name: d.role for name, d in decisions.items()}


# --- the example's shape, as a real Kedro pipeline ----------------------------------------------


def shop_pipeline() -> Pipeline:
    """etl -> model -> output, like the example: the request is read again by the last node."""
    etl = pipeline(
        [node(_g, ["shuttles", "params:clean"], ["features", "early"], name="make_features")],
        namespace="etl",
    )
    model = pipeline(
        [node(_f, ["features", "model", "params:clip"], "predictions", name="predict")],
        namespace="model",
        inputs={"features": "etl.features", "model": "model"},
    )
    output = pipeline(
        [node(_f, ["shuttles", "predictions", "params:bands"], "quotes", name="quote")],
        namespace="output",
        inputs={"shuttles": "etl.shuttles", "predictions": "model.predictions"},
        parameters={"bands"},
    )
    return etl + model + output


def test_roles_of_a_namespaced_kedro_pipeline() -> None:
    nodes = node_infos(shop_pipeline())
    decisions = classify(nodes, None)
    assert roles(decisions) == {
        "etl.shuttles": "request",  # free input under a workflow namespace
        "model": "artifact",  # free input outside them
        "params:etl.clean": "parameter",  # params:<ns>.* -> per message
        "params:model.clip": "parameter",
        "params:bands": "fixed-parameter",  # other params
        "etl.early": "response",  # free outputs
        "output.quotes": "response",
    }
    assert decisions["etl.shuttles"].rule == "free input under namespace 'etl'"
    assert decisions["model"].rule == "free input outside the workflow's namespaces"
    assert decisions["params:bands"].rule == "parameter outside the workflow's namespaces"


def test_liveness_carries_request_fields_and_early_responses_to_the_end() -> None:
    nodes = node_infos(shop_pipeline())
    groups = make_groups(nodes, "namespace", None)
    assert [g.key for g in groups] == ["etl", "model", "output"]
    live = liveness(groups, classify(nodes, None))
    # etl.shuttles is read by the last node: every internal message carries it.
    assert "etl.shuttles" in live.writes[0]
    assert "etl.shuttles" in live.writes[1]
    assert "etl.shuttles" in live.reads[1] and "etl.shuttles" in live.reads[2]
    # etl.early is a response made by the first node: carried to the end.
    assert "etl.early" in live.writes[0] and "etl.early" in live.writes[1]
    assert live.writes[2] == ("etl.early", "output.quotes")
    # Data no later node needs is dropped, and artifacts never travel.
    assert "etl.features" in live.writes[0] and "etl.features" not in live.writes[1]
    assert all("model" not in w for w in live.writes)
    # The per-message parameters travel while a later node reads one.
    assert live.writes_parameters == (True, False, False)


def test_liveness_drops_what_no_one_needs_later() -> None:
    nodes = [
        NodeInfo("a", "a", ("a.in",), ("a.x",)),
        NodeInfo("b", "b", ("a.x",), ("b.y",)),
        NodeInfo("c", "c", ("b.y",), ("c.out",)),
    ]
    groups = make_groups(nodes, "namespace", None)
    live = liveness(groups, classify(nodes, None))
    assert live.writes == (("a.x",), ("b.y",), ("c.out",))
    assert live.reads == (("a.in",), ("a.x",), ("b.y",))


# --- grouping and order ---------------------------------------------------------------------------


def test_grouping_namespace_single_node() -> None:
    nodes = node_infos(shop_pipeline())
    by_ns = make_groups(nodes, "namespace", None)
    assert [(g.key, [n.name for n in g.nodes]) for g in by_ns] == [
        ("etl", ["etl.make_features"]),
        ("model", ["model.predict"]),
        ("output", ["output.quote"]),
    ]
    single = make_groups(nodes, "single", None)
    assert len(single) == 1 and len(single[0].nodes) == 3
    per_node = make_groups(nodes, "node", None)
    assert [g.key for g in per_node] == ["etl.make_features", "model.predict", "output.quote"]


def test_grouping_by_top_level_namespace_only() -> None:
    p = pipeline(
        [
            pipeline([node(_f, "raw", "clean", name="clean")], namespace="inner"),
            pipeline(
                [node(_f, "clean", "out", name="use")],
                namespace="other",
                inputs={"clean": "inner.clean"},
            ),
        ],
        namespace="top",
    )
    groups = make_groups(node_infos(p), "namespace", None)
    assert [g.key for g in groups] == ["top"]
    # Below a selected namespace, the next component groups.
    nodes = select_nodes(node_infos(p), "top")
    assert [g.key for g in make_groups(nodes, "namespace", "top")] == ["inner", "other"]


def test_topological_order_ties_broken_by_name() -> None:
    # z and m both only need a: listed z first, m must still come first.
    nodes = [
        NodeInfo("z1", "z", ("a.x",), ("z.out",)),
        NodeInfo("m1", "m", ("a.x",), ("m.out",)),
        NodeInfo("a1", "a", ("a.in",), ("a.x",)),
    ]
    assert [g.key for g in make_groups(nodes, "namespace", None)] == ["a", "m", "z"]
    assert [g.key for g in make_groups(list(reversed(nodes)), "namespace", None)] == [
        "a",
        "m",
        "z",
    ]


def test_cycle_between_groups_is_refused_naming_the_datasets() -> None:
    p = pipeline(
        [
            node(_f, "in", "a.x", name="a1", namespace="a"),
            node(_f, "a.x", "b.y", name="b1", namespace="b"),
            node(_f, "b.y", "a.z", name="a2", namespace="a"),
        ]
    )
    nodes = node_infos(p)
    with pytest.raises(CompileError) as err:
        make_groups(nodes, "namespace", None)
    message = str(err.value)
    assert "cycle" in message
    assert "a.x (a -> b)" in message and "b.y (b -> a)" in message
    assert "grouping: single" in message  # says what to change
    # The same nodes are fine one KRT node per Kedro node, or all in one.
    assert [g.key for g in make_groups(nodes, "node", None)] == ["a.a1", "b.b1", "a.a2"]
    assert len(make_groups(nodes, "single", None)) == 1


def test_disconnected_groups_are_refused() -> None:
    nodes = [
        NodeInfo("a1", "a", ("a.in",), ("a.x",)),
        NodeInfo("b1", "b", ("b.in",), ("b.y",)),
    ]
    with pytest.raises(CompileError) as err:
        make_groups(nodes, "namespace", None)
    message = str(err.value)
    assert "2 disconnected parts" in message
    assert "[a] reading a.in" in message and "[b] reading b.in" in message
    assert "namespace:" in message
    # A shared free input links groups: not disconnected.
    shared = [NodeInfo("a1", "a", ("raw",), ("a.x",)), NodeInfo("b1", "b", ("raw",), ("b.y",))]
    assert len(make_groups(shared, "namespace", None)) == 2


# --- config wins over inference -------------------------------------------------------------------


def test_config_inputs_artifacts_outputs_win_over_inference() -> None:
    nodes = node_infos(shop_pipeline())
    decisions = classify(
        nodes,
        None,
        inputs=("model",),
        artifacts=("etl.shuttles",),
        outputs=("output.quotes",),
    )
    assert decisions["model"].role == "request"
    assert decisions["model"].rule == "listed under `inputs` in krt.yml"
    assert decisions["etl.shuttles"].role == "artifact"
    assert decisions["etl.shuttles"].rule == "listed under `artifacts` in krt.yml"
    assert decisions["output.quotes"].role == "response"
    assert decisions["etl.early"].role == "intermediate"


def test_config_beats_the_catalog_artifact_rule() -> None:
    nodes = [NodeInfo("n", "ns", ("ns.model", "ns.rows"), ("ns.out",))]

    def versioned(_: str) -> str:
        return "it is a versioned dataset"

    decisions = classify(nodes, None, inputs=("ns.model",), artifact_reason=versioned)
    assert decisions["ns.model"].role == "request"
    assert decisions["ns.rows"].role == "artifact"


@pytest.mark.parametrize(
    ("key", "typo", "suggestion"),
    [
        ("inputs", "etl.shutles", "etl.shuttles"),
        ("artifacts", "modle", "model"),
        ("outputs", "output.quote", "output.quotes"),
    ],
)
def test_config_typo_gets_did_you_mean(key: str, typo: str, suggestion: str) -> None:
    with pytest.raises(CompileError) as err:
        classify(node_infos(shop_pipeline()), None, **{key: (typo,)})
    message = str(err.value)
    assert f"'{typo}' is listed under `{key}`" in message
    assert f"did you mean '{suggestion}'?" in message


def test_a_dataset_under_inputs_and_artifacts_is_refused() -> None:
    with pytest.raises(CompileError, match="both `inputs` and `artifacts`"):
        classify(node_infos(shop_pipeline()), None, inputs=("model",), artifacts=("model",))


# --- namespaces -----------------------------------------------------------------------------------


def test_pipeline_without_namespace_takes_every_free_input_from_the_request() -> None:
    p = pipeline(
        [
            node(_f, ["rows", "lookup", "params:k"], "mid", name="first"),
            node(_f, "mid", "answer", name="second"),
        ]
    )
    decisions = classify(node_infos(p), None)
    assert roles(decisions) == {
        "rows": "request",
        "lookup": "request",
        "params:k": "fixed-parameter",
        "answer": "response",
    }
    assert decisions["rows"].rule == (
        "no dataset is namespaced: every free input is a request input"
    )
    # Without namespaces, each Kedro node is its own group.
    assert [g.key for g in make_groups(node_infos(p), "namespace", None)] == ["first", "second"]


def test_workflow_namespace_selects_one_namespace_by_dotted_prefix() -> None:
    p = pipeline(
        [
            pipeline([node(_f, "rows", "out", name="n")], namespace="inference"),
            pipeline([node(_f, "rows", "out", name="n")], namespace="inference2"),
            pipeline([node(_f, "rows", "out", name="n")], namespace="inference.deep"),
        ]
    )
    chosen = select_nodes(node_infos(p), "inference")
    assert sorted(n.name for n in chosen) == ["inference.deep.n", "inference.n"]
    decisions = classify(chosen, "inference")
    assert decisions["inference.rows"].role == "request"
    assert decisions["inference.deep.rows"].role == "request"
    assert "inference2.rows" not in decisions
    with pytest.raises(CompileError, match="namespace 'infer' has no node"):
        select_nodes(node_infos(p), "infer")


# --- the kedro-boot defects (reference/KEDRO.md), one test each -----------------------------------


def test_namespace_matching_is_by_component_never_by_substring() -> None:
    assert is_under("a.x", "a") and is_under("a", "a")
    assert not is_under("ab.x", "a") and not is_under("data.model", "a")
    p = pipeline(
        [node(_f, ["rows", "ab.x", "data.model", "params:k", "params:ab.k"], "out", name="n")],
        namespace="a",
        inputs={"ab.x", "data.model"},
        parameters={"params:ab.k"},
    )
    decisions = classify(node_infos(p), None)
    assert roles(decisions) == {
        "a.rows": "request",
        "ab.x": "artifact",  # namespace `a` does not capture `ab.*`
        "data.model": "artifact",  # nor rewrite `data.model` (kedro-boot made it `datmodel`)
        "params:a.k": "parameter",
        "params:ab.k": "fixed-parameter",
        "a.out": "response",
    }
    # With both namespaces in one pipeline, `a` selects only its own nodes.
    both = pipeline(
        [
            pipeline([node(_f, "rows", "out", name="n")], namespace="a"),
            pipeline([node(_f, "rows", "out", name="n")], namespace="ab"),
        ]
    )
    assert [n.namespace for n in select_nodes(node_infos(both), "a")] == ["a"]


def test_falsy_parameter_defaults_give_optional_typed_fields(tiny: KedroProject) -> None:
    plan = compile_project(tiny, ["falsy"], version="tiny")
    (workflow,) = plan.workflows
    params = workflow.request.fields[-1]
    assert params.name == "parameters"
    (knobs,) = params.type.fields
    assert knobs.name == "knobs"
    leaves = {f.name: f.type for f in knobs.type.fields}
    # 0, False and "" are values: each gets its real type, optional so that presence is known.
    assert {k: (t.kind, t.scalar, t.optional) for k, t in leaves.items()} == {
        "zero": ("scalar", "int64", True),
        "off": ("scalar", "bool", True),
        "empty": ("scalar", "string", True),
    }
    assert sorted(p.dataset for p in workflow.parameters) == [
        "params:knobs.empty",
        "params:knobs.off",
        "params:knobs.zero",
    ]
    assert {p.key for p in workflow.nodes[0].parameters} == {"zero", "off", "empty"}


def test_namespaced_artifacts_are_not_request_inputs(tiny: KedroProject) -> None:
    plan = compile_project(tiny, ["artifacts"], version="tiny")
    (workflow,) = plan.workflows
    model = workflow.dataset("inference2.model")
    assert model.role == "artifact"
    assert "versioned dataset" in model.rule
    opaque = workflow.dataset("inference2.opaque")
    assert opaque.role == "artifact"
    assert "re.Pattern" in opaque.rule and "cannot travel in a message" in opaque.rule
    assert workflow.dataset("inference2.rows").role == "request"
    assert [f.original for f in workflow.request.fields] == ["inference2.rows"]
    assert workflow.nodes[0].artifacts == ("inference2.model", "inference2.opaque")


def test_prefix_datasets_with_namespace_false_can_be_described(tiny: KedroProject) -> None:
    plan = compile_project(tiny, ["flat"], version="tiny")
    (workflow,) = plan.workflows
    assert [n.name for n in workflow.nodes] == ["flat"]
    assert workflow.nodes[0].kedro_nodes == ("flat.scale",)
    assert workflow.dataset("flat_rows").role == "request"
    assert workflow.dataset("flat_scaled").role == "response"
    assert workflow.dataset("params:factor").role == "fixed-parameter"
    assert [f.name for f in workflow.request.fields] == ["flat_rows"]
    assert workflow.response.fields[0].type.kind == "table"


def test_several_workflows_get_unique_node_names(tiny: KedroProject) -> None:
    plan = compile_project(tiny, ["alpha", "beta"], version="tiny")
    names = [n.name for w in plan.workflows for n in w.nodes]
    assert names == ["prep", "score", "beta-prep", "beta-score"]
    assert [w.rpc for w in plan.workflows] == ["Alpha", "Beta"]


def test_wrong_pipeline_name_gets_did_you_mean(tiny: KedroProject) -> None:
    with pytest.raises(CompileError, match=r"(?i)did you mean 'alpha'"):
        compile_project(tiny, ["alpah"], version="tiny")


def test_renaming_krt_nodes_under_nodes(tiny: KedroProject) -> None:
    config = parse_config(
        {
            "workflows": [
                {"name": "alpha", "nodes": {"prep": "prepare"}},
                {"name": "beta", "grouping": "single", "nodes": {"beta": "whole"}},
            ]
        }
    )
    plan = compile_project(dataclasses.replace(tiny, config=config), version="tiny")
    assert [[n.name for n in w.nodes] for w in plan.workflows] == [["prepare", "score"], ["whole"]]
    wrong = parse_config({"workflows": [{"name": "alpha", "nodes": {"prepp": "x"}}]})
    with pytest.raises(CompileError) as err:
        compile_project(dataclasses.replace(tiny, config=wrong), version="tiny")
    assert "renames prepp, which are not groups of it; its groups are: prep, score" in str(
        err.value
    )


def test_a_conf_env_that_does_not_exist_is_a_clear_error(tiny_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"conf env 'nope' does not exist.*Use one of: base"):
        open_project(tiny_path, "nope")
    with pytest.raises(ConfigError, match="env 'local' holds secrets"):
        open_project(tiny_path, "local")
