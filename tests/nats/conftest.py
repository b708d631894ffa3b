"""Fixtures of the NATS tests: the hand-written KRT of tests/fixtures, and server processes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serve.serve_helpers import ServerProcess, build_krt_dir


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop per module for the runner tests' topologies."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def krt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_krt_dir(tmp_path_factory.mktemp("krt") / "handwritten")


@pytest.fixture
def start_nats_server(tmp_path: Path) -> Iterator[object]:
    """A factory of `serve --nats` processes, all stopped at the end of the test (a failed
    one too). Their temporary folder is the test's: what a killed one leaves (its
    ``kedro-krt-nats-*`` store) goes with the test's folder, not into the machine's /tmp."""
    started: list[ServerProcess] = []

    def start(source: Path, *args: str) -> ServerProcess:
        server = ServerProcess(source, tmp_path, "--nats", *args, env={"TMPDIR": str(tmp_path)})
        started.append(server)
        server.wait_status("SERVING", timeout=90)
        return server

    yield start
    for server in started:
        server.kill()
