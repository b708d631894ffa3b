"""A table in the columns layout, served over real gRPC: `layout:` in krt.yml, end to end.

Workflow `cols`: KRT node `a` reads the request table `a.x` and makes `a.y`, carried to node `b`,
which returns `b.out`; all three are `columns` in krt.yml. The request is proto3 JSON as a
client sends it (one list per column, int64 as strings, `name_valid` for the null names).
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
    return x.assign(total=x["price"] * x["n"])


def second(y: pd.DataFrame) -> pd.DataFrame:
    return y.assign(day=y["at"].dt.strftime("%Y-%m-%d"), named=y["name"].notna())
'''

REGISTRY = '''\
from kedro.pipeline import Pipeline, node, pipeline

from krt_cols.nodes import first, second


def register_pipelines() -> dict[str, Pipeline]:
    a = pipeline([node(first, "x", "y", name="first")], namespace="a")
    b = pipeline([node(second, "y", "out", name="second")], namespace="b", inputs={"y": "a.y"})
    return {"cols": a + b}
'''

CATALOG = """\
a.x:
  type: pandas.CSVDataset
  filepath: data/x.csv
  load_args:
    parse_dates: [at]
"""

KRT_YML = """\
workflows:
  - name: cols
    pipeline: cols
schemas:
  a.x: {table: {name: string?, price: double, n: int64, at: timestamp}}
layout:
  a.x: columns
  a.y: columns
  b.out: columns
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedKrt]:
    root = write_project(
        tmp_path_factory.mktemp("cols") / "cols",
        package="krt_cols",
        modules={"nodes.py": NODES, "pipeline_registry.py": REGISTRY},
        catalog=CATALOG,
        krt_yml=KRT_YML,
    )
    (root / "data").mkdir()
    (root / "data" / "x.csv").write_text(
        "name,price,n,at\nq,1.5,2,2024-01-01\n,2.0,3,2024-01-02\n", encoding="utf-8"
    )
    yield from serve_packaged(root, "cols", tmp_path_factory, run_cli)


def test_a_columns_request_and_reply(served: ServedKrt) -> None:
    day = 86_400 * 10**9
    body = {
        "x": {
            "name": ["q", "", "s"],
            "price": [1.5, 2.0, 0.5],
            "n": ["2", "3", "0"],
            "at": [str(19_723 * day), str(19_724 * day), str(-day)],
            "name_valid": [True, False, True],
        }
    }
    reply = json.loads(call("Cols", json.dumps(body), served.address, timeout=30))
    out = reply["out"]
    assert out["total"] == [3.0, 6.0, 0.0]
    assert out["day"] == ["2024-01-01", "2024-01-02", "1969-12-31"]
    assert out["named"] == [True, False, True]
    assert out["name"] == ["q", "", "s"]
    assert out["name_valid"] == [True, False, True]  # the null went through both nodes


def test_wrong_length_columns_are_invalid_argument(served: ServedKrt) -> None:
    body = {"x": {"name": ["q"], "price": [1.5, 2.0], "n": ["2", "3"], "at": ["0", "0"]}}
    with pytest.raises(CallError) as info:
        call("Cols", json.dumps(body), served.address, timeout=30)
    assert info.value.code == "INVALID_ARGUMENT", info.value.details
    assert "column 'name' has 1 value(s) and column 'price' has 2" in info.value.details
