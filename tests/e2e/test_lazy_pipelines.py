"""Only the pipelines asked for are imported, as `kedro run --pipelines` does in Kedro 1.7.

The project registers its pipelines with Kedro's `find_pipelines()` (as `kedro new` writes it);
its `reporting` pipeline imports a package this environment does not have.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kedro_krt.serve.client import call
from tests.compiler.compiler_helpers import write_project
from tests.e2e.e2e_helpers import ServedKrt, serve_packaged
from tests.helpers import run_cli

pytestmark = pytest.mark.slow

REGISTRY = '''\
from kedro.framework.project import find_pipelines


def register_pipelines():
    pipelines = find_pipelines()
    pipelines["__default__"] = sum(pipelines.values())
    return pipelines
'''

GOOD = '''\
import pandas as pd
from kedro.pipeline import Pipeline, node, pipeline


def double(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.assign(v=rows["v"] * 2)


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([node(double, "rows", "doubled", name="double")], namespace="good")
'''

REPORTING_NODES = '''\
import not_installed_plotting_lib  # absent from the serving environment


def plot(rows):
    return not_installed_plotting_lib.plot(rows)
'''

REPORTING = '''\
from kedro.pipeline import Pipeline, node, pipeline

from krt_lazy.pipelines.reporting.nodes import plot


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline([node(plot, "rows", "figure", name="plot")], namespace="reporting")
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_project(
        tmp_path_factory.mktemp("lazy") / "lazy",
        package="krt_lazy",
        modules={"pipeline_registry.py": REGISTRY},
        catalog="good.rows:\n  type: pandas.CSVDataset\n  filepath: data/rows.csv\n",
    )
    pipelines = root / "src" / "krt_lazy" / "pipelines"
    for name, files in {
        "good": {"pipeline.py": GOOD},
        "reporting": {"pipeline.py": REPORTING, "nodes.py": REPORTING_NODES},
    }.items():
        (pipelines / name).mkdir(parents=True)
        (pipelines / name / "__init__.py").write_text("from .pipeline import create_pipeline\n")
        for file, text in files.items():
            (pipelines / name / file).write_text(text)
    (pipelines / "__init__.py").write_text("")
    (root / "data").mkdir()
    (root / "data" / "rows.csv").write_text("v\n1.5\n")
    return root


@pytest.fixture(scope="module")
def served(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedKrt]:
    yield from serve_packaged(project, "good", tmp_path_factory, run_cli)


def test_the_wanted_pipeline_packages_and_serves(served: ServedKrt) -> None:
    # The .krt holds the broken pipeline's module too: the runtime must not import it either.
    reply = json.loads(call("Good", '{"rows": [{"v": 2.0}]}', served.address, timeout=30))
    assert reply == {"doubled": [{"v": 4.0}]}


def test_a_wanted_pipeline_that_cannot_be_imported_is_one_line(project: Path) -> None:
    proc = run_cli(["kedro", "krt", "compile", "--pipeline", "reporting"], cwd=project, check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: pipeline 'reporting' cannot be imported: it imports "
        "'not_installed_plotting_lib', which is not installed here "
        "(src/krt_lazy/pipelines/reporting/nodes.py); install what it needs in this environment"
    ]


def test_the_unrelated_broken_pipeline_is_not_even_imported(project: Path) -> None:
    # Kedro's find_pipelines would print the import error with its whole traceback as a
    # warning for every pipeline it imports; asked for `good` alone, it imports `good` alone.
    proc = run_cli(["kedro", "krt", "compile", "--pipeline", "good"], cwd=project)
    assert "not_installed_plotting_lib" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_kedro_1_7_spelling_pipelines_comma_separated(project: Path) -> None:
    proc = run_cli(["kedro", "krt", "compile", "--pipelines", "good"], cwd=project)
    assert "workflow good" in proc.stdout or "workflow 'good'" in proc.stdout + proc.stderr
    both = run_cli(
        ["kedro", "krt", "compile", "--pipelines", "good,reporting"], cwd=project, check=False
    )
    assert both.returncode == 1 and "pipeline 'reporting' cannot be imported" in both.stderr
