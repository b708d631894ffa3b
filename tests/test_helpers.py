"""The suite's own helpers: which commands run_cli checks with KRE's upload, and where it looks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kedro_krt.formats.archive import write_krt
from tests.helpers import _output_folders, _packages, _written_since, build_once
from tests.krt.krt_helpers import good_files


@pytest.mark.parametrize(
    ("args", "packages"),
    [
        (["kedro", "krt", "package", "--pipeline", "inference", "-o", "out"], True),
        (["kedro", "krt", "package"], True),
        (["kedro", "krt", "deploy", "--publish"], True),
        (["kedro-krt", "build", "examples/greeter"], True),
        (["kedro", "krt", "compile", "--pipeline", "inference"], False),
        (["kedro-krt", "validate", "dist/x.krt"], False),
        (["kedro", "run", "--pipelines", "training"], False),
        (["python", "scripts/generate_data.py"], False),
    ],
)
def test_packaging_commands_are_recognised(args: list[str], packages: bool) -> None:
    assert _packages(args) is packages


def test_output_folders_follow_the_output_flag(tmp_path: Path) -> None:
    relative = ["kedro", "krt", "package", "-o", "rel"]
    assert _output_folders(relative, tmp_path)[0] == tmp_path / "rel"
    absolute = tmp_path / "elsewhere"
    args = ["kedro", "krt", "package", "--output", str(absolute)]
    assert _output_folders(args, tmp_path)[0] == absolute
    assert _output_folders(["kedro", "krt", "package"], tmp_path) == [tmp_path / "dist", tmp_path]


def test_only_archives_written_since_the_start_are_checked(tmp_path: Path) -> None:
    old = write_krt(good_files(), tmp_path / "old.krt")
    os.utime(old, (1_000_000, 1_000_000))
    new = write_krt(good_files(), tmp_path / "new.krt")
    assert _written_since([tmp_path, tmp_path / "missing"], started=new.stat().st_mtime) == [new]


def test_build_once_builds_one_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    calls: list[Path] = []
    folder = build_once(tmp_path_factory, "built-once", lambda f: calls.append(f))
    assert calls == [folder] and folder.is_dir()


def test_free_ports_are_below_the_ephemeral_range_and_each_worker_has_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A test's server port is never one an outgoing connection can take first (a flaky
    "port is in use"), nor one the other xdist worker hands out."""
    import itertools

    from tests import helpers

    floor = helpers._ephemeral_floor()
    if floor - helpers._TEST_PORTS_FROM < 1000:
        pytest.skip("no room below this machine's ephemeral port range")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    shares = []
    for worker in ("gw0", "gw1"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        ports = set(itertools.islice(helpers._worker_ports(), 50_000))
        assert ports and max(ports) < floor and min(ports) >= helpers._TEST_PORTS_FROM
        shares.append(ports)
    assert not shares[0] & shares[1]
    assert helpers._TEST_PORTS_FROM <= helpers.free_port() < floor
