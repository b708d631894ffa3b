"""KRT v2 validation: KRE 8.2's rules in KRE's exact words, ours, and the target KRE version.

Every KRE text below is copied from konstellation-io/kre @ v8.2.0,
engine/admin-api/domain/usecase/krt/ (types.go's struct tags as validator/fields_validator.go
words them; validator/validator.go; validator/errors.go; ValidateSrcPaths) and
engine/admin-api/domain/usecase/version_interactor.go (``Create``); KRE 8.1's refusal of v1
comes from commit 41dc2b5f (#706). One hand-made manifest per rule, each compared with KRE's
text; the order of :func:`kre_answer` is KRE's (the fields in types.go's order, the resource
name line, then the workflows).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kedro_krt.cli import main
from kedro_krt.formats.manifest_v2 import ManifestV2, kre_answer, parse_manifest_v2_lenient
from kedro_krt.formats.validate import format_report, kre_target, validate_files, validate_path
from kedro_krt.node.krt_version import KrtVersion
from tests.krt.krt_helpers import (
    CLASSIFICATOR_YML,
    GOOD_PROTO,
    GOOD_YML,
    MakeKrt,
    entries_for,
    good_files,
)

V2_YML = """\
version: price-estimator-v2
krtVersion: v2
description: Estimates prices
entrypoint:
  proto: public_input.proto
  image: konstellation/kre-entrypoint:3.3.6
config:
  variables: [OUTPUT_CURRENCY]
workflows:
  - name: estimate
    entrypoint: Predict
    exitpoint: model
    nodes:
      - name: etl
        image: konstellation/kre-py:3.4.1
        src: src/etl/main.py
        subscriptions: [entrypoint]
      - name: model
        image: konstellation/kre-py:3.4.1
        src: src/model/main.py
        subscriptions: [etl]
"""


def v2_files(text: str = V2_YML) -> dict[str, bytes]:
    files = good_files()
    files["krt.yml"] = text.encode()
    return files


def edited(change: object) -> str:
    """V2_YML with ``change(data)`` applied."""
    data = yaml.safe_load(V2_YML)
    change(data)  # type: ignore[operator]
    return yaml.safe_dump(data, sort_keys=False)


def kre_said(text: str) -> list[str]:
    return kre_answer(parse_manifest_v2_lenient(text).problems)


def node(data: dict, index: int) -> dict:
    return data["workflows"][0]["nodes"][index]


def test_a_good_v2_krt_passes(make_krt: MakeKrt) -> None:
    report = validate_path(make_krt(entries_for(v2_files())))
    assert report.problems == ()
    assert isinstance(report.checked, ManifestV2) and report.krt_version == KrtVersion.V2
    assert report.krt_version == "v2"
    assert format_report(report).endswith("is a valid KRT v2 (0 errors, 0 warnings)")


# -- KRE 8.2's own rules, one each -------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "kre"),
    [
        (
            lambda d: node(d, 1).update(subscriptions=[]),
            ['node "model" requires at least one subscription'],
        ),
        (
            lambda d: d["workflows"][0].pop("exitpoint"),
            [
                'the field "Workflows[0].Exitpoint" is required',
                'missing exitpoint in workflow "estimate"',
            ],
        ),
        (
            lambda d: d["workflows"][0].update(exitpoint="scorer"),
            ['exitpoint node "scorer" not found in workflow "estimate" nodes'],
        ),
        (
            lambda d: node(d, 1).update(name="etl"),
            [
                "node names should be unique per workflows",
                'exitpoint node "model" not found in workflow "estimate" nodes',
            ],
        ),
        (
            lambda d: node(d, 0).update(name="ETL_node"),
            [
                'invalid resource name "ETL_node" at "Workflows[0].Nodes[0].Name"',
                "the resource names must contain only lowercase alphanumeric characters or "
                "'-', e.g. my-resource-name",
            ],
        ),
        (
            lambda d: d.update(version="a-version-name-of-20c"),
            ['invalid length "a-version-name-of-20c" at "Version" must be lower than 20'],
        ),
        (
            lambda d: d["entrypoint"].update(proto="public_input.txt"),
            ['invalid value "public_input.txt" at "Entrypoint.Proto" must end with .proto'],
        ),
        (
            lambda d: d["config"].update(variables=["output-currency"]),
            [
                'invalid value "output-currency" at env var "Config.Variables[0]" must contain '
                "only capital letters, numbers, and underscores"
            ],
        ),
        (
            lambda d: node(d, 0).pop("image"),
            ['the field "Workflows[0].Nodes[0].Image" is required'],
        ),
        (
            lambda d: node(d, 1).update(objectStore={"name": "emails"}),
            [
                "Key: 'Krt.Workflows[0].Nodes[1].ObjectStore.Scope' Error:Field validation for "
                "'Scope' failed on the 'oneof' tag"
            ],
        ),
    ],
    ids=[
        "subscriptions",
        "exitpoint-missing",
        "exitpoint-unknown",
        "repeated-node",
        "resource-name",
        "name-length",
        "proto-suffix",
        "env-var",
        "required",
        "object-store-scope",
    ],
)
def test_kre_rule_in_kres_words(change: object, kre: list[str]) -> None:
    text = edited(change)
    assert kre_said(text) == kre
    problems = validate_files(v2_files(text))
    errors = [p for p in problems if p.severity == "error"]
    assert errors, "a KRE rule must be an error"
    for line in kre:
        if line.startswith("the resource names"):
            continue  # KRE's trailer, said once; the problem itself says how to fix the name
        (match,) = [p for p in errors if p.kre == line]
        assert match.message.startswith(line.rstrip())
        assert match.rule.startswith("kre.")


def test_krt_version_in_kres_words() -> None:
    # Without krtVersion, or with v1, a krt.yml is v1 for validate (KRE 8.0's reading); what
    # KRE 8.1+ answers is what the v2 checks say of it.
    assert kre_said(edited(lambda d: d.update(krtVersion="v3"))) == [
        'invalid value "v3" at krtVersion "KrtVersion"'
    ]
    assert kre_said(edited(lambda d: d.update(krtVersion="v1"))) == [
        'invalid value "v1" at krtVersion "KrtVersion"'
    ]
    # omitempty: KRE checks the rest first, and refuses the version only when it passes.
    assert kre_said(edited(lambda d: d.pop("krtVersion"))) == [
        "error krtVersion input from krt.yml not valid: "
    ]
    assert kre_said(edited(lambda d: (d.pop("krtVersion"), d.pop("description")))) == [
        'the field "Description" is required'
    ]
    errors = [p for p in validate_files(v2_files(edited(lambda d: d.update(krtVersion="v3"))))]
    assert [p.kre for p in errors if p.kre] == ['invalid value "v3" at krtVersion "KrtVersion"']


# -- a v2 krt.yml that only lacks krtVersion ---------------------------------------------------


@pytest.mark.parametrize("kre", [None, "8.0", "8.1", "8.2"])
def test_a_v2_file_without_krt_version_is_told_to_add_it_first(
    make_krt: MakeKrt, kre: str | None
) -> None:
    # Read as v1 (KRE 8.0's reading), it gave four errors and none said the fix: "The field
    # Nodes is required", "Unknown key exitpoint", "Unknown key nodes", "Sequential required".
    files = v2_files(edited(lambda d: d.pop("krtVersion")))
    report = validate_path(make_krt(entries_for(files)), kre=kre)
    (error,) = report.errors
    assert error.rule == "kre.krt-version"
    assert error.message.startswith('add "krtVersion: v2" at the top of krt.yml')
    # KRE's own line is still quoted, after the fix.
    assert error.kre == "error krtVersion input from krt.yml not valid: "
    assert "error krtVersion input from krt.yml not valid: " in error.message
    assert report.krt_version is KrtVersion.V2
    # The one key is the whole fix.
    assert validate_path(make_krt(entries_for(v2_files())), kre=kre).ok


def test_a_v2_file_without_krt_version_gets_v2s_other_problems_after_it() -> None:
    text = edited(lambda d: (d.pop("krtVersion"), d["workflows"][0].update(exitpoint="modle")))
    errors = [p for p in validate_files(v2_files(text)) if p.severity == "error"]
    assert [p.rule for p in errors] == ["kre.krt-version", "kre.exitpoint"]
    assert 'did you mean "model"?' in errors[1].message


@pytest.mark.parametrize(
    ("change", "shape"),
    [
        # Only a workflow's exitpoint, or only its nodes, is enough to tell a v2 file.
        (lambda d: d["workflows"][0].pop("nodes"), "exitpoint"),
        (lambda d: d["workflows"][0].pop("exitpoint"), "nodes"),
    ],
)
def test_either_v2_key_of_a_workflow_tells_a_v2_file(change: object, shape: str) -> None:
    def drop(d: dict) -> None:
        d.pop("krtVersion")
        change(d)  # type: ignore[operator]

    errors = [p for p in validate_files(v2_files(edited(drop))) if p.severity == "error"]
    assert errors[0].rule == "kre.krt-version", (shape, [str(p) for p in errors])


def test_a_file_in_both_shapes_without_krt_version_stays_v1() -> None:
    # A top-level nodes list is v1's: KRE 8.0 reads the file as v1, and so do the checks.
    data = yaml.safe_load(GOOD_YML)
    data["workflows"][0]["exitpoint"] = "model"
    problems = validate_files(v2_files(yaml.safe_dump(data, sort_keys=False)))
    assert [p.rule for p in problems if p.severity == "error"] == ["krt.unknown-key"]
    assert all(p.rule != "kre.krt-version" for p in problems)


def test_kre_answers_the_fields_before_the_workflows() -> None:
    data = yaml.safe_load(V2_YML)
    data["version"] = "Bad_Version"
    node(data, 1)["subscriptions"] = []
    data["workflows"][0]["exitpoint"] = "nowhere"
    assert kre_said(yaml.safe_dump(data, sort_keys=False)) == [
        'invalid resource name "Bad_Version" at "Version"',
        "the resource names must contain only lowercase alphanumeric characters or '-', "
        "e.g. my-resource-name",
        'node "model" requires at least one subscription',
        'exitpoint node "nowhere" not found in workflow "estimate" nodes',
    ]


def test_missing_src_in_kres_8_2_words() -> None:
    files = v2_files()
    del files["src/model/main.py"]
    (problem,) = [p for p in validate_files(files) if p.severity == "error"]
    assert problem.kre == 'error src file "src/model/main.py" for node "model" does not exists '
    assert problem.location == "krt.yml:20 workflows[0].nodes[1].src"


# -- ours: what KRE accepts and then never answers ---------------------------------------------


@pytest.mark.parametrize(
    ("change", "rule", "words"),
    [
        (
            lambda d: node(d, 1).update(subscriptions=["etll"]),
            "krt.subscription-unknown",
            'subscription "etll" of node "model" names no node of workflow "estimate": did you '
            'mean "etl"?',
        ),
        (
            lambda d: node(d, 1).update(subscriptions=["entrypoint.x"]),
            "krt.subscription-unknown",
            "the entrypoint publishes only to",
        ),
        (
            lambda d: node(d, 0).update(subscriptions=["nobody"]),
            "krt.entrypoint-unused",
            'no node of workflow "estimate" subscribes to "entrypoint"',
        ),
        (
            lambda d: (
                node(d, 0).update(subscriptions=["entrypoint", "model"]),
                node(d, 1).update(subscriptions=["etl"]),
            ),
            "krt.subscription-cycle",
            'the subscriptions of workflow "estimate" make a cycle: etl -> model -> etl',
        ),
        (
            lambda d: node(d, 1).update(subscriptions=["model"]),
            "krt.subscription-cycle",
            'node "model" subscribes to itself',
        ),
        (
            lambda d: (
                d["workflows"][0]["nodes"].append(
                    {
                        "name": "side",
                        "image": "i",
                        "src": "src/etl/main.py",
                        "subscriptions": ["side2"],
                    }
                ),
                d["workflows"][0]["nodes"].append(
                    {
                        "name": "side2",
                        "image": "i",
                        "src": "src/etl/main.py",
                        "subscriptions": ["side"],
                    }
                ),
            ),
            "krt.subscription-cycle",
            "side -> side2 -> side",
        ),
        (
            lambda d: (
                node(d, 1).update(subscriptions=["etl"]),
                d["workflows"][0]["nodes"].append(
                    {
                        "name": "lost",
                        "image": "i",
                        "src": "src/etl/main.py",
                        "subscriptions": ["nobody"],
                    }
                ),
                d["workflows"][0].update(exitpoint="lost"),
            ),
            "krt.exitpoint-unreachable",
            'the exitpoint "lost" of workflow "estimate" cannot be reached from "entrypoint"',
        ),
        (
            lambda d: node(d, 1).update(replicas="two"),
            "krt.replicas",
            "must be a whole number",
        ),
        (
            lambda d: node(d, 1).update(replicas=-1),
            "krt.replicas",
            "Kubernetes refuses",
        ),
        (
            lambda d: node(d, 1).update(objectStore={"name": "Emails", "scope": "workflow"}),
            "krt.object-store-name",
            "invalid object store name",
        ),
        (
            lambda d: d.update(nodes=[]),
            "krt.v1-key",
            "is a KRT v1 key, which KRE 8 ignores",
        ),
        (
            lambda d: d["workflows"][0].update(sequential=["etl"]),
            "krt.v1-key",
            "KRT v2 has no sequential list",
        ),
        (
            lambda d: node(d, 1).update(subscription=["etl"]),
            "krt.unknown-key",
            'did you mean "subscriptions"?',
        ),
    ],
    ids=[
        "unknown-node",
        "entrypoint-subtopic",
        "no-entrypoint",
        "cycle",
        "self",
        "cycle-elsewhere",
        "exitpoint-unreachable",
        "replicas-type",
        "replicas-negative",
        "object-store-name",
        "v1-nodes",
        "v1-sequential",
        "typo",
    ],
)
def test_our_rule(change: object, rule: str, words: str) -> None:
    problems = validate_files(v2_files(edited(change)))
    matching = [p for p in problems if p.rule == rule and p.severity == "error"]
    assert matching, [str(p) for p in problems]
    assert any(words in p.message for p in matching), [p.message for p in matching]
    assert all(not p.kre for p in matching), "our rules are not KRE's words"


def test_replicas_on_a_node_that_joins_is_a_warning() -> None:
    data = yaml.safe_load(V2_YML)
    node(data, 1).update(subscriptions=["entrypoint", "etl"], replicas=3)
    problems = validate_files(v2_files(yaml.safe_dump(data)))
    (warned,) = [p for p in problems if p.rule == "krt.replicas-join"]
    assert warned.severity == "warning" and "needs replicas: 1" in warned.message


def test_an_unreached_node_is_a_warning() -> None:
    data = yaml.safe_load(V2_YML)
    data["workflows"][0]["nodes"].append(
        {"name": "idle", "image": "i", "src": "src/etl/main.py", "subscriptions": ["ghost"]}
    )
    problems = validate_files(v2_files(yaml.safe_dump(data)))
    assert "krt.node-unreached" in [p.rule for p in problems if p.severity == "warning"]


# -- the target KRE version --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "target"),
    [
        (None, None),
        ("8.2", "8.2"),
        ("8.1.3", "8.1"),
        ("8", "8.0"),
        ("7.0.0", "7"),
        ("6", "7"),
        ("v8.2.0", "8.2"),
        ("9.1", "8.2"),
    ],
)
def test_kre_target(given: str | None, target: str | None) -> None:
    assert kre_target(given) == target


def test_kre_target_refuses_text() -> None:
    with pytest.raises(ValueError, match=r"e\.g\. 7, 8\.0 or 8\.2"):
        kre_target("latest")


@pytest.mark.parametrize("kre", ["8.1", "8.2"])
def test_v1_sent_to_kre_8_1_or_later_is_refused_in_kres_words(make_krt: MakeKrt, kre: str) -> None:
    report = validate_path(make_krt(), kre=kre)
    (problem,) = report.errors
    assert problem.rule == "kre.krt-v1-refused"
    # KRE 8.1+ reads the v1 krt.yml into its v2 types: no exitpoint, so these two lines.
    assert problem.kre == (
        'the field "Workflows[0].Exitpoint" is required\nmissing exitpoint in workflow "estimate"'
    )
    assert "kedro krt package --krt-version v2" in problem.message
    # The same KRT is fine for KRE 7 and 8.0.
    assert validate_path(make_krt(), kre="8.0").ok
    assert validate_path(make_krt(), kre="7").ok


def test_v2_sent_to_kre_7_is_refused(make_krt: MakeKrt) -> None:
    report = validate_path(make_krt(entries_for(v2_files())), kre="7")
    assert [p.rule for p in report.errors] == ["kre.krt-v2-unknown"]


def test_kre_8_0_ignores_replicas_and_object_stores() -> None:
    data = yaml.safe_load(V2_YML)
    node(data, 1).update(replicas=2, objectStore={"name": "emails", "scope": "project"})
    files = v2_files(yaml.safe_dump(data, sort_keys=False))
    assert [p.rule for p in validate_files(files) if p.severity == "warning"] == []
    (warned,) = [p for p in validate_files(files, kre="8.0") if p.severity == "warning"]
    assert warned.rule == "kre.v2-field-ignored"
    assert "KRE 8.0 reads no replicas nor objectStore" in warned.message


def test_v1_with_krt_version_v1_is_v1() -> None:
    text = "krtVersion: v1\n" + GOOD_YML
    assert [p for p in validate_files(v2_files(text)) if p.severity == "error"] == []


# -- KRE's own example ---------------------------------------------------------------------------


def _classificator_files() -> dict[str, bytes]:
    return {
        "krt.yml": CLASSIFICATOR_YML.encode(),
        "public_input.proto": GOOD_PROTO.replace("Predict", "Classificator").encode(),
        "src/etl/main.py": b"async def default_handler(ctx, data):\n    pass\n",
        "src/email_classificator/main.py": b"async def default_handler(ctx, data):\n    pass\n",
        "bin/repairs_handler": b"",
        "bin/stats_storer": b"",
        "bin/exitpoint": b"",
    }


def test_classificator_shape_validates(make_krt: MakeKrt) -> None:
    report = validate_path(make_krt(entries_for(_classificator_files())), kre="8.2")
    assert report.ok, format_report(report)
    assert isinstance(report.checked, ManifestV2)
    assert [p.rule for p in report.warnings] == ["krt.image-latest"] * 3


KRE_MIRROR = Path("/work/.mirror/konstellation-io+kre/repo")


@pytest.mark.skipif(not KRE_MIRROR.is_dir(), reason="no local mirror of konstellation-io/kre")
def test_kres_own_classificator_archive_validates(tmp_path: Path) -> None:
    """The real archive from KRE's repository (v8.2.0: engine/admin-api/test_assets/
    classificator-v1.krt), read from the local mirror: no copy of it is kept here."""
    krt = tmp_path / "classificator-v1.krt"
    krt.write_bytes(
        subprocess.run(
            [
                "git",
                "-C",
                str(KRE_MIRROR),
                "show",
                "v8.2.0:engine/admin-api/test_assets/classificator-v1.krt",
            ],
            check=True,
            capture_output=True,
        ).stdout
    )
    report = validate_path(krt, kre="8.2")
    assert report.ok, format_report(report)
    workflow = report.checked.workflows[0]
    assert workflow.exitpoint == "exitpoint"
    assert "email-classificator.repairs" in workflow.node("repairs-handler").subscriptions


def test_cli_validate_takes_the_target_kre(make_krt: MakeKrt) -> None:
    # `kedro-krt validate` in this process (click's CliRunner): the exit code, stdout and
    # stderr a user sees, without a process of its own.
    v1 = make_krt()
    refused = CliRunner().invoke(main, ["validate", str(v1), "--kre", "8.2"])
    assert refused.exit_code == 1
    assert 'the field "Workflows[0].Exitpoint" is required' in refused.stdout
    assert isinstance(refused.exception, SystemExit)  # an exit, not an exception of ours
    assert "Traceback" not in refused.stderr
    fine = CliRunner().invoke(
        main, ["validate", str(make_krt(entries_for(v2_files()))), "--kre", "8.2"]
    )
    assert fine.exit_code == 0, fine.stdout
    assert fine.stdout.strip().endswith("is a valid KRT v2 for KRE 8.2 (0 errors, 0 warnings)")
    wrong = CliRunner().invoke(main, ["validate", str(v1), "--kre", "latest"])
    assert wrong.exit_code == 2 and "e.g. 7, 8.0 or 8.2" in wrong.stderr


def test_kre_7_images_in_a_v2_krt_are_a_warning() -> None:
    text = V2_YML.replace("kre-entrypoint:3.3.6", "kre-entrypoint:1.8.1").replace(
        "kre-py:3.4.1", "kre-py:2.1.5"
    )
    warned = [p for p in validate_files(v2_files(text)) if p.rule == "krt.image-krt-version"]
    assert [p.location for p in warned] == [
        "krt.yml:6 entrypoint.image",
        "krt.yml:15 workflows[0].nodes[0].image",
    ]
    assert "konstellation/kre-entrypoint:3.3.6" in warned[0].message
