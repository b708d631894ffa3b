"""The one table per layer that picks what differs by KRT format: every format has its entry in
the node runtime's, the runner's and serve's table, and a manifest finds its own."""

from __future__ import annotations

import pytest

from kedro_krt.formats.manifest_base import Entrypoint
from kedro_krt.formats.manifest_v1 import Manifest, NodeSpec, WorkflowSpec
from kedro_krt.formats.manifest_v2 import parse_manifest_v2
from kedro_krt.node.krt_version import KrtVersion
from kedro_krt.node.runner.formats import RUNNERS, krt_version_from_env
from kedro_krt.node.runtime.formats import NODE_RUNTIMES
from kedro_krt.serve.formats import SERVING, serving_for
from tests.serve.serve_helpers import CLASSIFICATOR_V2


@pytest.mark.parametrize("version", list(KrtVersion))
def test_every_format_has_an_entry_in_every_table(version: KrtVersion) -> None:
    assert SERVING[version].krt_version is version
    runner = RUNNERS[version]
    assert runner.config.__name__.startswith("RunnerConfig")
    runtime = NODE_RUNTIMES[version]
    assert runtime.load().__name__ == runtime.name
    assert runtime.import_line == f"from {runtime.module} import {runtime.name}"


def test_the_runtime_modules_are_what_generated_main_py_imports() -> None:
    assert NODE_RUNTIMES[KrtVersion.V1].import_line == (
        "from kedro_krt.node.runtime.node_v1 import KrtNode"
    )
    assert NODE_RUNTIMES[KrtVersion.V2].import_line == (
        "from kedro_krt.node.runtime.node_v2 import KrtNodeV2"
    )


def test_the_pod_environment_names_the_runner_s_format() -> None:
    assert krt_version_from_env({"KRT_NATS_INPUTS": "s.entrypoint"}) is KrtVersion.V2
    assert krt_version_from_env({"KRT_NATS_INPUT": "s.a"}) is KrtVersion.V1


def test_a_manifest_finds_its_serving() -> None:
    v1 = Manifest(
        version="v",
        description="d",
        entrypoint=Entrypoint("public_input.proto", "konstellation/kre-entrypoint:1.8.1"),
        nodes=(NodeSpec("a", "konstellation/kre-py:2.1.5", "src/a/main.py"),),
        workflows=(WorkflowSpec("wf", "Rpc", ("a",)),),
    )
    assert serving_for(v1) is SERVING[KrtVersion.V1]
    v2, problems = parse_manifest_v2((CLASSIFICATOR_V2 / "krt.yml").read_text())
    assert v2 is not None, problems
    assert serving_for(v2) is SERVING[KrtVersion.V2]
