"""A dataset's inferred type against a hand-written field (protoc's descriptor): what fits,
what is adapted (names, presence), what is refused and why."""

from __future__ import annotations

import pandas as pd
import pytest

from kedro_krt.handwritten.protos import CompiledProtos
from kedro_krt.handwritten.typecheck import Mismatch, describe_field, fit, spec_from_field
from kedro_krt.node.schema.infer import infer_type

PROTO = """
syntax = "proto3";
package entrypoint;
import "google/protobuf/timestamp.proto";
import "google/protobuf/struct.proto";

message Row {
  string id = 1;
  int64 n = 2;
  optional double rating = 3;
  google.protobuf.Timestamp at = 4;
  string note = 5;
}
message Wrong { string id = 1; string n = 2; optional double rating = 3;
                google.protobuf.Timestamp at = 4; }
message Opts { optional double markup = 1; optional string currency = 2; }
message M {
  repeated Row rows = 1;
  repeated Wrong wrong = 2;
  repeated double prices = 3;
  int32 count = 4;
  optional string currency = 5;
  Opts opts = 6;
  google.protobuf.Struct extra = 7;
  string text = 8;
  repeated string names = 9;
}
"""


@pytest.fixture(scope="module")
def message() -> object:
    protos = CompiledProtos.compile({"m.proto": PROTO})
    descriptor, _ = protos.find_message("M")
    return descriptor


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["a", "b"],
            "n": [1, 2],
            "rating": [0.5, None],
            "at": pd.to_datetime(["2024-01-01", "2024-02-01"]),
        }
    )


def test_a_table_fits_a_row_message_and_takes_its_names_and_presence(message: object) -> None:
    fd = message.fields_by_name["rows"]  # type: ignore[attr-defined]
    fitted = fit(infer_type(_frame()), fd, "in")  # type: ignore[arg-type]
    columns = {c.original: c for c in fitted.spec.columns}
    assert [c.name for c in fitted.spec.columns] == ["id", "n", "rating", "at"]
    assert columns["rating"].optional and not columns["n"].optional
    assert not any(c.required for c in fitted.spec.columns)
    assert fitted.notes == ["Row fields note are not given to the pipeline"]


def test_a_column_of_another_type_is_refused_naming_both(message: object) -> None:
    fd = message.fields_by_name["wrong"]  # type: ignore[attr-defined]
    with pytest.raises(Mismatch) as info:
        fit(infer_type(_frame()), fd, "in")  # type: ignore[arg-type]
    assert "column 'n' is int64 in the dataset, Wrong.n is string" in str(info.value)


def test_a_missing_column_is_an_error_in_and_a_note_out(message: object) -> None:
    fd = message.fields_by_name["rows"]  # type: ignore[attr-defined]
    frame = _frame().assign(extra=[1.0, 2.0])
    with pytest.raises(Mismatch, match="Row has no field for column 'extra'"):
        fit(infer_type(frame), fd, "in")  # type: ignore[arg-type]
    fitted = fit(infer_type(frame), fd, "out")  # type: ignore[arg-type]
    assert "column 'extra' has no field in Row: it is left out" in fitted.notes


def test_scalars_lists_records_and_dicts(message: object) -> None:
    fields = message.fields_by_name  # type: ignore[attr-defined]
    assert fit(infer_type(pd.Series([1.5, 2.0])), fields["prices"], "out").spec.kind == "list"
    assert fit(infer_type(3), fields["count"], "in").spec.scalar == "int64"  # int32 is an int
    assert fit(infer_type("EUR"), fields["currency"], "in").spec.scalar == "string"
    record = fit(infer_type({"markup": 0.1, "currency": "EUR"}), fields["opts"], "in")
    assert [f.name for f in record.spec.fields] == ["markup", "currency"]
    assert fit(infer_type({1: "x"}), fields["extra"], "out").spec.kind == "struct"
    with pytest.raises(Mismatch, match="a list needs a repeated field"):
        fit(infer_type(pd.Series([1.5])), fields["text"], "out")
    with pytest.raises(Mismatch, match="not repeated"):
        fit(infer_type("x"), fields["names"], "out")
    with pytest.raises(Mismatch, match="a table needs a repeated field of a row message"):
        fit(infer_type(_frame()), fields["prices"], "out")


def test_an_untyped_dataset_is_read_as_the_field_declares_it(message: object) -> None:
    fields = message.fields_by_name  # type: ignore[attr-defined]
    table = spec_from_field(fields["rows"])
    assert [(c.name, c.kind, c.optional) for c in table.columns][:3] == [
        ("id", "string", False),
        ("n", "int64", False),
        ("rating", "double", True),
    ]
    assert describe_field(fields["rows"]) == "repeated Row"
    assert describe_field(fields["currency"]) == "optional string"
    assert describe_field(fields["extra"]) == "google.protobuf.Struct"
