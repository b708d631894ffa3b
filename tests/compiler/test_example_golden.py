"""Golden files: exactly what a user gets from `kedro krt compile --pipeline inference` on the
example project (the report, krt.yml, the protos and docs/README.md).

Regenerate after an intended change with `KRT_UPDATE_GOLDEN=1 pytest tests/compiler`, then read
the diff before committing it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pytest
from kedro.pipeline import node

from kedro_krt.compiler.datatypes import TypeResolver
from tests.compiler.compiler_helpers import PANDAS_3, golden_on_this_pandas
from tests.helpers import run_cli

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "example"
FILES = (
    "krt.yml",
    "public_input.proto",
    "internal_nodes.proto",
    "docs/README.md",
    "docs/examples/Inference.json",
)
UPDATE = os.environ.get("KRT_UPDATE_GOLDEN") == "1"


def _report(stdout: str) -> str:
    """The report alone: Kedro logs its logging setup and the CLI lists written paths around it."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("KRT version "))
    end = next(i for i, line in enumerate(lines) if re.match(r"\d+ workflow\(s\), ", line))
    return "\n".join(lines[start : end + 1]) + "\n"


@pytest.fixture(scope="module")
def compiled(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The files of `compile --output`, what `compile` prints (summary.txt) and what
    `compile --full` prints (report.txt)."""
    out = tmp_path_factory.mktemp("compiled")
    proc = run_cli(
        ["kedro", "krt", "compile", "--pipeline", "inference", "--output", str(out)],
        cwd=trained_project,
    )
    texts = {name: (out / name).read_text(encoding="utf-8") for name in FILES}
    texts["summary.txt"] = _report(proc.stdout)
    full = run_cli(
        ["kedro", "krt", "compile", "--pipeline", "inference", "--full"], cwd=trained_project
    )
    texts["report.txt"] = _report(full.stdout)
    return texts


def test_the_summary_fits_100_columns(compiled: dict[str, str]) -> None:
    lines = compiled["summary.txt"].splitlines()
    assert max(len(line) for line in lines) <= 100
    # Each request field once: the request's columns are not repeated per message.
    assert sum("passenger_capacity" in line for line in lines) == 1
    assert lines[-2].endswith("compile --full")


@pytest.mark.parametrize("name", [*FILES, "summary.txt", "report.txt"])
def test_matches_golden(compiled: dict[str, str], name: str) -> None:
    golden = GOLDEN / name
    if UPDATE:
        assert PANDAS_3, "golden files are written on pandas 3 (see golden_on_this_pandas)"
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(compiled[name], encoding="utf-8")
    assert golden.exists(), f"{golden} is missing: run with KRT_UPDATE_GOLDEN=1"
    assert compiled[name] == golden_on_this_pandas(name, golden.read_text(encoding="utf-8")), (
        f"{name} differs from {golden}; if the change is intended, rerun with KRT_UPDATE_GOLDEN=1"
    )


def test_outputs_hold_nothing_machine_or_run_specific(
    compiled: dict[str, str], trained_project: Path
) -> None:
    model_dir = trained_project / "data/06_models/price_model.pickle"
    model_versions = [p.name for p in model_dir.iterdir()]
    assert model_versions, "the trained project has a model version"
    for name, text in compiled.items():
        assert str(trained_project) not in text, name
        assert "/tmp" not in text and "/work" not in text and "/home" not in text, name
        for version in model_versions:
            assert version not in text, f"{name} names the model version {version}"
        # No timestamps (Kedro's version folders look like 2024-01-01T00.00.00.000Z).
        assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}", text), name


def test_the_report_types_outputs_from_the_trial_run(compiled: dict[str, str]) -> None:
    # The trained project has no output.quotes file (as in a fresh clone): its type and the
    # carried datasets' come from running the workflow on the committed sample request.
    report = compiled["report.txt"]
    for dataset in ("output.quotes", "etl.features", "model.predictions"):
        line = next(line for line in report.splitlines() if line.strip().startswith(dataset))
        assert "(trial run on the sample request)" in line, line
    assert "0 warning(s)" in report


def _double(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"doubled": rows["value"] * 2})


def test_a_stale_file_of_a_produced_dataset_does_not_decide_its_type() -> None:
    stale = pd.DataFrame({"old_column": ["left by an earlier batch run"]})
    request = pd.DataFrame({"value": [1.0, 2.0]})
    files = {"ns.rows": request, "ns.out": stale}

    def load(name: str) -> tuple[bool, object, str]:
        return (name in files, files.get(name), "catalog (CSVDataset)")

    resolver = TypeResolver(
        schemas={},
        samples={},
        project_path=Path("."),
        load_from_catalog=load,
        nodes=[node(_double, "ns.rows", "ns.out", name="double")],
        request=["ns.rows"],
        preloaded={},
    )
    spec, source = resolver.resolve("ns.out")
    assert source == "trial run on the sample request"
    assert [c.name for c in spec.columns] == ["doubled"]
    # A free input is still typed from its data.
    assert resolver.resolve("ns.rows")[1] == "catalog (CSVDataset)"
