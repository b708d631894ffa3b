"""Shared fixtures: a trained copy of the example project and its packaged .krt.

Built once per test run in a temporary folder (once for all pytest-xdist workers, see
tests/helpers.py build_once), with the real Kedro CLI in subprocesses (as a user would run it),
so the repository's example_project stays clean. Every test that asks for one of them is in the
integration tier (see pytest_collection_modifyitems below).
"""

from __future__ import annotations

import multiprocessing.process
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# -- tiers ---------------------------------------------------------------------------------------
#
# unit (`make test-fast`): in this process only. No Kedro CLI, no server, no nats-server, no
#   packaging of the example. Two processes are allowed, as parts of the code under test:
#   protoc (kedro_krt runs grpcio-tools' protoc in a process of its own) and git (Kedro's
#   session asks it for the commit).
# integration: the real `kedro` / `kedro-krt` executables or another process of ours, the trained
#   example and its .krt archives.
# e2e: a served KRT (`kedro-krt serve`, `--nats`: nats-server and runner processes) called over
#   gRPC on loopback.
#
# The tier of a test follows from what it asks for (below); a test that starts another process
# without being marked fails with a message saying to mark it, so the tiers cannot go stale.

TESTS = Path(__file__).resolve().parent

#: Fixtures that build the trained example (Kedro CLI in subprocesses) or its .krt archives,
#: and tests/docs' `site` (mkdocs builds the documentation site in a process of its own).
INTEGRATION_FIXTURES = frozenset(
    {"_example_build", "trained_project", "example_krt", "example_krt_v2", "site"}
)
#: Fixtures that start servers (kedro-krt serve, --nats) or a nats-server and node runners.
E2E_FIXTURES = frozenset(
    {"served_example", "server", "start_server", "start_nats_server", "project_server", "topo"}
)
#: Folders whose every test serves a KRT.
E2E_FOLDERS = (TESTS / "e2e",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its tier: e2e, integration, or none (the unit tier)."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if item.get_closest_marker("e2e") or names & E2E_FIXTURES or any(
            item.path.is_relative_to(folder) for folder in E2E_FOLDERS
        ):
            item.add_marker(pytest.mark.e2e)
        elif names & INTEGRATION_FIXTURES:
            item.add_marker(pytest.mark.integration)
    _longest_first(items)


def _longest_first(items: list[pytest.Item]) -> None:
    """Order modules so that the workers stay busy and finish together.

    pytest-xdist (`--dist loadscope --no-loadscope-reorder`, as the Makefile runs it) hands out
    whole modules in this order. One module that needs the trained example comes first (its
    build starts at once, on one worker), then the e2e modules that do not need it (the other
    worker is not left waiting for the build), the other e2e modules, integration, and last the
    unit modules, which are short: no worker idles while another ends a long module. Each
    module stays whole and keeps its own order.
    """
    groups: dict[Path, int] = {}
    for item in items:
        needs_example = "_example_build" in getattr(item, "fixturenames", ())
        if item.get_closest_marker("e2e"):
            group = 2 if needs_example else 1
        else:
            group = 3 if _integration(item) else 4
        groups[item.path] = min(groups.get(item.path, 4), group)
    first = {path: i for i, path in reversed(list(enumerate(item.path for item in items)))}
    needing = [path for path in first if groups[path] == 2]
    if needing:
        groups[min(needing, key=first.__getitem__)] = 0
    items.sort(key=lambda item: (groups[item.path], first[item.path]))


def _integration(item: pytest.Item) -> bool:
    return item.get_closest_marker("integration") is not None


def _unit(item: pytest.Item) -> bool:
    return not (item.get_closest_marker("integration") or item.get_closest_marker("e2e"))


_current: list[pytest.Item] = []


def _allowed_in_unit(argv: object) -> bool:
    words = [str(a) for a in argv] if isinstance(argv, list | tuple) else str(argv).split()
    if not words:
        return False
    if Path(words[0]).name == "git":
        return True
    return words[1:3] == ["-m", "grpc_tools.protoc"]


def _refuse_in_unit(what: object) -> None:
    if _current:
        raise RuntimeError(
            f"{_current[-1].nodeid} is in the unit tier (make test-fast) but starts a process: "
            f"{what!r}. Mark it `pytest.mark.integration` (or `e2e` if it serves), or ask for the "
            "fixture that does it."
        )


_popen_init = subprocess.Popen.__init__
_process_start = multiprocessing.process.BaseProcess.start


def _guarded_popen_init(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
    if not _allowed_in_unit(args):
        _refuse_in_unit(args)
    _popen_init(self, args, *rest, **kwargs)


def _guarded_process_start(self: multiprocessing.process.BaseProcess) -> None:
    _refuse_in_unit(f"multiprocessing {self.name}")
    _process_start(self)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """While a unit-tier test runs (its fixtures too), starting a process fails it."""
    if _unit(item):
        _current.append(item)
    try:
        yield
    finally:
        _current.clear()


subprocess.Popen.__init__ = _guarded_popen_init  # type: ignore[method-assign]
multiprocessing.process.BaseProcess.start = _guarded_process_start  # type: ignore[method-assign]
