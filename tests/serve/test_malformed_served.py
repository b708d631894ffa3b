"""The packaged example served (in-process, and `--nats`: a real nats-server and one runner per
node) answers malformed requests of every kind (tests/serve/malformed.py) without INTERNAL,
refuses each as INVALID_ARGUMENT naming the field, and still answers the valid sample byte for
byte as before.

Before: under --nats every refusal a node made was INTERNAL (the runner sent only KRE's error
text); an empty request, an infinite rating and a negative markup were INTERNAL in both modes;
seconds = 2**63-1 answered ``INTERNAL: error in 'etl': Python int too large to convert to C long``
in both modes, and year 10000 or nanos = -1 were answered as if valid.
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
from tests.serve.malformed import KINDS, Requests, cases, send

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
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (mode, case, err.code(), details)
        assert "row 1, column 'launched_at'" in details and says in details, (case, details)
        assert "Python int too large" not in details
    assert rpc.call(request_json(sample)).SerializeToString() == valid


#: Three of each kind: every kind, a few seconds per mode.
COUNT = 3 * len(KINDS)


def test_malformed_requests_are_never_internal(
    inference: tuple[str, ReflectedRpc], trained_project: Path
) -> None:
    mode, rpc = inference
    sample = as_parsed(pd.read_csv(trained_project / "data" / "01_raw" / "sample_shuttles.csv"))
    requests = Requests(rpc.request_cls, rpc.response_cls, request_json(sample))
    valid = rpc.call_bytes(requests.valid())
    outcome = send(rpc.call_bytes, cases(requests, COUNT, seed=20), threads=4)
    assert not outcome.broken, (mode, outcome.broken)
    assert "INTERNAL" not in outcome.codes and "DEADLINE_EXCEEDED" not in outcome.codes
    assert len(outcome.by_kind) == len(KINDS)
    assert rpc.call_bytes(requests.valid()) == valid
