"""The example made from the types (a hand-written KRT has no sample rows) is one that protobuf's
JSON parser takes for its message, whatever the fields' types; a sample-based example that does
not fit its message is not shown.

Before: a map with integer or bool keys got the key ``"key"``, and an Any named a type no
reader knows (``type.googleapis.com/package.Message``): sending either example unchanged was
refused before it reached a node.
"""

from __future__ import annotations

import json

from google.protobuf import descriptor_pool, json_format, message_factory

from kedro_krt.emit.examples import example_requests
from kedro_krt.emit.protoc import descriptor_set

PROTO = """
syntax = "proto3";
package entrypoint;
import "google/protobuf/any.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

service Entrypoint {
  rpc Ask (AskRequest) returns (AskResponse) {};
}
enum Colour { COLOUR_UNSET = 0; RED = 1; }
message AskRequest {
  message Item { string name = 1; optional int64 count = 2; repeated double weights = 3; }
  map<int64, string> by_id = 1;
  map<bool, double> by_flag = 2;
  map<string, Item> by_name = 3;
  google.protobuf.Any anything = 4;
  google.protobuf.Duration wait = 5;
  google.protobuf.FieldMask mask = 6;
  google.protobuf.Struct extra = 7;
  google.protobuf.Value value = 8;
  google.protobuf.Timestamp at = 9;
  google.protobuf.Int64Value wrapped = 10;
  Colour colour = 11;
  oneof choice { string text = 12; uint32 number = 13; }
  repeated Item items = 14;
  bytes blob = 15;
  map<uint32, Colour> colours = 16;
}
message AskResponse { string answer = 1; }
"""


def _examples(given: dict[str, str] | None = None) -> tuple[dict[str, dict[str, object]], type]:
    descriptors = descriptor_set({"public_input.proto": PROTO})
    pool = descriptor_pool.DescriptorPool()
    for f in descriptors.file:
        pool.Add(f)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("entrypoint.AskRequest"))
    return dict(example_requests(descriptors, given)), cls


def test_an_example_made_from_types_parses_as_its_message() -> None:
    examples, cls = _examples()
    example = examples["Ask"]
    message = json_format.ParseDict(example, cls())  # raises ParseError for an invalid one
    assert json_format.MessageToDict(message, preserving_proto_field_name=True) == example
    # Map keys are text in proto3 JSON, of the key's type.
    assert set(example["by_id"]) == {"1"} and set(example["by_flag"]) == {"true"}  # type: ignore[arg-type]
    assert set(example["colours"]) == {"1"} and set(example["by_name"]) == {"key"}  # type: ignore[arg-type]
    assert example["anything"] == {}


def test_a_given_example_is_shown_when_it_fits_and_replaced_when_it_does_not() -> None:
    fits = json.dumps({"items": [{"name": "x", "count": 3}]})
    examples, _ = _examples({"Ask": fits})
    assert examples["Ask"] == {"items": [{"name": "x", "count": "3"}]}
    wrong = json.dumps({"itemz": []})
    examples, _ = _examples({"Ask": wrong})
    assert "itemz" not in examples["Ask"] and "by_id" in examples["Ask"]
