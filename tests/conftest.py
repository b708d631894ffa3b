"""Shared fixtures: a trained copy of the example project and its packaged .krt.

Built once per test run in a temporary folder (once for all pytest-xdist workers, see
tests/helpers.py build_once), with the real Kedro CLI in subprocesses (as a user would run it),
so the repository's example_project stays clean.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import build_once, copy_example, run_cli

os.environ["KEDRO_DISABLE_TELEMETRY"] = "true"


@pytest.fixture(scope="session")
def _example_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained example project and its two packages, built in one step.

    Packaging writes into the project (krt.lock.json): doing it before any test sees the project
    means nothing writes into the shared project while tests read it on other workers."""

    def build(folder: Path) -> None:
        project = copy_example(folder / "example_project")
        run_cli(["python", "scripts/generate_data.py", "--rows", "400"], cwd=project)
        run_cli(["kedro", "run", "--pipelines", "training"], cwd=project)
        for dist, args in (("dist", []), ("dist-v2", ["--krt-version", "v2"])):
            package = ["kedro", "krt", "package", "--pipeline", "inference", *args]
            run_cli([*package, "--output", str(folder / dist)], cwd=project)

    return build_once(tmp_path_factory, "example", build)


@pytest.fixture(scope="session")
def trained_project(_example_build: Path) -> Path:
    """The example project with generated data and a trained (versioned) model.

    Shared by every test of the run, read-only: a test that writes into it works on a copy
    (tests.helpers.copy_project)."""
    return _example_build / "example_project"


@pytest.fixture(scope="session")
def example_krt(_example_build: Path) -> Path:
    """`kedro krt package --pipeline inference` of the trained example project."""
    (krt,) = sorted((_example_build / "dist").glob("*.krt"))
    return krt


@pytest.fixture(scope="session")
def example_krt_v2(_example_build: Path) -> Path:
    """`kedro krt package --pipeline inference --krt-version v2` of the trained example."""
    (krt,) = sorted((_example_build / "dist-v2").glob("*.krt"))
    return krt

