"""examples/kedro_between_handwritten: a node made from a Kedro pipeline between two
hand-written Python nodes, and a Go node in a workflow of its own.

Built with `kedro-krt build` (the example's krt-build.yml, pointed at the trained project),
served with `kedro-krt serve FILE.krt` in-process and with `--nats` (a real nats-server, one
runner process per node), and called over gRPC. The quotes equal Kedro's own run of the
pipeline on the shuttles node intake passes on; the Go node's workflow is not served here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pandas as pd
import pytest

from kedro_krt.handwritten import build_krt
from tests.e2e.e2e_helpers import ReflectedRpc, ServedKrt, as_parsed, kedro_reference
from tests.handwritten.build_helpers import example_copy

pytestmark = pytest.mark.slow

SHUTTLES = [
    {
        "shuttle_type": "Type V5",
        "engine_type": "Quantum",
        "engines": 2,
        "passenger_capacity": 4,
        "crew": 2,
        "d_check_complete": True,
        "moon_clearance_complete": False,
        "iata_approved": True,
        "company_rating": 0.82,
        "launched_at": "2021-06-01T00:00:00Z",
    },
    {
        "shuttle_id": "F5-7",
        "shuttle_type": "Type F5",
        "engine_type": "Plasma",
        "engines": 1,
        "passenger_capacity": 2,
        "crew": 1,
        "d_check_complete": False,
        "moon_clearance_complete": False,
        "iata_approved": True,
        "launched_at": "2016-03-14T09:30:00Z",
    },
]


@pytest.fixture(scope="module")
def fleet_krt(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("fleet")
    name = "kedro_between_handwritten"
    source = example_copy(name, work / name, trained_project)
    return build_krt(source, work / "dist" / "shuttle-fleet.krt").path


@pytest.fixture(scope="module", params=["in-process", "nats"])
def served(
    request: pytest.FixtureRequest, fleet_krt: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedKrt]:
    args = ("--nats",) if request.param == "nats" else ()
    server = ServedKrt(fleet_krt, tmp_path_factory.mktemp(f"serve-fleet-{request.param}"), *args)
    try:
        yield server.wait_serving(120)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def quote_fleet(served: ServedKrt) -> Iterator[ReflectedRpc]:
    rpc = ReflectedRpc(served.address, "QuoteFleet")
    yield rpc
    rpc.close()


def _expected(project: Path, customer: str, params: dict[str, Any] | None) -> pd.DataFrame:
    """Kedro's own run on the table node intake makes: ids filled in as it fills them."""
    rows = []
    for number, shuttle in enumerate(SHUTTLES, 1):
        row = {"shuttle_id": f"{customer}-{number}", "company_rating": float("nan"), **shuttle}
        row["launched_at"] = pd.Timestamp(shuttle["launched_at"]).tz_localize(None)
        rows.append(row)
    frame = pd.DataFrame(rows)[
        [
            "shuttle_id", "shuttle_type", "engine_type", "engines", "passenger_capacity",
            "crew", "d_check_complete", "moon_clearance_complete", "iata_approved",
            "company_rating", "launched_at",
        ]
    ]
    return kedro_reference(project, as_parsed(frame), params)


@pytest.mark.parametrize(
    ("currency", "params"),
    [(None, None), ("usd", {"output": {"currency": "USD"}})],
    ids=["project-currency", "requested-currency"],
)
def test_quotes_equal_the_kedro_run(
    quote_fleet: ReflectedRpc, trained_project: Path, currency: str | None, params: Any
) -> None:
    request: dict[str, Any] = {"customer": "ACME", "shuttles": SHUTTLES}
    if currency is not None:
        request["currency"] = currency
    reply: Any = quote_fleet.call(request)
    expected = _expected(trained_project, "ACME", params)
    assert [q.shuttle_id for q in reply.quotes] == ["ACME-1", "F5-7"]
    assert [q.price for q in reply.quotes] == [float(p) for p in expected["price"]]
    assert [q.price_band for q in reply.quotes] == list(expected["price_band"])
    assert [q.currency for q in reply.quotes] == list(expected["currency"])
    # customer travelled from intake's Fleet to present through the generated node.
    assert reply.customer == "ACME"
    assert reply.total == round(float(expected["price"].sum()), 2)
    assert reply.summary == f"2 shuttles for ACME: {reply.total:,.2f} {reply.currency}"


def test_the_go_nodes_workflow_is_not_served(served: ServedKrt) -> None:
    audit = ReflectedRpc(served.address, "AuditFleet")  # declared in the proto all the same
    try:
        with pytest.raises(grpc.RpcError) as info:
            audit.call({"customer": "ACME", "shuttles": SHUTTLES})
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        audit.close()
    assert "workflow 'fleet-audit' (rpc AuditFleet) is not served" in served.logs()
