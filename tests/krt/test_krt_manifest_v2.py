"""The KRT v2 model (formats/manifest_v2.py): building, YAML output, parsing back, the DAG helpers.

The shape is KRE's classificator example (konstellation-io/kre @ v8.2.0:
engine/admin-api/test_assets/classificator-v1.krt, its krt.yml quoted in krt_helpers.py).
"""

from __future__ import annotations

import pytest
import yaml

from kedro_krt.formats.krt_formats import krt_version_of, parse_any_manifest
from kedro_krt.formats.manifest_base import ConfigSpec, Entrypoint, ManifestError
from kedro_krt.formats.manifest_v2 import (
    ManifestV2,
    NodeV2,
    ObjectStore,
    Subscription,
    WorkflowV2,
    parse_manifest_v2,
)
from tests.krt.krt_helpers import CLASSIFICATOR_YML


def sample() -> ManifestV2:
    node = "registry.example.com/team/runner:1"
    return ManifestV2(
        version="branches-v1",
        description="Two branches joined",
        entrypoint=Entrypoint("public_input.proto", "konstellation/kre-entrypoint:3.3.6"),
        config=ConfigSpec(variables=("API_KEY",)),
        workflows=(
            WorkflowV2(
                name="predict",
                entrypoint="Predict",
                exitpoint="exitpoint",
                nodes=(
                    NodeV2("left", node, "src/left/main.py", ("entrypoint",), replicas=2),
                    NodeV2("right", node, "src/right/main.py", ("entrypoint",), gpu=True),
                    NodeV2(
                        "join",
                        node,
                        "src/join/main.py",
                        ("left", "right"),
                        object_store=ObjectStore("cache", "project"),
                    ),
                    NodeV2("exitpoint", node, "src/exitpoint/main.py", ("join",)),
                ),
            ),
        ),
    )


def test_yaml_round_trip_keeps_every_field() -> None:
    manifest = sample()
    text = manifest.to_yaml()
    parsed, problems = parse_manifest_v2(text)
    assert [p for p in problems if p.severity == "error"] == []
    assert parsed == manifest
    assert text == parsed.to_yaml()


def test_yaml_writes_krt_version_and_kre_key_order() -> None:
    data = yaml.safe_load(sample().to_yaml())
    assert list(data) == [
        "version",
        "krtVersion",
        "description",
        "entrypoint",
        "config",
        "workflows",
    ]
    assert data["krtVersion"] == "v2"
    nodes = data["workflows"][0]["nodes"]
    assert list(data["workflows"][0]) == ["name", "entrypoint", "exitpoint", "nodes"]
    assert nodes[0] == {
        "name": "left",
        "image": "registry.example.com/team/runner:1",
        "src": "src/left/main.py",
        "replicas": 2,
        "subscriptions": ["entrypoint"],
    }
    assert "replicas" not in nodes[1] and nodes[1]["gpu"] is True
    # KRE 8.2 refuses an objectStore without a scope, so the scope is always written.
    assert nodes[2]["objectStore"] == {"name": "cache", "scope": "project"}


def test_classificator_parses_as_kre_wrote_it() -> None:
    manifest, problems = parse_any_manifest(CLASSIFICATOR_YML)
    assert isinstance(manifest, ManifestV2), problems
    (wf,) = manifest.workflows
    assert wf.exitpoint == "exitpoint"
    assert [n.name for n in wf.nodes] == [
        "etl",
        "email-classificator",
        "repairs-handler",
        "stats-storer",
        "exitpoint",
    ]
    assert wf.node("repairs-handler").parsed_subscriptions == (
        Subscription("email-classificator", "repairs"),
    )
    assert [n.name for n in wf.subscribers("etl")] == ["email-classificator", "exitpoint"]
    assert [n.name for n in wf.subscribers("entrypoint")] == ["etl"]
    order = [n.name for n in wf.topological_order()]
    assert order.index("stats-storer") < order.index("exitpoint")
    assert order.index("email-classificator") < order.index("repairs-handler")


def test_v1_and_v2_are_told_apart_by_krt_version() -> None:
    assert krt_version_of({"version": "x"}) == "v1"
    assert krt_version_of({"krtVersion": ""}) == "v1"
    assert krt_version_of({"krtVersion": "v2"}) == "v2"
    assert krt_version_of(None) == "v1"


def test_from_dict_raises_with_every_problem() -> None:
    data = yaml.safe_load(sample().to_yaml())
    del data["workflows"][0]["exitpoint"]
    data["workflows"][0]["nodes"][0]["subscriptions"] = []
    with pytest.raises(ManifestError) as info:
        ManifestV2.from_dict(data)
    kre = [p.kre for p in info.value.problems if p.kre]
    assert kre == [
        'the field "Workflows[0].Exitpoint" is required',
        'node "left" requires at least one subscription',
        'missing exitpoint in workflow "predict"',
    ]


def test_subscription_parse() -> None:
    assert Subscription.parse("entrypoint").is_entrypoint
    assert not Subscription.parse("entrypoint.x").is_entrypoint
    assert str(Subscription.parse("a.b.c")) == "a.b.c"
    assert Subscription.parse("a.b.c") == Subscription("a", "b.c")


def test_parse_any_manifest_reads_v1_with_or_without_krt_version() -> None:

    from kedro_krt.formats.manifest_v1 import Manifest
    from tests.krt.krt_helpers import GOOD_YML

    for text in (GOOD_YML, "krtVersion: v1\n" + GOOD_YML):
        manifest, problems = parse_any_manifest(text)
        assert isinstance(manifest, Manifest), problems
    manifest, problems = parse_any_manifest("krtVersion: v2\n" + GOOD_YML)
    assert manifest is None
    assert "krt.v1-key" in [p.rule for p in problems]  # a v1 body under krtVersion: v2
