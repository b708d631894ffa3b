"""examples/handwritten_with_kedro: a hand-written KRT with a Kedro project as one node.

Built with `kedro-krt build` from the example's own krt-build.yml (real protoc, the trained
project copied in), validated, served with `kedro-krt serve FILE.krt` and called over real gRPC.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pandas as pd
import pytest

from kedro_krt.formats.archive import read_krt
from kedro_krt.handwritten import build_krt
from tests.e2e.e2e_helpers import BIN, ReflectedRpc, ServedKrt, as_parsed, kedro_reference
from tests.handwritten.build_helpers import example_copy

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "handwritten_with_kedro"
REQUEST = {
    "shuttle_type": "Type V5",
    "engine_type": "Quantum",
    "engines": 2,
    "passenger_capacity": 4,
    "crew": 2,
    "company_rating": 0.8,
    "launch_year": 2021,
}


@pytest.fixture(scope="module")
def krt_file(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`kedro-krt build` of the example, its krt-build.yml pointed at the trained project."""
    work = tmp_path_factory.mktemp("handwritten")
    name = "handwritten_with_kedro"
    source = example_copy(name, work / name, trained_project)
    return build_krt(source, work / "dist" / "shuttle-quote.krt").path


@pytest.fixture(scope="module")
def quote(krt_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReflectedRpc]:
    server = ServedKrt(krt_file, tmp_path_factory.mktemp("serve-handwritten"))
    try:
        server.wait_serving()
        rpc = ReflectedRpc(server.address, "Quote")
        yield rpc
        rpc.close()
    finally:
        server.stop()


def _expected(project: Path, request: dict, params: dict | None = None) -> pd.Series:
    """What Kedro itself quotes for the shuttle the request describes."""
    row = pd.DataFrame(
        {
            "shuttle_id": ["quote"],
            "shuttle_type": [request["shuttle_type"]],
            "engine_type": [request["engine_type"]],
            "engines": [request["engines"]],
            "passenger_capacity": [request["passenger_capacity"]],
            "crew": [request["crew"]],
            "d_check_complete": [True],
            "moon_clearance_complete": [True],
            "iata_approved": [True],
            "company_rating": [request.get("company_rating", math.nan)],
            "launched_at": [pd.Timestamp(year=request["launch_year"], month=1, day=1)],
        }
    )
    return kedro_reference(project, as_parsed(row), params).iloc[0]


def test_the_built_krt_is_valid(krt_file: Path) -> None:
    files = read_krt(krt_file)
    assert "kedro_project/conf/base/catalog.yml" in files
    assert not any(name.startswith("kedro_project/conf/local") for name in files)
    assert any(name.startswith("kedro_project/data/06_models/") for name in files)
    assert "lib/kedro_krt/node/runtime/session.py" in files
    assert {"docs/README.md", "requirements.txt", "Dockerfile"} <= set(files)
    assert not {"README.md", "krt-build.yml", ".krtignore"} & set(files)
    for node in ("price", "present"):
        assert f"src/{node}/public_input_pb2.py" in files
        assert f"src/{node}/internal_nodes_pb2.py" in files
    result = subprocess.run(
        [str(BIN / "kedro-krt"), "validate", str(krt_file)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors" in result.stdout


def test_quote_equals_the_kedro_run(quote: ReflectedRpc, trained_project: Path) -> None:
    reply = quote.call(REQUEST)
    expected = _expected(trained_project, REQUEST)
    assert reply.price == expected["price"]  # type: ignore[attr-defined]
    assert reply.band == expected["price_band"]  # type: ignore[attr-defined]
    assert reply.currency == "EUR"  # type: ignore[attr-defined]
    assert reply.text == (  # type: ignore[attr-defined]
        f"Type V5, 2 Quantum engines: {expected['price']:,.2f} EUR ({expected['price_band']})"
    )


def test_currency_and_unknown_rating(quote: ReflectedRpc, trained_project: Path) -> None:
    request = {k: v for k, v in REQUEST.items() if k != "company_rating"} | {"currency": "USD"}
    reply = quote.call(request)
    expected = _expected(trained_project, request, {"output": {"currency": "USD"}})
    assert reply.currency == "USD"  # type: ignore[attr-defined]
    assert reply.price == expected["price"]  # type: ignore[attr-defined]
    # The second message does not inherit the first one's currency.
    assert quote.call(REQUEST).currency == "EUR"  # type: ignore[attr-defined]


def test_a_bad_request_is_invalid_argument(quote: ReflectedRpc) -> None:
    with pytest.raises(grpc.RpcError) as info:
        quote.call({**REQUEST, "launch_year": 0})
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "launch_year" in (info.value.details() or "")
