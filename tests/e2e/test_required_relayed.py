"""A required request column read only by a later KRT node is still refused when not sent.

Workflow `relay`: KRT node `a` reads `a.x`; node `b` reads `a.y` and the request table `b.rows`.
`b.rows` enters with the request at `a`, which does not read it and passes it on as bytes; the
message from `a` to `b` has no presence, so `b` alone would read a missing `n` as 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from kedro_krt.serve.client import CallError, call
from tests.compiler.compiler_helpers import write_project
from tests.e2e.e2e_helpers import ServedKrt, serve_packaged
from tests.helpers import run_cli

pytestmark = pytest.mark.slow

NODES = '''\
import pandas as pd


def first(x: pd.DataFrame) -> pd.DataFrame:
    return x.assign(v=x["v"] + 1)


def second(y: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    return rows.assign(total=rows["n"] + float(y["v"].sum()))
'''

REGISTRY = '''\
from kedro.pipeline import Pipeline, node, pipeline

from krt_relay.nodes import first, second


def register_pipelines() -> dict[str, Pipeline]:
    a = pipeline([node(first, "x", "y", name="first")], namespace="a")
    b = pipeline(
        [node(second, ["y", "rows"], "out", name="second")], namespace="b", inputs={"y": "a.y"}
    )
    return {"relay": a + b}
'''

CATALOG = """\
a.x:
  type: pandas.CSVDataset
  filepath: data/x.csv
b.rows:
  type: pandas.CSVDataset
  filepath: data/rows.csv
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedKrt]:
    root = write_project(
        tmp_path_factory.mktemp("relay") / "relay",
        package="krt_relay",
        modules={"nodes.py": NODES, "pipeline_registry.py": REGISTRY},
        catalog=CATALOG,
    )
    (root / "data").mkdir()
    (root / "data" / "x.csv").write_text("v\n1.0\n", encoding="utf-8")
    (root / "data" / "rows.csv").write_text("name,n\nq,2\nr,3\n", encoding="utf-8")
    yield from serve_packaged(root, "relay", tmp_path_factory, run_cli)


def test_the_request_reaches_the_later_node(served: ServedKrt) -> None:
    body = {"x": [{"v": 1.0}], "rows": [{"name": "q", "n": 0}, {"name": "r", "n": 3}]}
    reply = json.loads(call("Relay", json.dumps(body), served.address, timeout=30))
    assert [row["total"] for row in reply["out"]] == [2.0, 5.0]  # n = 0 is a value


def test_a_missing_required_cell_is_refused_where_it_enters(served: ServedKrt) -> None:
    body = {"x": [{"v": 1.0}], "rows": [{"name": "q", "n": 2}, {"name": "r"}]}
    with pytest.raises(CallError) as info:
        call("Relay", json.dumps(body), served.address, timeout=30)
    assert info.value.code == "INVALID_ARGUMENT", info.value.details
    assert "row 1 has no 'n'" in info.value.details
