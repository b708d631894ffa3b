"""A new user's first commands on Kedro's spaceflights-pandas starter (issue 21).

The starter (tests/fixtures/spaceflights_pandas, see its README) registers its pipelines with
`find_pipelines(raise_errors=True)` as every `kedro new` project does, and namespaces none of
them. In-process, with click's CliRunner.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from kedro_krt.cli import main
from kedro_krt.formats.manifest_base import MAX_NAME_LENGTH, is_valid_name, readable_name

STARTER = Path(__file__).parents[1] / "fixtures" / "spaceflights_pandas"


def _forget_the_package() -> None:
    """Each test has its own copy of the starter: its modules are imported afresh."""
    for name in [m for m in sys.modules if m == "spaceflights" or m.startswith("spaceflights.")]:
        del sys.modules[name]


@pytest.fixture
def starter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    project = Path(shutil.copytree(STARTER, tmp_path / "spaceflights"))
    monkeypatch.chdir(project)
    monkeypatch.setattr(sys, "path", list(sys.path))
    _forget_the_package()
    yield project
    _forget_the_package()


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("wrong", ["inferense", "data_sciense"])
def test_a_wrong_pipeline_name_is_named_not_an_import_error(starter: Path, wrong: str) -> None:
    """Kedro's find_pipelines turns a name that is no pipeline package into `ImportError: An
    error occurred while importing the 'spaceflights.pipelines.inferense' module`: the
    packages are listed before anything is imported. The `reporting` pipeline cannot be
    imported here (no plotly): the names come from its package folder."""
    result = _run("compile", "--pipeline", wrong)
    assert result.exit_code == 1
    message = result.stderr
    assert f"pipeline '{wrong}' is not registered in pipeline_registry.py." in message
    assert "Registered: __default__, data_processing, data_science, reporting" in message
    if wrong == "data_sciense":
        assert "Did you mean 'data_science'?" in message
    assert "module" not in message and "Traceback" not in result.output


def test_init_says_what_it_chose_and_how_to_change_it(starter: Path) -> None:
    shutil.rmtree(starter / "src" / "spaceflights" / "pipelines" / "reporting")  # needs plotly
    result = _run("init")
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    # The explanation is wrapped at a terminal's default width, less its last column (each
    # workflow stays on a line of its own, whatever its names).
    lines = result.stdout.splitlines()
    said = lines[[line.startswith("Registered pipelines:") for line in lines].index(True) :]
    assert len(said) > 1 and max(map(len, said)) <= 79
    assert "workflow data-processing: pipeline data_processing, rpc DataProcessing, " in out
    assert "grouping single" in out
    assert "Registered pipelines: data_processing, data_science." in out
    assert "None is namespaced, so init took the first, data_processing, as one KRT node" in out
    assert "`grouping: node` for one KRT node per Kedro node" in out
    assert '"Add an inference pipeline" in the docs' in out
    written = yaml.safe_load((starter / "conf" / "base" / "krt.yml").read_text())
    assert written["version"] == "spaceflights"
    assert written["workflows"] == [
        {
            "name": "data-processing",
            "pipeline": "data_processing",
            "rpc": "DataProcessing",
            "grouping": "single",
            "inputs": [],
            "artifacts": [],
        }
    ]


@pytest.mark.parametrize(
    ("kedro_name", "krt_name"),
    [
        # The starter's node names, as `grouping: node` names KRT nodes after them.
        ("preprocess_companies_node", "preproc-companies"),
        ("preprocess_shuttles_node", "preprocess-shuttles"),
        ("split_data_node", "split-data-node"),  # fits: kept whole
        ("evaluate_model_node", "evaluate-model-node"),
        ("compare_passenger_capacity_exp", "comp-pass-capac-exp"),
        ("data_processing", "data-processing"),
        ("averyveryverylongsingleword", "averyveryverylongs"),
    ],
)
def test_names_stay_readable_within_kres_limit(kedro_name: str, krt_name: str) -> None:
    """KRE's resource names (kre-7.0.0 and v8.2.0 admin-api validators: lowercase letters,
    digits and '-', at most 19 characters) are met by clipping words at a syllable, never by
    a cut mid-word (`preprocess-companie`)."""
    name = readable_name(kedro_name)
    assert name == krt_name
    assert is_valid_name(name) and len(name) <= MAX_NAME_LENGTH


def test_the_inference_how_to_compiles_on_the_starter(starter: Path) -> None:
    """docs/how-to/inference-pipeline.md, followed on the starter: its files written, the
    pipeline compiles into the workflow the page describes (the model untrained: compile
    needs no artifact)."""
    from tests.docs.doc_blocks import read_blocks

    page = Path(__file__).parents[2] / "docs" / "how-to" / "inference-pipeline.md"
    shutil.rmtree(starter / "src" / "spaceflights" / "pipelines" / "reporting")  # needs plotly
    for block in read_blocks(page):
        if block.title:
            path = starter / block.title
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.body)
    result = _run("compile", "--pipeline", "inference", "--full")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "1.  prep     InferenceRequest -> InferencePrepOutput" in out
    assert "2.  predict  InferencePrepOutput -> InferenceResponse" in out
    assert "shuttles                    repeated ShuttlesRow (8 columns)  prep.shuttles" in out
    assert "regressor       artifact" in out
    assert "google.protobuf.Value" not in out
    # A plain `kedro run` keeps working: inference is out of __default__.
    from kedro.framework.project import pipelines

    pipelines.set_requested(None)  # every pipeline, as `kedro run` loads them
    assert "prep.prepare_features" in {n.name for n in pipelines["inference"].nodes}
    assert "prep.prepare_features" not in {n.name for n in pipelines["__default__"].nodes}


def test_a_pipeline_that_cannot_be_imported_names_what_it_lacks(starter: Path) -> None:
    """The stock starter's `reporting` imports matplotlib, plotly and seaborn, which this
    environment lacks: find_pipelines(raise_errors=True) says only "An error occurred while
    importing the '...reporting' module"; the cause is said."""
    import importlib.util

    if all(importlib.util.find_spec(m) for m in ("matplotlib", "plotly", "seaborn")):
        pytest.skip("reporting's packages are installed here")
    result = _run("init")
    assert result.exit_code == 1
    message = result.stderr
    assert "it imports '" in message and "', which is not installed here" in message
    assert "(src/spaceflights/pipelines/reporting/nodes.py line 1)" in message
    assert "An error occurred while importing" not in message
