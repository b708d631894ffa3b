"""The runner's line protocol against influxdb-client's own: the same bytes reach InfluxDB."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from influxdb_client import Point as InfluxPoint

from kedro_krt.node.runner.context_base import InfluxPoints, influx_point
from kedro_krt.node.runner.line_protocol import line
from kedro_krt.node.runtime.context_base import Point

UTC = dt.timezone.utc
WHEN = dt.datetime(2026, 12, 7, 22, 51, 3, 123456, tzinfo=UTC)

POINTS = [
    # The runner's elapsed-time point (node_v1.py / node_v2.py).
    ("node_elapsed_time", {"elapsed_ms": 1.234}, {"node": "n1", "version": "v1"}),
    ("m", {"f": 1.0, "i": 3, "b": True, "s": 'say "hi" \\ there'}, {}),
    ("with space,comma", {"key with=sign": -0.5}, {"t,a g": "v=a l,ue"}),
    ("m", {"big": 10**20, "neg": -7, "f": 1e-300, "g": 1e300, "no": False}, {"x": "ends\\"}),
    ("m", {"nan": float("nan"), "inf": float("inf"), "ok": 2.5}, {"none": None, "e": ""}),
    ("m", {"none": None, "v": 1}, {"k": 3, "b": True, "f": 1.5}),
    ("m\nline\ttab\rcr", {"f\n": "a\nb"}, {"t\t": "v\r"}),
]

TIMES = [
    WHEN,
    WHEN.replace(tzinfo=None),  # naive: UTC, as influxdb-client takes it
    WHEN.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30))),
    dt.datetime(1969, 7, 20, 20, 17, 40, 999999, tzinfo=UTC),
]


def _influx(measurement: str, fields: Any, tags: Any, when: Any, precision: str) -> str:
    return str(influx_point(Point(measurement, fields, tags, when, precision)))


@pytest.mark.parametrize("precision", ["ns", "us", "ms", "s"])
@pytest.mark.parametrize("when", TIMES)
@pytest.mark.parametrize("point", POINTS)
def test_same_line_as_influxdb_client(point: Any, when: dt.datetime, precision: str) -> None:
    measurement, fields, tags = point
    ours = line(measurement, fields, tags, when, precision)
    assert ours is not None
    assert ours == _influx(measurement, fields, tags, when, precision)


@pytest.mark.parametrize(
    "measurement, fields, tags, when",
    [
        ("#comment", {"v": 1}, {}, WHEN),  # influxdb-client warns
        ("m", {"v": None}, {}, WHEN),  # no field: influxdb-client writes nothing
        ("m", {"v": Decimal("1.5")}, {}, WHEN),
        ("m", {"v": 1}, {}, 1_700_000_000),  # an int time: influxdb-client's to take
        ("m", {"v": 1}, {"k": object()}, WHEN),
        ("m", {1: 1, "a": 2}, {}, WHEN),  # keys that do not sort
    ],
)
def test_left_to_influxdb_client(measurement: str, fields: Any, tags: Any, when: Any) -> None:
    assert line(measurement, fields, tags, when, "ns") is None


class _WriteApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[bytes]]] = []

    def write(self, bucket: str, org: str, records: list[Any], write_precision: str) -> None:
        lines = [
            (r.to_line_protocol() if isinstance(r, InfluxPoint) else r).encode()
            for r in records
        ]
        self.calls.append((write_precision, lines))


def test_influx_points_send_writes_what_influxdb_client_would() -> None:
    """One write per precision, each point's bytes influxdb-client's own."""
    points = [
        Point("a", {"v": 1.5}, {"version": "v1"}, WHEN, "ns"),
        Point("b", {"v": Decimal("2.5")}, {"version": "v1"}, WHEN, "ns"),
        Point("c", {"v": 3}, {"version": "v1"}, WHEN, "ms"),
    ]
    sink = InfluxPoints.__new__(InfluxPoints)
    api = _WriteApi()
    sink._write_api = api
    sink._config = type("C", (), {"runtime_id": "rt"})()
    sink.send(points)
    expected: dict[str, list[bytes]] = {}
    for p in points:
        expected.setdefault(p.precision, []).append(str(influx_point(p)).encode())
    assert dict(api.calls) == expected


def test_influx_points_has_its_client_before_the_first_point() -> None:
    """influxdb-client is imported and its client made when the runner starts, not on the
    first flush (whose import held the GIL while the first messages were handled). Making the
    client does not connect: the address may not answer yet."""
    config = type("C", (), {"runtime_id": "rt", "influx_uri": "http://127.0.0.1:1"})()
    sink = InfluxPoints(config)  # type: ignore[arg-type]
    try:
        assert sink._write_api is not None
    finally:
        sink.close()
