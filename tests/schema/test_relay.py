"""Relaying fields between message types as bytes (no decode, no re-encode)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kedro_krt.emit.protoc import compile_protos, import_generated
from kedro_krt.node.schema.relay import Relay, same_layout

PROTO = """
syntax = "proto3";
package relaytest;
import "google/protobuf/timestamp.proto";
message Request {
  message RowsRow { optional int64 engines = 1; string kind = 2; google.protobuf.Timestamp at = 3; }
  message Params { optional double markup = 1; }
  repeated RowsRow rows = 1;
  Params parameters = 2;
}
message Between {
  message FeaturesRow { double x = 1; }
  message RowsRow { int64 engines = 1; string kind = 2; google.protobuf.Timestamp at = 3; }
  message Params { optional double markup = 1; }
  repeated FeaturesRow features = 1;
  repeated RowsRow rows = 2;
  Params parameters = 3;
}
message Other {
  message RowsRow { int64 engines = 2; string kind = 1; google.protobuf.Timestamp at = 3; }
  repeated RowsRow rows = 1;
}
"""


@pytest.fixture(scope="module")
def pb(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("relay")
    compile_protos({"relaytest.proto": PROTO}, out, pyi=False)
    return import_generated(Path(out) / "relaytest_pb2.py", "relaytest_pb2")


def test_layouts_compare_numbers_and_types_not_presence(pb) -> None:  # type: ignore[no-untyped-def]
    req_row = pb.Request.DESCRIPTOR.nested_types_by_name["RowsRow"]
    between_row = pb.Between.DESCRIPTOR.nested_types_by_name["RowsRow"]
    other_row = pb.Other.DESCRIPTOR.nested_types_by_name["RowsRow"]
    assert same_layout(req_row, between_row)  # `optional` differs: same bytes
    assert not same_layout(req_row, other_row)  # numbers swapped: different bytes
    assert Relay.compatible(pb.Request, pb.Between, "rows")
    assert not Relay.compatible(pb.Request, pb.Other, "rows")
    assert not Relay.compatible(pb.Request, pb.Between, "features")  # not in the source


def test_rows_and_a_record_arrive_under_the_destination_numbers(pb) -> None:  # type: ignore[no-untyped-def]
    src = pb.Request()
    for engines, kind in [(0, ""), (2, "Type V5"), (4, "Type F5")]:
        row = src.rows.add(engines=engines, kind=kind)
        row.at.seconds = 1_600_000_000 + engines
    src.parameters.markup = 0.0  # a present zero must stay present
    dst = pb.Between()
    dst.features.add(x=1.5)  # fields the node encoded itself are kept
    Relay(pb.Request, pb.Between, ["rows", "parameters"]).copy(src, dst)
    again = pb.Between.FromString(dst.SerializeToString())
    assert [(r.engines, r.kind, r.at.seconds) for r in again.rows] == [
        (0, "", 1_600_000_000),
        (2, "Type V5", 1_600_000_002),
        (4, "Type F5", 1_600_000_004),
    ]
    assert again.parameters.HasField("markup") and again.parameters.markup == 0.0
    assert [f.x for f in again.features] == [1.5]


def test_unset_fields_are_not_invented(pb) -> None:  # type: ignore[no-untyped-def]
    dst = pb.Between()
    Relay(pb.Request, pb.Between, ["rows", "parameters"]).copy(pb.Request(), dst)
    assert not dst.HasField("parameters") and len(dst.rows) == 0
