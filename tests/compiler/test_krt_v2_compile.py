"""Compiling to KRT v2 (kedro_krt/compiler/krt_v2.py): golden files of the example, the rules.

Golden files: exactly what `kedro krt compile --pipeline inference --krt-version v2` writes and
prints for the example project (krt.yml, internal_nodes.proto, docs/README.md, the report;
public_input.proto is v1's, checked equal). Regenerate after an intended change with
`KRT_UPDATE_GOLDEN=1 pytest tests/compiler`, then read the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from kedro_krt.compiler.krt_v2 import to_v2
from kedro_krt.compiler.lock import compile_locked
from kedro_krt.compiler.project import open_project
from kedro_krt.emit.files import manifest, node_plans
from kedro_krt.formats.manifest_v2 import ManifestV2, parse_manifest_v2
from kedro_krt.node.analysis import CompileError
from kedro_krt.node.plan import NodeRuntimePlan
from tests.compiler.compiler_helpers import PANDAS_3, golden_on_this_pandas
from tests.helpers import run_cli

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
FILES = ("krt.yml", "internal_nodes.proto", "docs/README.md", "docs/examples/Inference.json")
UPDATE = os.environ.get("KRT_UPDATE_GOLDEN") == "1"
BRANCHES = Path(__file__).resolve().parents[1] / "fixtures" / "branches_project"


def _report(stdout: str) -> str:
    """The report alone, without Kedro's logging lines and the written paths around it."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("KRT version "))
    end = next(i for i, line in enumerate(lines) if re.match(r"\d+ workflow\(s\), ", line))
    return "\n".join(lines[start : end + 1]) + "\n"


@pytest.fixture(scope="module")
def compiled_v2(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compiled-v2")
    args = [
        "compile", "--pipeline", "inference", "--krt-version", "v2", "--output", str(out), "--full"
    ]
    proc = run_cli(["kedro", "krt", *args], cwd=trained_project)
    (out / "report.txt").write_text(_report(proc.stdout), encoding="utf-8")
    return out


@pytest.mark.parametrize("name", [*FILES, "report.txt"])
def test_matches_golden_v2(compiled_v2: Path, name: str) -> None:
    golden = GOLDEN / "example_v2" / name
    text = (compiled_v2 / name).read_text(encoding="utf-8")
    if UPDATE:
        assert PANDAS_3, "golden files are written on pandas 3 (see golden_on_this_pandas)"
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"{golden} is missing: run with KRT_UPDATE_GOLDEN=1"
    assert text == golden_on_this_pandas(name, golden.read_text(encoding="utf-8")), (
        f"{name} differs from {golden}; if the change is intended, rerun with KRT_UPDATE_GOLDEN=1"
    )


def test_the_public_proto_is_v1s(compiled_v2: Path) -> None:
    # The request and response (and the schema lock) do not depend on the KRT format.
    v1 = (GOLDEN / "example" / "public_input.proto").read_text(encoding="utf-8")
    assert (compiled_v2 / "public_input.proto").read_text(encoding="utf-8") == v1


def test_the_example_subscribes_as_its_dag_reads(compiled_v2: Path) -> None:
    manifest_v2, problems = parse_manifest_v2((compiled_v2 / "krt.yml").read_text())
    assert manifest_v2 is not None, problems
    (wf,) = manifest_v2.workflows
    assert {n.name: n.subscriptions for n in wf.nodes} == {
        "etl": ("entrypoint",),
        # model reads etl.features and a per-message parameter (from the request)
        "model": ("entrypoint", "etl"),
        # output reads the request rows again, and model.predictions
        "output": ("entrypoint", "model"),
        "exitpoint": ("output",),
    }
    assert wf.exitpoint == "exitpoint"


# -- the rules, on the branches fixture --------------------------------------------------------


@pytest.fixture(scope="module")
def branches_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import shutil

    dest = tmp_path_factory.mktemp("branches") / "branches"
    shutil.copytree(BRANCHES, dest, ignore=shutil.ignore_patterns("__pycache__", "dist"))
    return dest


@pytest.fixture(scope="module")
def branches_v1(branches_project: Path):  # type: ignore[no-untyped-def]
    project = open_project(branches_project, None)
    plan, _ = compile_locked(project, ["scoring"], krt_version="v1")
    return plan


def test_krt_version_from_krt_yml_and_the_flag_wins(branches_project: Path) -> None:
    project = open_project(branches_project, None)
    assert project.config.krt_version == "v2"
    plan, _ = compile_locked(project, ["scoring"])
    assert plan.krt_version == "v2"
    assert isinstance(manifest(plan), ManifestV2)
    plan, _ = compile_locked(project, ["scoring"], krt_version="v1")
    assert plan.krt_version == "v1" and "krtVersion" not in manifest(plan).to_yaml()


def test_independent_branches_subscribe_to_the_entrypoint_and_are_joined(branches_v1) -> None:  # type: ignore[no-untyped-def]
    plan = to_v2(branches_v1)
    (wf,) = plan.workflows
    nodes = {n.name: n for n in wf.nodes}
    assert [n.name for n in wf.nodes] == ["left", "right", "report", "exitpoint"]
    assert nodes["left"].subscriptions == nodes["right"].subscriptions == ("entrypoint",)
    assert nodes["report"].subscriptions == ("left", "right")
    report_inputs = {i.source: i.datasets for i in nodes["report"].inputs}
    assert report_inputs == {"left": ("left.totals",), "right": ("right.counts",)}
    # Each node's output carries what others read of it, nothing else.
    assert wf.message(nodes["left"].output_message).fields[0].original == "left.totals"
    assert [f.original for f in wf.message(nodes["left"].output_message).fields] == ["left.totals"]
    assert nodes["exitpoint"].kedro_nodes == () and nodes["exitpoint"].output_message == (
        wf.response.name
    )
    # The runtime plan of a v2 node is format 3 and names its upstreams.
    runtime = node_plans(plan)["report"]
    text = runtime.dumps()
    assert '"format": 3' in text
    assert [u.source for u in NodeRuntimePlan.loads(text).upstreams] == ["left", "right"]
    assert NodeRuntimePlan.loads(text) == runtime.__class__(**{**runtime.__dict__, "format": 3})


def test_a_v1_plan_json_keeps_no_v2_key(branches_v1) -> None:  # type: ignore[no-untyped-def]
    text = node_plans(branches_v1)["left"].dumps()
    for key in ("upstreams", "inputs", "subscriptions", "replicas"):
        assert f'"{key}"' not in text
    assert '"format": 1' in text


def test_replicas_from_the_config(branches_v1) -> None:  # type: ignore[no-untyped-def]
    plan = to_v2(branches_v1, {"scoring": {"left": 3, "exitpoint": 2}})
    data = yaml.safe_load(manifest(plan).to_yaml())
    replicas = {n["name"]: n.get("replicas", 1) for n in data["workflows"][0]["nodes"]}
    assert replicas == {"left": 3, "right": 1, "report": 1, "exitpoint": 2}


@pytest.mark.parametrize(
    ("replicas", "words"),
    [
        ({"report": 2}, "joins the messages of 2 subscriptions (left, right)"),
        ({"middle": 2}, "names 'middle', which is not one of its KRT nodes"),
        ({"left": 0}, "write a whole number of pods, 1 or more"),
    ],
)
def test_replicas_that_cannot_work_are_refused(branches_v1, replicas, words) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CompileError, match=words.replace("(", r"\(").replace(")", r"\)")):
        to_v2(branches_v1, {"scoring": replicas})


def test_two_workflows_get_exitpoints_of_their_own(tiny) -> None:  # type: ignore[no-untyped-def]
    from kedro_krt.compiler.compile import compile_project

    plan = to_v2(compile_project(tiny, ["alpha", "beta"], version="tiny"))
    exitpoints = [w.exitpoint for w in plan.workflows]
    assert exitpoints == ["exitpoint", "beta-exitpoint"]
    names = [n.name for w in plan.workflows for n in w.nodes]
    assert len(names) == len(set(names)), "src/<node>/ folders must not clash"
    parsed, problems = parse_manifest_v2(manifest(plan).to_yaml())
    assert parsed is not None, problems


@pytest.mark.parametrize(
    ("flag", "configured", "kre", "chosen"),
    [
        (None, None, "", "v1"),
        (None, None, "8.2", "v2"),
        (None, None, "8.1.3", "v2"),
        (None, None, "8.0", "v1"),
        (None, "v2", "", "v2"),
        ("v1", "v2", "8.0", "v1"),
        ("v2", None, "8.0", "v2"),
    ],
)
def test_the_krt_format_follows_the_flag_the_config_then_the_kre_deployed_to(
    flag: str | None, configured: str | None, kre: str, chosen: str
) -> None:
    from kedro_krt.compiler.krt_formats import choose_krt_version

    assert choose_krt_version(flag, configured, kre) == chosen


@pytest.mark.parametrize(
    ("flag", "configured", "kre", "words"),
    [
        ("v1", None, "8.2", "--krt-version is v1, but deploy.kre_version is 8.2"),
        (None, "v1", "8.1", "krt_version in krt.yml is v1, but deploy.kre_version is 8.1"),
        (None, "v2", "7.0.0", "KRE 7 reads only KRT v1"),
        (None, None, "latest", "deploy.kre_version in krt.yml is 'latest'"),
    ],
)
def test_a_format_the_kre_deployed_to_refuses_is_a_compile_error(
    flag: str | None, configured: str | None, kre: str, words: str
) -> None:
    from kedro_krt.compiler.krt_formats import choose_krt_version

    with pytest.raises(CompileError, match=re.escape(words)):
        choose_krt_version(flag, configured, kre)
