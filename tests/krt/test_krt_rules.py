"""The catalogue of the manifest rules, and pydantic's errors turned into KRE's words and order."""

from __future__ import annotations

from kedro_krt.formats import rules
from kedro_krt.formats.manifest_v1 import parse_manifest
from kedro_krt.formats.manifest_v2 import parse_manifest_v2
from tests.krt.krt_helpers import GOOD_YML
from tests.krt.test_krt_validate_v2 import V2_YML


def _where(text: str) -> list[tuple[str, str]]:
    _, problems = parse_manifest(text)
    return [(p.location.split(" ", 1)[-1], p.rule) for p in problems]


def test_catalogue_holds_every_shape_rule_and_only_kre_or_krt_ids() -> None:
    assert set(rules.V1_SHAPE_RULES.values()) <= set(rules.CATALOGUE)
    assert set(rules.V2_SHAPE_RULES.values()) <= set(rules.CATALOGUE)
    assert all(rule.id.startswith(("kre.", "krt.")) for rule in rules.CATALOGUE)
    assert rules.V1_REQUIRED.shown() == 'The field "<field>" is required: add <hint>'


def test_list_items_are_checked_as_items_before_their_fields() -> None:
    # The walk KRE's order follows: every entry (a mapping? known keys?) first, then each one's
    # fields; pydantic reports nodes[0]'s fields before nodes[1].
    text = GOOD_YML.replace("    src: src/etl/main.py\n", "").replace(
        "workflows:\n", "  - 3\nworkflows:\n"
    )
    assert _where(text) == [("nodes[2]", "krt.type"), ("nodes[0].src", "kre.required")]


def test_string_items_are_checked_as_strings_before_their_names() -> None:
    text = GOOD_YML.replace("[etl, model]", "[modle, 3]")
    assert _where(text) == [
        ("workflows[0].sequential[1]", "krt.type"),
        ("workflows[0].sequential[0]", "kre.sequential-node"),
        ("nodes[0].name", "krt.node-unused"),
        ("nodes[1].name", "krt.node-unused"),
    ]


def test_a_list_whose_items_all_fail_is_not_empty() -> None:
    # pydantic measures a list after its items: min_length would call it empty.
    text = GOOD_YML.replace("    entrypoint: Predict\n", "")
    assert _where(text) == [("workflows[0].entrypoint", "kre.required")]


def test_a_key_yaml_reads_as_a_boolean_is_an_unknown_key() -> None:
    proto = "  proto: public_input.proto\n"
    text = GOOD_YML.replace(proto, proto + "  yes: 1\n")
    _, problems = parse_manifest(text)
    assert [p.rule for p in problems] == ["krt.unknown-key"]
    assert problems[0].message.startswith('Unknown key "True" at "entrypoint"')


# -- KRT v2: what pydantic cannot say, put where KRE says it --------------------------------------

V2_NODE = "      - name: model\n"


def _v2_where(text: str) -> list[tuple[str, str, str]]:
    _, problems = parse_manifest_v2(text)
    return [(p.location.split(" ", 1)[-1], p.severity, p.rule) for p in problems]


def test_v2_a_number_read_as_text_is_warned_before_the_rules_of_that_text() -> None:
    assert _v2_where(V2_YML.replace("version: price-estimator-v2", "version: 1.5")) == [
        ("version", "warning", "krt.type"),
        ("version", "error", "kre.name"),
    ]


def test_v2_object_store_scope_is_reported_before_its_name() -> None:
    # KRE checks the scope (types.go: oneof) and only then our name rule, whatever the order of
    # the fields; an empty name is missing, not a mistyped value.
    store = "        objectStore: {name: null, scope: bad}\n"
    text = V2_YML.replace(V2_NODE, V2_NODE + store)
    assert _v2_where(text) == [
        ("workflows[0].nodes[1].objectStore.scope", "error", "kre.object-store-scope"),
        ("workflows[0].nodes[1].objectStore.name", "error", "krt.object-store-name"),
    ]


def test_a_character_yaml_forbids_is_a_syntax_problem_not_a_traceback() -> None:
    manifest, problems = parse_manifest(GOOD_YML.replace("Estimates prices", "Estimates\x00"))
    assert manifest is None
    assert [p.rule for p in problems] == ["krt.yaml-syntax"]
    assert "unacceptable character #x0000" in problems[0].message
