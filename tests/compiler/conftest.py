"""Fixtures of the compiler tests: a tiny Kedro project written by hand (no `kedro new`).

The project `krt_tiny` registers small pipelines, each built to show one compilation rule on real
Kedro objects and a real catalog: two namespaced pipelines sharing namespace names (several
workflows in one version), namespaced artifacts (the kedro-boot defect), falsy parameters, and
a pipeline built with `prefix_datasets_with_namespace=False`.
"""

from __future__ import annotations

import pickle
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from kedro_krt.compiler.project import KedroProject, open_project
from tests.compiler.compiler_helpers import write_project

NODES = '''\
"""Node functions of the tiny project."""

from __future__ import annotations

import pandas as pd


def scale(rows: pd.DataFrame, factor: float) -> pd.DataFrame:
    return rows.assign(value=rows["value"] * factor)


def total(scaled: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"total": [float(scaled["value"].sum())]})


def predict(rows: pd.DataFrame, model: object, opaque: object) -> pd.DataFrame:
    return rows.assign(pred=rows["value"] * 2.0)


def knobs(rows: pd.DataFrame, zero: int, off: bool, empty: str) -> pd.DataFrame:
    return rows.assign(zero=zero, off=off, empty=empty)
'''

REGISTRY = '''\
"""Pipelines of the tiny project."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from krt_tiny.nodes import knobs, predict, scale, total


def _two_steps() -> Pipeline:
    prep = pipeline(
        [node(scale, ["rows", "params:factor"], "scaled", name="scale")], namespace="prep"
    )
    score = pipeline(
        [node(total, "scaled", "total", name="total")],
        namespace="score",
        inputs={"scaled": "prep.scaled"},
    )
    return prep + score


def register_pipelines() -> dict[str, Pipeline]:
    return {
        "alpha": _two_steps(),
        "beta": _two_steps(),
        "artifacts": pipeline(
            [node(predict, ["rows", "model", "opaque"], "pred", name="predict")],
            namespace="inference2",
        ),
        "falsy": pipeline(
            [
                node(
                    knobs,
                    ["rows", "params:zero", "params:off", "params:empty"],
                    "out",
                    name="knobs",
                )
            ],
            namespace="knobs",
        ),
        "flat": pipeline(
            [node(scale, ["flat_rows", "params:factor"], "flat_scaled", name="scale")],
            namespace="flat",
            prefix_datasets_with_namespace=False,
        ),
    }
'''

CATALOG = """\
prep.rows:
  type: pandas.CSVDataset
  filepath: data/rows.csv
inference2.rows:
  type: pandas.CSVDataset
  filepath: data/rows.csv
knobs.rows:
  type: pandas.CSVDataset
  filepath: data/rows.csv
flat_rows:
  type: pandas.CSVDataset
  filepath: data/rows.csv
inference2.model:
  type: pickle.PickleDataset
  filepath: data/model.pickle
  versioned: true
inference2.opaque:
  type: pickle.PickleDataset
  filepath: data/opaque.pickle
"""

PARAMETERS = """\
factor: 2.0
prep:
  factor: 3.0
knobs:
  zero: 0
  "off": false
  empty: ""
"""


def make_tiny_project(root: Path) -> Path:
    """Write the tiny project under `root` (pyproject, package, conf, data) and return it."""
    write_project(
        root,
        package="krt_tiny",
        modules={"nodes.py": NODES, "pipeline_registry.py": REGISTRY},
        catalog=CATALOG,
        parameters=PARAMETERS,
    )
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "rows.csv").write_text("name,value\nx,1.5\ny,2.5\n", encoding="utf-8")
    # Data a message cannot carry: a compiled regex, pickled as the catalog would save it.
    (root / "data" / "opaque.pickle").write_bytes(pickle.dumps(re.compile("shuttle-[0-9]+")))
    version = root / "data" / "model.pickle" / "2024-01-01T00.00.00.000Z" / "model.pickle"
    version.parent.mkdir(parents=True)
    version.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))
    (root / "requirements.txt").write_text(textwrap.dedent("pandas\n"), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny project on disk (session-wide; tests that change it copy it first)."""
    return make_tiny_project(tmp_path_factory.mktemp("tiny") / "tiny_project")


@pytest.fixture(scope="session")
def tiny(tiny_path: Path) -> Iterator[KedroProject]:
    """The tiny project, opened once in this process."""
    yield open_project(tiny_path)
