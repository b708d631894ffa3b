"""Issue 14's acceptance: a Kedro DAG compiled as KRT v2, served as KRE 8 runs it.

- The example compiled with ``--krt-version v2`` answers exactly as its v1 build (the same reply
  bytes), in-process and with ``--nats`` (a real nats-server, one runner process per node, KRE
  8.2's subjects; the v2 topology is kedro_krt.serve's).
- tests/fixtures/branches_project (two namespaces that both read the request, joined by a third)
  runs its two branches at the same time under ``--nats``, and in-process: each node function
  appends when it ran to the file ``KRT_BRANCH_TIMES`` names, and the two branches' intervals
  overlap. Its replies equal Kedro's own run (``SequentialRunner``, in a process of its own, on
  the same rows).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from google.protobuf import json_format

from kedro_krt.formats.manifest_v2 import ManifestV2
from tests.e2e.e2e_helpers import ReflectedRpc, ServedKrt, as_parsed, request_json
from tests.helpers import run_cli

pytestmark = pytest.mark.slow

BRANCHES = Path(__file__).resolve().parents[1] / "fixtures" / "branches_project"
MODES = ("in-process", "nats")


def _serve(krt: Path, work: Path, mode: str, env: dict[str, str] | None = None) -> ServedKrt:
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        server = ServedKrt(krt, work, *(("--nats",) if mode == "nats" else ()))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return server


# -- the example: v2 answers as v1 ---------------------------------------------------------------


@pytest.fixture(scope="module", params=MODES)
def example_pair(
    request: pytest.FixtureRequest,
    example_krt: Path,
    example_krt_v2: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ReflectedRpc, ReflectedRpc]]:
    mode = str(request.param)
    work = tmp_path_factory.mktemp(f"v1-v2-{mode}")
    servers = [_serve(example_krt, work / "v1", mode), _serve(example_krt_v2, work / "v2", mode)]
    rpcs: list[ReflectedRpc] = []
    try:
        for server in servers:
            server.wait_serving(timeout=120)
            rpcs.append(ReflectedRpc(server.address, "Inference"))
        yield rpcs[0], rpcs[1]
    finally:
        for rpc in rpcs:
            rpc.close()
        for server in servers:
            server.stop()


def test_the_example_as_v2_answers_exactly_as_v1(
    example_pair: tuple[ReflectedRpc, ReflectedRpc], trained_project: Path
) -> None:
    v1, v2 = example_pair
    sample = as_parsed(pd.read_csv(trained_project / "data" / "01_raw" / "sample_shuttles.csv"))
    bodies = [
        request_json(sample),
        request_json(sample.head(1)),
        request_json(sample, {"output": {"markup": 0.3, "currency": "EUR"}}),
        request_json(sample, {"model": {"clip_negative": False}}),
        json.loads((trained_project / "requests" / "inference.json").read_text()),
    ]
    for body in bodies:
        data = json_format.ParseDict(body, v1.request_cls()).SerializeToString()
        assert v2.call_bytes(data) == v1.call_bytes(data), body


# -- two branches joined at the end ---------------------------------------------------------------


@pytest.fixture(scope="module")
def branches(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A copy of the branches project and its .krt (krt_version: v2 in its krt.yml)."""
    ignore = shutil.ignore_patterns("__pycache__", "dist", "*.krt")
    project = Path(
        shutil.copytree(BRANCHES, tmp_path_factory.mktemp("branches") / "branches", ignore=ignore)
    )
    out = tmp_path_factory.mktemp("branches-dist")
    run_cli(["kedro", "krt", "package", "--pipeline", "scoring", "--output", str(out)], cwd=project)
    (krt,) = out.glob("*.krt")
    return project, krt


def kedro_run(project: Path, orders: pd.DataFrame) -> list[dict[str, Any]]:
    """`report.summary` by Kedro's SequentialRunner on ``orders``, in a process of its own."""
    script = """
import json, sys
import pandas as pd
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import MemoryDataset
from kedro.runner import SequentialRunner

project = sys.argv[1]
bootstrap_project(project)
with KedroSession.create(project_path=project) as session:
    catalog = session.load_context().catalog
    catalog["orders"] = MemoryDataset(pd.read_json(sys.stdin), copy_mode="assign")
    catalog["report.summary"] = MemoryDataset(copy_mode="assign")
    SequentialRunner().run(pipelines["scoring"], catalog)
    summary = catalog.load("report.summary")
    print(json.dumps(summary.to_dict("records"), default=int))  # exact floats, numpy ints
"""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "PYTHONWARNINGS": "ignore"}
    env.pop("KRT_BRANCH_TIMES", None)
    proc = subprocess.run(
        [sys.executable, "-c", script, str(project)],
        input=orders.to_json(orient="records"),
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    records: list[dict[str, Any]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return records


def test_the_branches_compile_to_subscriptions(branches: tuple[Path, Path]) -> None:
    from kedro_krt.formats.validate import validate_path

    report = validate_path(branches[1], kre="8.2")
    assert report.ok and isinstance(report.checked, ManifestV2)
    (workflow,) = report.checked.workflows
    subscriptions = {n.name: n.subscriptions for n in workflow.nodes}
    assert subscriptions == {
        "left": ("entrypoint",),
        "right": ("entrypoint",),
        "report": ("left", "right"),
        "exitpoint": ("report",),
    }
    assert workflow.exitpoint == "exitpoint"


@pytest.mark.parametrize("mode", MODES)
def test_branches_run_at_the_same_time_and_answer_as_kedro(
    branches: tuple[Path, Path], tmp_path: Path, mode: str
) -> None:
    project, krt = branches
    times = tmp_path / "times.jsonl"
    server = _serve(krt, tmp_path / "serve", mode, {"KRT_BRANCH_TIMES": str(times)})
    try:
        server.wait_serving(timeout=120)
        rpc = ReflectedRpc(server.address, "Score")
        orders = pd.DataFrame(
            {
                "order_id": [1, 2, 3, 4, 5, 6],
                "region": ["north", "south", "north", "east", "south", "north"],
                "amount": [10.5, 3.0, 4.5, 12.0, 7.25, 1.0],
            }
        )
        times.unlink(missing_ok=True)  # only the request's own runs
        reply = rpc.call({"orders": orders.to_dict("records")})
        rpc.close()
    finally:
        server.stop()

    served = [
        {"region": r.region, "total": r.total, "orders": r.orders, "mean": r.mean}  # type: ignore[attr-defined]
        for r in reply.summary  # type: ignore[attr-defined]
    ]
    assert served == kedro_run(project, orders)

    runs = {line["node"]: line for line in map(json.loads, times.read_text().splitlines())}
    assert set(runs) == {"left", "right", "report"}, runs
    left, right, report = runs["left"], runs["right"], runs["report"]
    # Each branch sleeps 0.4 s; one after the other, they could not overlap.
    assert left["start"] < right["end"] and right["start"] < left["end"], runs
    overlap = min(left["end"], right["end"]) - max(left["start"], right["start"])
    assert overlap > 0.2, f"the branches overlapped {overlap:.3f} s only: {runs}"
    assert report["start"] >= max(left["end"], right["end"]), "the join ran before a branch ended"
    if mode == "nats":
        assert left["pid"] != right["pid"], "under --nats each node is a process of its own"
