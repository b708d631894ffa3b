"""Shared fixtures: a trained copy of the example project and its packaged .krt.

Built once per test session in a temporary folder, with the real Kedro CLI in subprocesses
(as a user would run it), so the repository's example_project stays clean.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ["KEDRO_DISABLE_TELEMETRY"] = "true"

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "example_project"
BIN = Path(sys.executable).parent


def run_cli(
    args: list[str], cwd: Path, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run a console script of the venv (kedro, kedro-krt) and capture its output."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def copy_example(dest: Path) -> Path:
    """A clean copy of the example project (no generated data, no dist)."""
    ignore = shutil.ignore_patterns("dist", "__pycache__", "*.pyc", ".krt-state")
    shutil.copytree(EXAMPLE, dest, ignore=ignore)
    for generated in ("data/01_raw/shuttles.csv",):
        (dest / generated).unlink(missing_ok=True)
    for folder in ("data/06_models", "data/07_model_output"):
        shutil.rmtree(dest / folder, ignore_errors=True)
        (dest / folder).mkdir(parents=True, exist_ok=True)
    return dest


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project with generated data and a trained (versioned) model."""
    project = copy_example(tmp_path_factory.mktemp("example") / "example_project")
    run_cli(["python", "scripts/generate_data.py", "--rows", "400"], cwd=project)
    run_cli(["kedro", "run", "--pipelines", "training"], cwd=project)
    return project


@pytest.fixture(scope="session")
def example_krt(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`kedro krt package --pipeline inference` of the trained example project."""
    out = tmp_path_factory.mktemp("dist")
    run_cli(
        ["kedro", "krt", "package", "--pipeline", "inference", "--output", str(out)],
        cwd=trained_project,
    )
    (krt,) = sorted(out.glob("*.krt"))
    return krt


@pytest.fixture(scope="session")
def example_krt_v2(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`kedro krt package --pipeline inference --krt-version v2` of the trained example."""
    out = tmp_path_factory.mktemp("dist-v2")
    run_cli(
        [
            "kedro", "krt", "package", "--pipeline", "inference", "--krt-version", "v2",
            "--output", str(out),
        ],
        cwd=trained_project,
    )
    (krt,) = sorted(out.glob("*.krt"))
    return krt


def _written_by_kedro_krt(path: Path) -> bool:
    """write_krt's gzip header: no file name (FLG.FNAME unset) and mtime 0; hand-made ones
    from tarfile.open("w:gz") carry their name."""
    head = path.read_bytes()[:8]
    return head[:2] == b"\x1f\x8b" and not head[3] & 0x08 and head[4:8] == b"\0\0\0\0"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Every .krt the suite built went through KRE's two upload passes, in order.

    (konstellation-io/kre @ kre-7.0.0, engine/admin-api/domain/usecase/krt/parser.go, replayed
    by kedro_krt.formats.upload.) A refused archive fails the run.
    """
    from kedro_krt.formats.upload import emulate_upload, read_headers

    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    base = factory.getbasetemp()
    refused: list[str] = []
    checked = 0
    for krt in sorted(base.rglob("*.krt")):
        if not krt.is_file() or not _written_by_kedro_krt(krt):
            continue
        checked += 1
        errors = emulate_upload(read_headers(krt), keep_going=False).kre_errors()
        if errors:
            refused.append(f"{krt}: {errors[0]}")
    if refused:
        print("\nKRE's upload would refuse archives built by the suite:\n" + "\n".join(refused))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif checked:
        print(f"\nKRE's two upload passes accept all {checked} archives the suite built.")
