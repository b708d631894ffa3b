"""Fixtures for the local server tests (helpers in serve_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serve.serve_helpers import ServerProcess, build_krt_dir, pack_krt


@pytest.fixture(scope="session")
def krt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_krt_dir(tmp_path_factory.mktemp("krt") / "handwritten")


@pytest.fixture(scope="session")
def krt_file(krt_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pack_krt(krt_dir, tmp_path_factory.mktemp("krtfile") / "handwritten-v1.krt")


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[object]:
    """A factory of server processes, all killed at the end of the test."""
    started: list[ServerProcess] = []

    def start(source: Path, *args: str, **kwargs: object) -> ServerProcess:
        server = ServerProcess(source, tmp_path, *args, **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


@pytest.fixture(scope="module", params=["in-process", "nats"])
def serve_mode(request: pytest.FixtureRequest) -> str:
    """The back end of the module's server: in-process, or `--nats` (a real nats-server and
    one `python -m kedro_krt.node.runner` process per node, as KRE runs them)."""
    return str(request.param)


@pytest.fixture(scope="module")
def server(
    krt_dir: Path, tmp_path_factory: pytest.TempPathFactory, serve_mode: str
) -> Iterator[ServerProcess]:
    """One SERVING server of the KRT folder, shared by the tests of a module."""
    args = ("--nats",) if serve_mode == "nats" else ()
    proc = ServerProcess(krt_dir, tmp_path_factory.mktemp(f"server-{serve_mode}"), *args, web=True)
    try:
        proc.wait_status("SERVING", timeout=90)
        yield proc
    finally:
        proc.kill()
