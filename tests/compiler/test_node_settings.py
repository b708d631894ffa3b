"""KRE's settings of a KRT node's pods from conf/<env>/krt.yml: `gpu`, `replicas`, `object_store`.

KRE 8.2 reads them per node of a KRT v2 (konstellation-io/kre @ v8.2.0: admin-api
krt/types.go; k8s-manager manager_node.go asks one `nvidia.com/gpu` for a `gpu` node and makes
`replicas` pods; nats-manager makes the object store). KRE 7 reads only `gpu`, on a v1 node
(kre-7.0.0: krt/types.go, manager_node.go). The golden krt.yml is what `package` writes for
tests/fixtures/branches_project with every setting; regenerate it after an intended change
with `KRT_UPDATE_GOLDEN=1 pytest tests/compiler/test_node_settings.py`, then read the diff.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from kedro_krt.compiler.config import ConfigError, parse_config
from kedro_krt.compiler.lock import compile_locked
from kedro_krt.compiler.project import open_project
from kedro_krt.emit.files import manifest
from kedro_krt.formats.manifest_v1 import Manifest
from kedro_krt.formats.manifest_v2 import ManifestV2, ObjectStore
from kedro_krt.formats.validate import format_report, validate_path
from kedro_krt.node.analysis import CompileError
from kedro_krt.package import package
from tests.helpers import kre_upload_errors

BRANCHES = Path(__file__).resolve().parents[1] / "fixtures" / "branches_project"
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "branches_v2_settings" / "krt.yml"
UPDATE = os.environ.get("KRT_UPDATE_GOLDEN") == "1"

#: Every setting, on the branches workflow (left, right -> report -> exitpoint).
SETTINGS: dict[str, Any] = {
    "gpu": ["left"],
    "replicas": {"right": 2, "exitpoint": 3},
    "object_store": {
        "report": {"name": "reports", "scope": "project"},
        "exitpoint": {"name": "answers"},
    },
}


def _project(tmp_path: Path, krt_version: str = "v2", **workflow: Any) -> Path:
    """A copy of the branches project whose workflow has ``workflow``'s keys."""
    dest = tmp_path / f"branches-{krt_version}"
    shutil.copytree(BRANCHES, dest, ignore=shutil.ignore_patterns("__pycache__", "dist"))
    conf = dest / "conf" / "base" / "krt.yml"
    data = yaml.safe_load(conf.read_text(encoding="utf-8"))
    data["krt_version"] = krt_version
    data["workflows"][0].update(workflow)
    conf.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return dest


def _compile(project_dir: Path):  # type: ignore[no-untyped-def]
    plan, _ = compile_locked(open_project(project_dir, None), ["scoring"])
    return plan


@pytest.fixture(scope="module")
def settings_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _project(tmp_path_factory.mktemp("settings"), **SETTINGS)


@pytest.fixture(scope="module")
def settings_plan(settings_project: Path):  # type: ignore[no-untyped-def]
    """The branches project with every setting, compiled once (from its krt.yml)."""
    return _compile(settings_project)


@pytest.fixture(scope="module")
def branches_v1(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The branches workflow compiled and numbered, before a format's last step."""
    project = open_project(_project(tmp_path_factory.mktemp("plain"), "v1"), None)
    plan, _ = compile_locked(project, ["scoring"])
    return plan


def _finish(plan, krt_version: str, **workflow: Any):  # type: ignore[no-untyped-def]
    """The format's last step with the settings that krt.yml's workflow ``workflow`` gives."""
    from kedro_krt.compiler.krt_formats import COMPILE_FORMATS
    from kedro_krt.compiler.lock import node_settings
    from kedro_krt.node.krt_version import KrtVersion

    config = parse_config({"workflows": [{"name": "scoring", **workflow}]})
    return COMPILE_FORMATS[KrtVersion.parse(krt_version)].finish(plan, node_settings(config))


def test_the_v2_krt_yml_matches_golden(settings_plan) -> None:  # type: ignore[no-untyped-def]
    text = manifest(settings_plan).to_yaml()
    if UPDATE:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8"), (
        f"krt.yml differs from {GOLDEN}; if intended, rerun with KRT_UPDATE_GOLDEN=1"
    )


def test_each_node_gets_its_settings(settings_plan) -> None:  # type: ignore[no-untyped-def]
    written = manifest(settings_plan)
    assert isinstance(written, ManifestV2)
    nodes = {n.name: n for n in written.workflows[0].nodes}
    assert {n: (x.gpu, x.replicas, x.object_store) for n, x in nodes.items()} == {
        "left": (True, 1, None),
        "right": (False, 2, None),
        "report": (False, 1, ObjectStore("reports", "project")),
        # KRE 8.2 refuses an object store without a scope: the default is written out.
        "exitpoint": (False, 3, ObjectStore("answers", "workflow")),
    }


def test_the_report_shows_the_settings(settings_plan) -> None:  # type: ignore[no-untyped-def]
    from kedro_krt.compiler.report import render_report

    report = render_report(settings_plan)
    block = report.split("  Node settings:\n", 1)[1].split("  Datasets:", 1)[0].splitlines()
    assert [line.split() for line in block] == [
        ["node", "replicas", "gpu", "object", "store"],
        ["left", "1", "yes", "-"],
        ["right", "2", "-", "-"],
        ["report", "1", "-", "reports", "(project)"],
        ["exitpoint", "3", "-", "answers", "(workflow)"],
    ]


def test_kre_8_2s_upload_accepts_the_packaged_settings(
    settings_project: Path,
    settings_plan,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    """The .krt as `package` writes it: KRE's two extraction passes and src check (replayed,
    tests.helpers.kre_upload_errors) and KRE 8.2's checks of the manifest (validate --kre)."""
    krt = package(open_project(settings_project, None), settings_plan, tmp_path).path
    assert kre_upload_errors(krt, with_srcs=True, kre="8.2") == []
    report = validate_path(krt, kre="8.2")
    assert report.ok and not report.warnings, format_report(report)
    # KRE 8.0 reads v2 but not replicas nor objectStore: said, node by node.
    ignored = [p.rule for p in validate_path(krt, kre="8.0").warnings]
    assert ignored == ["kre.v2-field-ignored"] * 3


def test_gpu_is_written_in_a_v1_version_too(branches_v1) -> None:  # type: ignore[no-untyped-def]
    # KRE 7 reads `gpu` on a v1 node and asks Kubernetes for one nvidia.com/gpu.
    written = manifest(_finish(branches_v1, "v1", gpu=["report"]))
    assert isinstance(written, Manifest)
    assert {n.name: n.gpu for n in written.nodes} == {"left": False, "right": False, "report": True}
    assert "gpu: true" in written.to_yaml()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("replicas", {"left": 2}),
        ("object_store", {"report": {"name": "reports"}}),
    ],
)
def test_a_v2_only_setting_in_a_v1_version_is_refused(
    branches_v1,  # type: ignore[no-untyped-def]
    key: str,
    value: dict[str, Any],
) -> None:
    with pytest.raises(CompileError) as raised:
        _finish(branches_v1, "v1", **{key: value})
    said = str(raised.value)
    assert f"`{key}:` of workflow 'scoring'" in said and "needs `krt_version: v2`" in said


@pytest.mark.parametrize("key", ["replicas", "gpu", "object_store"])
def test_an_unknown_node_name_is_refused_with_the_closest_one(branches_v1, key: str) -> None:  # type: ignore[no-untyped-def]
    value: Any = {
        "replicas": {"rigth": 2},
        "gpu": ["rigth"],
        "object_store": {"rigth": {"name": "s"}},
    }[key]
    with pytest.raises(CompileError) as raised:
        _finish(branches_v1, "v2", **{key: value})
    said = str(raised.value)
    assert f"`{key}:` of workflow 'scoring' in krt.yml names 'rigth'" in said
    assert "did you mean 'right'?" in said
    assert "left, right, report, exitpoint" in said


@pytest.mark.parametrize(
    ("workflow", "words"),
    [
        (
            {"replicas": {"left": 0}},
            "'workflows[0].replicas.left' is 0: write a whole number of "
            "pods, 1 or more (KRE reads 0 as 1",
        ),
        ({"replicas": {"left": -2}}, "'workflows[0].replicas.left' is -2"),
        ({"replicas": {"left": 2**31}}, f"'workflows[0].replicas.left' is {2**31}"),
        ({"gpu": {"left": True}}, "'workflows[0].gpu' must be a list"),
        (
            {"object_store": {"left": {"name": "My_Store"}}},
            "'workflows[0].object_store.left.name' is 'My_Store', which KRE's nats-manager refuses",
        ),
        (
            {"object_store": {"left": {"name": "s", "scope": "node"}}},
            "'workflows[0].object_store.left.scope' is 'node'; expected one of workflow, project",
        ),
        (
            {"object_store": {"left": {"scope": "project"}}},
            "'workflows[0].object_store.left.name' is required",
        ),
        (
            {"object_store": {"left": {"name": "s", "bucket": "b"}}},
            "unknown key 'bucket' at workflows[0].object_store.left",
        ),
    ],
)
def test_values_kre_refuses_are_config_errors(workflow: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({"workflows": [{"name": "scoring", **workflow}]})
    assert words in str(raised.value)
