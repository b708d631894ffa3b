"""The krt.yml model: names, YAML output, parsing and from_dict."""

from __future__ import annotations

import itertools

import pytest
import yaml

from kedro_krt.formats.manifest_base import (
    MAX_NAME_LENGTH,
    ConfigSpec,
    Entrypoint,
    ManifestError,
    is_valid_name,
    to_valid_name,
)
from kedro_krt.formats.manifest_v1 import Manifest, NodeSpec, WorkflowSpec, parse_manifest
from tests.krt.krt_helpers import GOOD_YML


def sample() -> Manifest:
    return Manifest(
        version="v1",
        description="A test: with a colon",
        entrypoint=Entrypoint(
            proto="public_input.proto", image="konstellation/kre-entrypoint:1.8.1"
        ),
        nodes=(
            NodeSpec(name="etl", image="registry.example.com/team/runner:2", src="src/etl/main.py"),
            NodeSpec(
                name="gpu-model",
                image="konstellation/kre-py:2.1.5",
                src="src/gpu-model/main.py",
                gpu=True,
            ),
        ),
        workflows=(WorkflowSpec(name="wf", entrypoint="Predict", sequential=("etl", "gpu-model")),),
    )


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("etl", True),
        ("a", True),
        ("0", True),
        ("a-b-c", True),
        ("a" * MAX_NAME_LENGTH, True),
        ("a" * (MAX_NAME_LENGTH + 1), False),
        ("My_Node", False),
        ("-a", False),
        ("a-", False),
        ("", False),
        ("a.b", False),
        (3, False),
    ],
)
def test_is_valid_name(name: object, valid: bool) -> None:
    assert is_valid_name(name) is valid


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My_Node", "my-node"),
        ("__init__", "init"),
        ("data.science..x", "data-science-x"),
        ("Café Prédiction", "cafe-prediction"),
        ("price_estimator_inference", "price-estimator-inf"),
        ("aaaaaaaaaaaaaaaaaa_b", "aaaaaaaaaaaaaaaaaa"),  # cut at '-' -> trailing '-' dropped
    ],
)
def test_to_valid_name(text: str, expected: str) -> None:
    assert to_valid_name(text) == expected
    assert is_valid_name(to_valid_name(text))


def test_to_valid_name_max_len_and_hopeless_input() -> None:
    assert to_valid_name("abcdef", max_len=3) == "abc"
    with pytest.raises(ValueError, match="no letter or digit"):
        to_valid_name("___")


def test_to_yaml_key_order_and_omissions() -> None:
    text = sample().to_yaml()
    keys = [line.split(":")[0] for line in text.splitlines() if not line.startswith(" ")]
    assert keys == ["version", "description", "entrypoint", "nodes", "workflows"]
    assert text.count("gpu:") == 1  # only the gpu node says so
    assert "config" not in text


def test_to_yaml_writes_config_between_entrypoint_and_nodes() -> None:
    manifest = Manifest(**{**sample().__dict__, "config": ConfigSpec(variables=("A",))})
    keys = [line.split(":")[0] for line in manifest.to_yaml().splitlines() if line[0] != " "]
    assert keys == ["version", "description", "entrypoint", "config", "nodes", "workflows"]
    assert "files" not in manifest.to_yaml()


def test_to_yaml_round_trips_and_is_deterministic() -> None:
    manifest = sample()
    text = manifest.to_yaml()
    assert text == sample().to_yaml()
    parsed, problems = parse_manifest(text)
    assert problems == []
    assert parsed == manifest


def test_to_yaml_quotes_what_yaml_would_misread() -> None:
    manifest = Manifest(**{**sample().__dict__, "description": "yes", "version": "123"})
    data = yaml.safe_load(manifest.to_yaml())
    assert data["description"] == "yes"
    assert data["version"] == "123"


def test_parse_good_manifest() -> None:
    manifest, problems = parse_manifest(GOOD_YML)
    assert problems == []
    assert manifest is not None
    assert manifest.config.variables == ("OUTPUT_CURRENCY",)
    assert manifest.workflows[0].sequential == ("etl", "model")


def test_from_dict_raises_with_every_problem() -> None:
    data = yaml.safe_load(GOOD_YML)
    data["version"] = "Bad_Version"
    data["nodes"][0]["nmae"] = "x"
    with pytest.raises(ManifestError) as info:
        Manifest.from_dict(data)
    assert sorted(p.rule for p in info.value.problems) == ["kre.name", "krt.unknown-key"]
    assert "Bad_Version" in str(info.value)


def test_from_dict_accepts_good_data() -> None:
    assert Manifest.from_dict(yaml.safe_load(GOOD_YML)).version == "price-estimator-v1"


def test_number_where_string_expected_says_quote_it() -> None:
    _, problems = parse_manifest(GOOD_YML.replace("price-estimator-v1", "1.10"))
    assert [p.rule for p in problems] == ["krt.type"]
    assert "quote it" in problems[0].message


def test_duplicate_yaml_key_is_reported() -> None:
    _, problems = parse_manifest(GOOD_YML + "version: other\n")
    assert [p.rule for p in problems] == ["krt.duplicate-key"]
    assert "first at line 1" in problems[0].message


def test_krt_v2_manifest_is_named_as_such() -> None:
    _, problems = parse_manifest("krtVersion: v2\n" + GOOD_YML)
    assert [p.rule for p in problems] == ["krt.unknown-key"]
    assert "KRT v2" in problems[0].message


def test_not_a_mapping() -> None:
    manifest, problems = parse_manifest("- a\n- b\n")
    assert manifest is None
    assert [p.rule for p in problems] == ["krt.type"]


def test_empty_manifest_lists_every_required_field() -> None:
    _, problems = parse_manifest("{}")
    assert [p.message.split(":")[0] for p in problems] == [
        'The field "Version" is required',
        'The field "Description" is required',
        'The field "Entrypoint" is required',
        'The field "Nodes" is required',
        'The field "Workflows" is required',
    ]


def test_gpu_must_be_a_boolean() -> None:
    text = GOOD_YML.replace("src: src/etl/main.py", "src: src/etl/main.py\n    gpu: maybe")
    _, problems = parse_manifest(text)
    assert [p.rule for p in problems] == ["krt.type"]
    assert problems[0].location == "krt.yml:12 nodes[0].gpu"


def test_repeated_node_in_sequential() -> None:
    _, problems = parse_manifest(GOOD_YML.replace("[etl, model]", "[etl, model, etl]"))
    assert [p.rule for p in problems] == ["krt.sequential-repeat"]


def test_self_referencing_alias_does_not_hang() -> None:
    manifest, problems = parse_manifest("version: &v [*v]\nnodes: &n [*n]\n")
    assert manifest is None
    assert "krt.type" in [p.rule for p in problems]


def test_billion_laughs_is_walked_once() -> None:
    levels = "abcdefghij"
    text = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{child}: &{child} [{', '.join([f'*{parent}'] * 9)}]\n"
        for parent, child in itertools.pairwise(levels)
    )
    _, problems = parse_manifest(text)  # 9**10 paths if aliases were expanded
    assert {p.rule for p in problems} == {"krt.unknown-key", "kre.required"}
