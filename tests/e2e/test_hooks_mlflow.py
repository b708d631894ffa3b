"""A real Kedro plugin in a served KRT: kedro-mlflow 2.0.3 (issue 23's "a project with a real
plugin").

A virtualenv with kedro-krt (this checkout, editable) and kedro-mlflow, kept between runs under
``.venv-stock/`` (:func:`tests.e2e.kre_py_envs.cached_venv`; a cold install takes minutes). A test
copy of the trained example registers the recording hook of test_hooks_served.py, gets
``kedro mlflow init``'s conf/local/mlflow.yml with the tracking URI in the test's folder, runs
``kedro run --pipelines inference`` (the reference hook log, and one finished MLflow run with
the parameters), then is packaged with three workflows of the same pipeline: the default hooks
(kedro-mlflow left out), kedro-mlflow kept, and no hooks; all served in-process by that
virtualenv's ``kedro-krt serve`` and called with the same rows.

What kedro-mlflow does in a node (why it is left out by default, see OFF_IN_NODES): its run is
started by ``before_pipeline_run``, which a node never calls; ``before_node_run`` then logs the
node's parameters with ``mlflow.log_param``, which starts a run of its own (one per engine thread)
that never ends, and MLflow refuses a later request that overrides a parameter with another
value.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pandas as pd
import pytest
import yaml

from tests.e2e.e2e_helpers import ReflectedRpc, ServedKrt, as_parsed, request_json
from tests.e2e.kre_py_envs import cached_venv
from tests.e2e.test_hooks_served import _node_entries, _read, _wait_for, hooked_copy
from tests.helpers import REPO, run_cli

#: Its own tier: the virtualenv takes 2 minutes or more to install cold, more than `make test`'s
#: budget allows; `make test-plugins` runs it, and CI runs that after `make test`.
pytestmark = [pytest.mark.e2e, pytest.mark.plugins]

#: kedro-mlflow and the MLflow it was checked with (kedro-mlflow 2.0.3 asks for mlflow>=3).
PLUGIN = "kedro-mlflow==2.0.3\nmlflow==3.18.0\n"
#: The parameters the inference pipeline's nodes read, as kedro-mlflow logs them.
PARAMS = {
    "model.clip_negative": "True",
    "output.markup": "0.1",
    "output.currency": "EUR",
    "price_bands": "{'budget': 4500.0, 'premium': 7500.0}",
}
#: krt.yml's workflows, all of the inference pipeline: (name, rpc, hooks).
WORKFLOWS = (
    ("inference", "Inference", None),  # the default: kedro-mlflow left out
    ("inference-mlflow", "InferenceMlflow", {"keep": ["RecordingHooks", "kedro-mlflow"]}),
    ("inference-no-hooks", "InferenceNoHooks", {"enabled": False}),
)


@pytest.fixture(scope="module")
def plugin_bin() -> Path:
    """The scripts folder of the virtualenv with kedro-krt and kedro-mlflow."""
    # pyproject.toml's hash in a comment: a change of kedro-krt's requirements makes a new one.
    pyproject = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()[:16]
    requirements = f"# kedro-krt pyproject.toml {pyproject}\n-e {REPO}\n{PLUGIN}"
    return cached_venv("kedro-mlflow", requirements, hashes=False).parent


def _runs(db: Path) -> dict[str, dict[str, Any]]:
    """The MLflow runs of the tracking store ``db``: {run id: name, status, params}."""
    with sqlite3.connect(db) as con:
        runs = {
            run_id: {"name": name, "status": status, "params": {}}
            for run_id, name, status in con.execute("SELECT run_uuid, name, status FROM runs")
        }
        for run_id, key, value in con.execute("SELECT run_uuid, key, value FROM params"):
            runs[run_id]["params"][key] = value
    return runs


@pytest.fixture(scope="module")
def mlflow_project(
    plugin_bin: Path, trained_project: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The copy with kedro-mlflow's conf, its `kedro run` log and runs, and its .krt."""
    work = tmp_path_factory.mktemp("mlflow")
    project = hooked_copy(trained_project, work / "project", "RecordingHooks")
    run_cli(["kedro", "mlflow", "init"], cwd=project, bin_dir=plugin_bin)
    conf = project / "conf" / "local" / "mlflow.yml"
    # MLflow 3's file store ("mlruns", kedro-mlflow's default) refuses to start: a SQLite file.
    run_db = work / "kedro-run.db"
    text = conf.read_text(encoding="utf-8")
    assert "  mlflow_tracking_uri: null" in text
    conf.write_text(
        text.replace("  mlflow_tracking_uri: null", f"  mlflow_tracking_uri: sqlite:///{run_db}"),
        encoding="utf-8",
    )
    reference = work / "kedro-run.jsonl"
    run_cli(
        ["kedro", "run", "--pipelines", "inference"], cwd=project, bin_dir=plugin_bin,
        env={"KRT_HOOK_LOG": str(reference)},
    )
    krt_yml = project / "conf" / "base" / "krt.yml"
    config = yaml.safe_load(krt_yml.read_text(encoding="utf-8"))
    (base,) = config["workflows"]
    config["workflows"] = []
    for name, rpc, hooks in WORKFLOWS:
        config["workflows"].append(
            {**base, "name": name, "rpc": rpc, **({"hooks": hooks} if hooks else {})}
        )
    krt_yml.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    out = work / "dist"
    # Compiling starts the project in env base with every hook, and conf/local is not read
    # there: kedro-mlflow needs a tracking store from the environment.
    run_cli(
        ["kedro", "krt", "package", "--output", str(out)], cwd=project, bin_dir=plugin_bin,
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{work / 'compile.db'}"},
    )
    (krt,) = out.glob("*.krt")
    sample = as_parsed(pd.read_csv(project / "data" / "01_raw" / "sample_shuttles.csv"))
    return {
        "work": work, "reference": _read(reference), "runs": _runs(run_db), "krt": krt,
        "sample": sample,
    }


@pytest.fixture(scope="module")
def served(plugin_bin: Path, mlflow_project: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The .krt served in-process by the plugin's virtualenv; MLflow's store in the test's
    folder (as a version's config variable MLFLOW_TRACKING_URI would set it on KRE)."""
    work = mlflow_project["work"] / "serve"
    log = work / "hooks.jsonl"
    db = work / "served.db"
    server = ServedKrt(
        mlflow_project["krt"], work, bin_dir=plugin_bin,
        env={"KRT_HOOK_LOG": str(log), "MLFLOW_TRACKING_URI": f"sqlite:///{db}"},
    )
    try:
        yield {"log": log, "db": db, "server": server.wait_serving(timeout=120)}
    finally:
        server.stop()


def _call(
    served: dict[str, Any], rpc_name: str, rows: pd.DataFrame, entries: int, times: int = 3
) -> list[list[list[Any]]]:
    """The node entries of the hook log for each of ``times`` calls of ``rpc_name`` (waiting
    for ``entries`` lines each: the last hooks may run after the answer)."""
    log = served["log"]
    rpc = ReflectedRpc(served["server"].address, rpc_name)
    logs = []
    try:
        for _ in range(times):
            before = len(_read(log))
            reply = rpc.call(request_json(rows))
            assert len(reply.quotes) == len(rows)  # type: ignore[attr-defined]
            logs.append(_node_entries(_wait_for(log, before + entries)[before:]))
    finally:
        rpc.close()
    return logs


def _override(served: dict[str, Any], rpc_name: str, rows: pd.DataFrame, markup: float) -> Any:
    """The reply to a request that overrides output.markup, or its grpc.RpcError."""
    rpc = ReflectedRpc(served["server"].address, rpc_name)
    try:
        return rpc.call(request_json(rows, {"output": {"markup": markup}}))
    except grpc.RpcError as error:
        return error
    finally:
        rpc.close()


def test_kedro_run_logs_to_mlflow(mlflow_project: dict[str, Any]) -> None:
    """The reference: kedro-mlflow is active under `kedro run` (one run, the parameters)."""
    (run,) = mlflow_project["runs"].values()
    assert run["status"] == "FINISHED"
    assert run["name"] == "inference"  # kedro-mlflow names it after the pipeline
    assert run["params"] == PARAMS
    assert [e[0] for e in _node_entries(mlflow_project["reference"])].count("before_node_run") == 3


def test_default_leaves_mlflow_out_same_hook_log(
    served: dict[str, Any], mlflow_project: dict[str, Any]
) -> None:
    expected = _node_entries(mlflow_project["reference"])
    for got in _call(served, "Inference", mlflow_project["sample"], len(expected)):
        assert got == expected
    # A parameter overridden per request, twice with different values: both answered.
    prices = []
    for markup in (0.2, 0.3):
        reply = _override(served, "Inference", mlflow_project["sample"], markup)
        assert not isinstance(reply, grpc.RpcError), reply
        prices.append(reply.quotes[0].price)
    assert prices[1] > prices[0]


def test_kept_mlflow_same_hook_log_but_own_runs(
    served: dict[str, Any], mlflow_project: dict[str, Any]
) -> None:
    before = set(_runs(served["db"]))
    expected = _node_entries(mlflow_project["reference"])
    for got in _call(served, "InferenceMlflow", mlflow_project["sample"], len(expected)):
        assert got == expected
    # No pipeline hook, so no run of kedro-mlflow's: mlflow.log_param started one of its own
    # per engine thread (MLflow's active run is per thread; a KRT v1 workflow's nodes share
    # one), with a random name, never ended, logged again on every message.
    runs = {k: v for k, v in _runs(served["db"]).items() if k not in before}
    assert sorted(sorted(run["params"]) for run in runs.values()) == [
        ["model.clip_negative", "output.currency", "output.markup", "price_bands"],
    ]
    for run in runs.values():
        assert run["status"] == "RUNNING" and run["name"] != "inference"
        assert run["params"] == {k: PARAMS[k] for k in run["params"]}
    # The same value as logged passes; another one is refused by MLflow: the node fails.
    reply = _override(served, "InferenceMlflow", mlflow_project["sample"], 0.1)
    assert not isinstance(reply, grpc.RpcError), reply
    error = _override(served, "InferenceMlflow", mlflow_project["sample"], 0.3)
    assert isinstance(error, grpc.RpcError)
    assert error.code() == grpc.StatusCode.INTERNAL
    assert re.match(r"error in '[a-z-]*output': ", str(error.details())), error.details()
    assert "Changing param values is not allowed" in str(error.details())


def test_no_hooks_no_log(served: dict[str, Any], mlflow_project: dict[str, Any]) -> None:
    """The comparison sees hooks: with none run, the log differs from `kedro run`'s."""
    assert _call(served, "InferenceNoHooks", mlflow_project["sample"], 0, times=1) == [[]]
    assert _node_entries(mlflow_project["reference"]) != []

