"""Fixtures of the end-to-end tests: one `kedro-krt serve` of the example .krt per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import ReflectedRpc, ServedKrt


@pytest.fixture(scope="module")
def served_example(
    example_krt: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedKrt]:
    """The packaged example served on a free loopback port; stopped whatever happens."""
    server = ServedKrt(example_krt, tmp_path_factory.mktemp("serve-example"))
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
