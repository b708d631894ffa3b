"""Serving a KRT v2 in-process: the hand-written classificator of tests/fixtures, over real gRPC.

The fixture is shaped like KRE's classificator example (konstellation-io/kre @ v8.2.0:
``engine/admin-api/test_assets/classificator-v1.krt``): branches, a ``node.subtopic``
subscription, an exitpoint with a handler per origin, and a Go node (``stats-storer``) that the
server leaves out. Routing and answers as KRE 8 does them: kre-py 3.4.1 (``src/main.py``,
``handlers.py``, ``context.py``) and kre-entrypoint 3.3.6 (``src/kre_entrypoint.py``).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from kedro_krt.cli import main
from kedro_krt.formats.manifest_v2 import parse_manifest_v2
from kedro_krt.serve.errors import ServeError
from kedro_krt.serve.serving_v2 import python_workflows as python_workflows_v2
from tests.serve.serve_helpers import (
    CLASSIFICATOR_V2,
    ServerProcess,
    build_classificator_v2,
    check_classificator_answers,
    pack_krt,
)


@pytest.fixture(scope="module")
def classificator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = build_classificator_v2(tmp_path_factory.mktemp("v2") / "classificator")
    return pack_krt(folder, folder.parent / "classificator-v2.krt")


# -- which nodes run here ------------------------------------------------------------------------


def test_the_go_node_is_left_out_and_its_subscribers_are_named() -> None:
    text = (CLASSIFICATOR_V2 / "krt.yml").read_text()
    manifest, problems = parse_manifest_v2(text)
    assert manifest is not None, problems
    served, warnings = python_workflows_v2(manifest)
    (workflow,) = served.workflows
    assert [n.name for n in workflow.nodes] == [
        "etl", "email-classificator", "repairs-handler", "exitpoint"
    ]
    (warning,) = warnings
    assert "node 'stats-storer' (bin/stats_storer, konstellation/kre-go:3.4.0) is left out" in (
        warning
    )
    assert "'exitpoint' never receive(s) its messages here" in warning


def test_a_workflow_whose_exitpoint_is_not_python_is_not_served() -> None:
    text = (CLASSIFICATOR_V2 / "krt.yml").read_text()
    text = text.replace("src: src/exitpoint/main.py", "src: bin/exitpoint")
    manifest, problems = parse_manifest_v2(text)
    assert manifest is not None, problems
    with pytest.raises(ServeError, match="its exitpoint 'exitpoint' is not Python"):
        python_workflows_v2(manifest)


def test_the_fixture_is_a_valid_krt_v2(classificator: Path) -> None:
    """`kedro-krt validate`: KRE 8.2's v2 rules and ours, and KRE's two-pass archive reading;
    no warning either (its only node with replicas has one subscription)."""
    out = CliRunner().invoke(main, ["validate", str(classificator)])
    assert out.exit_code == 0, out.output
    assert "valid KRT v2 (0 errors, 0 warnings)" in out.stdout, out.stdout


# -- served, over gRPC -----------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.slow
def test_served_in_process(classificator: Path, tmp_path: Path) -> None:
    server = ServerProcess(classificator, tmp_path, web=True)
    try:
        server.wait_status("SERVING", timeout=60)
        check_classificator_answers(server.address)
        info = json.loads(
            urllib.request.urlopen(f"http://127.0.0.1:{server.web_port}/info", timeout=5).read()
        )
        (workflow,) = info["workflows"]
        assert workflow["exitpoint"] == "exitpoint"
        assert workflow["nodes"] == ["etl", "email-classificator", "repairs-handler", "exitpoint"]
        assert workflow["subscriptions"]["repairs-handler"] == ["email-classificator.repairs"]
        # repairs-handler ran on the `email-classificator.repairs` subtopic: its stores
        saved = (server.state / "db" / "repair_emails.jsonl").read_text()
        assert json.loads(saved.splitlines()[0])["ticket"] == "R-5c168998"
        store = server.state / "objectstore" / "local_classificator-v2_classificator_repairs"
        assert (store / "R-5c168998").read_text() == "the heater is broken, please repair it"
        assert "node 'stats-storer'" in server.stderr and "is left out" in server.stderr
    finally:
        server.kill()
