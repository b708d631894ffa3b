"""The example project works as a plain Kedro project: data, training, inference, parameters.

Every test runs on a copy of ``example_project/`` under ``tmp_path`` so the repository stays clean.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from kedro_krt.node.runtime import InvalidRequest

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

EXAMPLE_PROJECT = Path(__file__).resolve().parents[2] / "example_project"

# The request columns, in file order, with the dtypes the catalog gives them.
REQUEST_COLUMNS = [
    "shuttle_id",
    "shuttle_type",
    "engine_type",
    "engines",
    "passenger_capacity",
    "crew",
    "d_check_complete",
    "moon_clearance_complete",
    "iata_approved",
    "company_rating",
    "launched_at",
]
QUOTE_COLUMNS = ["shuttle_id", "price", "price_band", "currency"]


def _copy_project(destination: Path) -> Path:
    """Copy the project without anything a previous run may have generated."""

    def generated(folder: str, names: list[str]) -> set[str]:
        relative = Path(folder).relative_to(EXAMPLE_PROJECT).as_posix()
        skipped = {"__pycache__", "dist", ".krt-state", ".telemetry"}
        if relative == "data/01_raw":
            skipped.add("shuttles.csv")
        if relative in ("data/06_models", "data/07_model_output"):
            skipped.update(name for name in names if name != ".gitkeep")
        return skipped & set(names)

    project = destination / "example_project"
    shutil.copytree(EXAMPLE_PROJECT, project, ignore=generated)
    return project


def _load_generator() -> ModuleType:
    """Import scripts/generate_data.py, which is a script, not part of the package."""
    spec = importlib.util.spec_from_file_location(
        "generate_data", EXAMPLE_PROJECT / "scripts" / "generate_data.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(project: Path, pipeline: str, runtime_params: dict[str, Any] | None = None) -> None:
    # Kedro allows one run per session: a new session for every run.
    session = KedroSession.create(project_path=project, runtime_params=runtime_params)
    with session:
        session.run(pipeline_names=[pipeline])


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project with 300 generated shuttles and a trained model."""
    project = _copy_project(tmp_path_factory.mktemp("example"))
    subprocess.run(
        [sys.executable, "scripts/generate_data.py", "--rows", "300"],
        cwd=project,
        check=True,
        capture_output=True,
    )
    bootstrap_project(project)
    _run(project, "training")
    return project


def test_generated_data_is_seeded_and_realistic(tmp_path: Path) -> None:
    generator = _load_generator()
    shuttles = generator.generate_shuttles(2000, 42)

    pd.testing.assert_frame_equal(shuttles, generator.generate_shuttles(2000, 42))
    assert not shuttles.equals(generator.generate_shuttles(2000, 7))

    out = tmp_path / "shuttles.csv"
    generator.write_csv(shuttles, out)
    read = pd.read_csv(out, parse_dates=["launched_at"])
    assert list(read.columns) == [*REQUEST_COLUMNS, "price"]
    assert read["shuttle_id"].iloc[0] == "SH-00001"
    assert read["shuttle_id"].is_unique
    assert set(read["shuttle_type"]) == {"Type V5", "Type F5", "Type A1", "Type F3"}
    assert set(read["engine_type"]) == {"Quantum", "Plasma", "Nuclear"}
    assert read["engines"].between(1, 4).all()
    assert read["passenger_capacity"].between(2, 12).all()
    assert read["crew"].between(1, 6).all()
    assert read["d_check_complete"].dtype == bool
    assert 0.02 < read["company_rating"].isna().mean() < 0.08
    assert read["company_rating"].dropna().between(0, 1).all()
    assert read["launched_at"].dt.year.between(2015, 2025).all()
    assert read["price"].gt(0).all()
    assert read["price"].quantile(0.01) >= 500
    assert read["price"].quantile(0.99) <= 12_000


def test_request_sample_loads_through_the_catalog(trained_project: Path) -> None:
    session = KedroSession.create(project_path=trained_project)
    with session:
        request = session.load_context().catalog.load("etl.shuttles")

    assert list(request.columns) == REQUEST_COLUMNS
    assert pd.api.types.is_string_dtype(request["shuttle_id"])
    for column in ("engines", "passenger_capacity", "crew"):
        assert request[column].dtype == "int64", column
    for column in ("d_check_complete", "moon_clearance_complete", "iata_approved"):
        assert request[column].dtype == bool, column
    assert request["company_rating"].dtype == "float64"
    assert request["company_rating"].isna().any()
    assert pd.api.types.is_datetime64_dtype(request["launched_at"])


def test_training_writes_a_versioned_model(trained_project: Path) -> None:
    model_folder = trained_project / "data/06_models/price_model.pickle"
    versions = list(model_folder.glob("*/price_model.pickle"))
    assert len(versions) == 1


def test_inference_quotes_every_requested_shuttle(trained_project: Path) -> None:
    _run(trained_project, "inference")
    quotes = pd.read_csv(trained_project / "data/07_model_output/quotes.csv")
    request = pd.read_csv(trained_project / "data/01_raw/sample_shuttles.csv")

    assert list(quotes.columns) == QUOTE_COLUMNS
    assert quotes["shuttle_id"].tolist() == request["shuttle_id"].tolist()
    assert quotes["price"].gt(0).all()
    assert set(quotes["price_band"]) <= {"budget", "standard", "premium"}
    assert set(quotes["currency"]) == {"EUR"}


def test_runtime_parameters_change_the_quotes(trained_project: Path) -> None:
    from shuttle_prices.features import make_features
    from shuttle_prices.pipelines.inference.nodes import predict_price

    session = KedroSession.create(project_path=trained_project)
    with session:
        catalog = session.load_context().catalog
        model = catalog.load("price_model")
        request = catalog.load("etl.shuttles")
    predictions = predict_price(make_features(request), model, clip_negative=True)

    _run(trained_project, "inference")
    default = pd.read_csv(trained_project / "data/07_model_output/quotes.csv")
    np.testing.assert_allclose(default["price"], np.round(predictions * 1.1, 2))

    _run(trained_project, "inference", {"output": {"markup": 0.0, "currency": "USD"}})
    no_markup = pd.read_csv(trained_project / "data/07_model_output/quotes.csv")
    np.testing.assert_array_equal(no_markup["price"], np.round(predictions, 2))
    assert set(no_markup["currency"]) == {"USD"}


def test_quotes_follow_price_bands_and_reject_a_negative_markup(trained_project: Path) -> None:
    from shuttle_prices.pipelines.inference.nodes import make_quotes

    shuttles = pd.DataFrame({"shuttle_id": ["a", "b", "c", "d"]})
    # Another index than the request's: quotes pair rows by position.
    predictions = pd.Series([999.994, 1000.0, 1999.99, 2000.0], index=[7, 8, 9, 10])
    bands = {"budget": 1000.0, "premium": 2000.0}

    quotes = make_quotes(shuttles, predictions, 0.0, "EUR", bands)

    assert quotes["shuttle_id"].tolist() == ["a", "b", "c", "d"]
    assert quotes["price"].tolist() == [999.99, 1000.0, 1999.99, 2000.0]
    assert quotes["price_band"].tolist() == ["budget", "standard", "standard", "premium"]
    # The caller's mistake: kedro-krt's InvalidRequest (INVALID_ARGUMENT when served), which is
    # a ValueError, so `kedro run` fails as before.
    for markup in (-0.1, float("inf"), float("nan")):
        with pytest.raises(InvalidRequest, match=r"output\.markup must be a fraction >= 0"):
            make_quotes(shuttles, predictions, markup, "EUR", bands)
    assert issubclass(InvalidRequest, ValueError)
    with pytest.raises(ValueError, match=r"price_bands lacks \['premium'\]"):
        make_quotes(shuttles, predictions, 0.1, "EUR", {"budget": 1000.0})


def test_an_infinite_feature_is_refused_before_the_model(trained_project: Path) -> None:
    """sklearn refuses infinity with a ValueError of its own ("Input X contains infinity"), an
    INTERNAL error when served: predict_price names the row and the column instead."""
    from shuttle_prices.pipelines.inference.nodes import predict_price

    features = pd.DataFrame({"engines": [2, 1], "company_rating": [0.5, -np.inf]})
    with pytest.raises(InvalidRequest, match=r"row 1, column 'company_rating' is -inf"):
        predict_price(features, None, True)  # type: ignore[arg-type]
