"""Kedro's semantics on a project shaped like Kedro's spaceflights starter.

- `preprocess_shuttles` assigns columns of its input in place, as spaceflights' does
  (`shuttles["d_check_complete"] = _is_true(...)`, `shuttles["price"] = _parse_money(...)`);
- the request table `shuttles` is read by a second node too, which needs it unchanged;
- `quote` changes the `rates` artifact (a DataFrame) and the `settings` artifact (a dict) in
  place, as a node that keeps state in an encoder would.

Kedro hands every node a copy (MemoryDataset) and loads artifacts afresh each run, so none of
this leaks. The request must be typed from the data as a caller sends it, and several requests
in a row must equal Kedro's SequentialRunner on the same inputs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kedro_krt.serve.client import call
from tests.e2e.e2e_helpers import ServedKrt, serve_packaged
from tests.helpers import run_cli

pytestmark = pytest.mark.slow

FLIGHTS = Path(__file__).resolve().parents[1] / "fixtures" / "flights_project"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of tests/fixtures/flights_project (its README says what each part shows)."""
    ignore = shutil.ignore_patterns("__pycache__", "dist", "*.krt")
    dest = tmp_path_factory.mktemp("flights") / "flights"
    return Path(shutil.copytree(FLIGHTS, dest, ignore=ignore))


@pytest.fixture(scope="module")
def served(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedKrt]:
    yield from serve_packaged(project, "flights", tmp_path_factory, run_cli)


def kedro_run(project: Path, shuttles: pd.DataFrame) -> dict[str, Any]:
    """The free outputs of `flights` by Kedro's SequentialRunner, the request in memory."""
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro.io import MemoryDataset
    from kedro.runner import SequentialRunner

    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        catalog = session.load_context().catalog
        catalog["prep.shuttles"] = MemoryDataset(shuttles)
        for name in ("price.quotes", "prep.checked"):
            catalog[name] = MemoryDataset()
        SequentialRunner().run(pipelines["flights"], catalog)
        return {n: catalog.load(n) for n in ("price.quotes", "prep.checked")}


def request(rows: list[tuple[int, str, str]]) -> dict[str, Any]:
    return {"shuttles": [{"id": i, "d_check_complete": c, "price": p} for i, c, p in rows]}


def test_the_request_is_typed_from_the_data_as_callers_send_it(
    project: Path, tmp_path: Path
) -> None:
    run_cli(["kedro", "krt", "compile", "-p", "flights", "-o", str(tmp_path)], cwd=project)
    proto = (tmp_path / "public_input.proto").read_text()
    row = proto[proto.index("message FlightsRequest {") :].split("}", 1)[0]
    assert "optional string d_check_complete = 2;" in row, row
    assert "optional string price = 3;" in row, row


def test_replies_equal_kedro_for_several_requests_in_a_row(
    served: ServedKrt, project: Path
) -> None:
    bodies = [
        request([(1, "t", "$1,325.0"), (2, "f", "$990.5")]),
        request([(1, "t", "$1,325.0"), (2, "f", "$990.5")]),
        request([(3, "t", "$10.0"), (4, "t", "$2,000.0"), (5, "f", "$1.0")]),
    ]
    for body in bodies:
        reply = json.loads(call("Flights", json.dumps(body), served.address, timeout=30))
        sent = pd.DataFrame(body["shuttles"])
        expected = kedro_run(project, sent)
        quotes = expected["price.quotes"]
        assert [q["quote"] for q in reply["quotes"]] == [float(v) for v in quotes["quote"]]
        assert [q.get("checked", False) for q in reply["quotes"]] == list(quotes["checked"])
        assert reply["checked"] == [{"checked": str(int(expected["prep.checked"]["checked"][0]))}]


def test_the_report_says_which_shared_values_are_copied_and_why(project: Path) -> None:
    report = run_cli(["kedro", "krt", "compile", "-p", "flights", "--full"], cwd=project).stdout
    lines = report[report.index("  Copies") :].splitlines()[1:3]
    assert "rates" in lines[0] and "a copy per reader" in lines[0]
    assert "node 'price.quote' changes it in place (trial run)" in lines[0]
    assert "settings" in lines[1] and "a deep copy per reader" in lines[1]


def test_copy_mode_in_krt_yml_wins_and_is_checked(project: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(project, tmp_path / "flights")
    (copy / "conf" / "base" / "krt.yml").write_text("copy_mode:\n  rates: assign\n")
    report = run_cli(["kedro", "krt", "compile", "-p", "flights", "--full"], cwd=copy).stdout
    assert any(
        line.split()[:3] == ["rates", "by", "reference"] and "copy_mode in krt.yml" in line
        for line in report.splitlines()
    )
    (copy / "conf" / "base" / "krt.yml").write_text("copy_mode:\n  rates: clone\n")
    proc = run_cli(["kedro", "krt", "compile", "-p", "flights"], cwd=copy, check=False)
    assert proc.returncode == 1
    assert "copy_mode of 'rates' in krt.yml is 'clone': write one of assign, copy, deepcopy" in (
        proc.stderr
    )
