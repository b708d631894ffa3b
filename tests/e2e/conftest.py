"""Fixtures of the end-to-end tests: one `kedro-krt serve` of the example .krt per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.e2e_helpers import ReflectedRpc, ServedKrt


@pytest.fixture(scope="module", params=["in-process", "nats"])
def serve_mode(request: pytest.FixtureRequest) -> str:
    """Every test of the served example runs against both back ends of `kedro-krt serve`:
    in-process, and `--nats` (a real nats-server, one runner process per node)."""
    return str(request.param)


@pytest.fixture(scope="module")
def served_example(
    example_krt: Path, tmp_path_factory: pytest.TempPathFactory, serve_mode: str
) -> Iterator[ServedKrt]:
    """The packaged example served on a free loopback port; stopped whatever happens."""
    args = ("--nats",) if serve_mode == "nats" else ()
    server = ServedKrt(example_krt, tmp_path_factory.mktemp(f"serve-example-{serve_mode}"), *args)
    try:
        yield server.wait_serving()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def inference(served_example: ServedKrt) -> Iterator[ReflectedRpc]:
    """A gRPC client of rpc Inference."""
    rpc = ReflectedRpc(served_example.address, "Inference")
    yield rpc
    rpc.close()
