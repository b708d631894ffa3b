"""The packaged example served (in-process, and `--nats`: a real nats-server and one runner per
node) refuses a request Timestamp it cannot decode, naming the row and the field, and still
answers the valid sample byte for byte as before.

Before: seconds = 2**63-1 answered ``INTERNAL: error in 'etl': Python int too large to convert to
C long`` in both modes, and year 10000 or nanos = -1 were answered as if valid.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pandas as pd
import pytest
from google.protobuf import json_format

from tests.e2e.e2e_helpers import ReflectedRpc, ServedKrt, as_parsed, request_json, rpc_error
from tests.runtime.test_node import BAD

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module", params=["in-process", "nats"])
def inference(
    request: pytest.FixtureRequest, example_krt: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, ReflectedRpc]]:
    mode = str(request.param)
    args = ("--nats",) if mode == "nats" else ()
    server = ServedKrt(example_krt, tmp_path_factory.mktemp(f"ts-serve-{mode}"), *args)
    try:
        server.wait_serving()
        rpc = ReflectedRpc(server.address, "Inference")
        yield mode, rpc
        rpc.close()
    finally:
        server.stop()


def _refusal_code(mode: str) -> grpc.StatusCode:
    """In-process a refused request is INVALID_ARGUMENT. Under --nats a node's refusal travels as
    KRE carries every node error (KreNatsMessage.error) and the entrypoint answers INTERNAL with
    the same text (kre-entrypoint 1.8.1; see tests/e2e/test_serve_example.py)."""
    return grpc.StatusCode.INTERNAL if mode == "nats" else grpc.StatusCode.INVALID_ARGUMENT


def test_an_out_of_range_timestamp_is_refused_naming_row_and_field(
    inference: tuple[str, ReflectedRpc], trained_project: Path
) -> None:
    mode, rpc = inference
    sample = as_parsed(pd.read_csv(trained_project / "data" / "01_raw" / "sample_shuttles.csv"))
    valid = rpc.call(request_json(sample)).SerializeToString()
    for case, (seconds, nanos, says) in BAD.items():
        request = rpc.request_cls()
        json_format.ParseDict(request_json(sample), request)
        stamp = request.shuttles[1].launched_at  # type: ignore[attr-defined]
        stamp.seconds, stamp.nanos = seconds, nanos
        err = rpc_error(rpc, request.SerializeToString())
        details = err.details() or ""
        assert err.code() == _refusal_code(mode), (case, err.code(), details)
        assert "row 1, column 'launched_at'" in details and says in details, (case, details)
        assert "Python int too large" not in details
    assert rpc.call(request_json(sample)).SerializeToString() == valid
