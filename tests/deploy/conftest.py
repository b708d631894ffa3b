"""Fixtures of the deploy tests: KRE's admin API stood in for on 127.0.0.1, and .krt files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kedro_krt.formats.archive import write_krt
from tests.deploy.kre_admin_fake import TAGS, FakeKre

MANIFEST = """\
version: price-estimator-v1
description: Estimates prices
entrypoint:
  proto: public_input.proto
  image: konstellation/kre-entrypoint:1.8.1
config:
  variables: [{variables}]
nodes:
  - name: etl
    image: registry.example.com/team/kre-py:2.1.5
    src: src/etl/main.py
workflows:
  - name: estimate
    entrypoint: Predict
    sequential: [{sequential}]
"""

PROTO = """\
syntax = "proto3";
package entrypoint;

message Request {
  double surface = 1;
}

message Response {
  double price = 1;
}

service Entrypoint {
  rpc Predict (Request) returns (Response) {};
}
"""

MAIN = """\
from public_input_pb2 import Response


async def handler(ctx, data):
    return Response(price=1.0)
"""

MakeKrt = Callable[..., Path]


@pytest.fixture(params=TAGS)
def kre(request: pytest.FixtureRequest) -> Iterator[FakeKre]:
    """KRE's admin API with the schema of each KRE release that runs KRT v1. Any request that
    breaks the contract fails the test."""
    fake = FakeKre(tag=request.param)
    fake.start()
    yield fake
    fake.stop()
    assert fake.violations == [], "requests that break KRE's contract:\n" + "\n".join(
        fake.violations
    )


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Polls and retries without the real pauses (their schedule is not what is tested)."""
    import kedro_krt.deploy.client as client
    import kedro_krt.deploy.flow as flow

    monkeypatch.setattr(flow, "POLL_INTERVAL", 0.01)
    monkeypatch.setattr(flow, "MAX_POLL_INTERVAL", 0.02)
    monkeypatch.setattr(client, "RETRY_BACKOFF", 0.01)


@pytest.fixture
def make_krt(tmp_path: Path) -> MakeKrt:
    """A valid .krt (one node, one workflow) whose krt.yml declares ``variables``."""

    def build(
        variables: tuple[str, ...] = ("OUTPUT_CURRENCY",),
        version: str = "price-estimator-v1",
        sequential: str = "etl",
    ) -> Path:
        manifest = MANIFEST.format(variables=", ".join(variables), sequential=sequential)
        manifest = manifest.replace("price-estimator-v1", version)
        files = {
            "krt.yml": manifest.encode(),
            "public_input.proto": PROTO.encode(),
            "src/etl/main.py": MAIN.encode(),
        }
        return write_krt(files, tmp_path / f"{version}.krt")

    return build
