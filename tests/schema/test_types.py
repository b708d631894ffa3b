from __future__ import annotations

import json
import re

import pytest

from kedro_krt.node.schema.infer import infer_type, type_from_config
from kedro_krt.node.schema.types import (
    Column,
    Field,
    Message,
    SchemaError,
    TypeSpec,
    json_name,
    to_identifier,
    to_message_name,
    unique_identifiers,
)

IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("price", "price"),
        ("Engine Type", "engine_type"),
        ("EngineType", "engine_type"),
        ("HTTPServer", "http_server"),
        ("2nd", "_2nd"),
        ("class", "class_"),
        ("message", "message_"),
        ("int64", "int64_"),
        ("ds.price", "ds__price"),
        ("ny-room.price", "ny_room__price"),
        ("précio", "precio"),
        ("価格", "field"),
        ("a  b", "a_b"),
        ("", "field"),
    ],
)
def test_to_identifier(name: str, expected: str) -> None:
    assert to_identifier(name) == expected
    assert IDENT.match(to_identifier(name))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ny-room.price", "NyRoomPrice"),
        ("shuttles", "Shuttles"),
        ("model_input_table", "ModelInputTable"),
        ("2nd", "M2nd"),
        ("value", "Value_"),
        ("", "Message"),
    ],
)
def test_to_message_name(name: str, expected: str) -> None:
    assert to_message_name(name) == expected


def test_unique_identifiers_disambiguates_deterministically() -> None:
    got = unique_identifiers(["a b", "a_b", "A B", "a.b", "a__b", "x"])
    # "a.b" -> "a__b" has the JSON name "aB" like "a_b", so it moves on to the first free suffix
    assert got == {
        "a b": "a_b",
        "a_b": "a_b_2",
        "A B": "a_b_3",
        "a.b": "a__b_4",
        "a__b": "a_b_5",
        "x": "x",
    }
    # JSON names (what protoc checks for conflicts) are distinct too
    assert len({json_name(v).lower() for v in got.values()}) == len(got)
    assert unique_identifiers(["a b", "a_b"]) == unique_identifiers(["a b", "a_b"])


def test_unique_identifiers_json_name_collision() -> None:
    got = unique_identifiers(["a2", "a 2"])  # a2 and a_2 are both "a2" in JSON
    assert got == {"a2": "a2", "a 2": "a_2_2"}


def test_typespec_json_round_trip() -> None:
    import pandas as pd

    df = pd.DataFrame({"Engine Type": ["a", None], "n": [1, 2]})
    specs = [
        infer_type(df),
        infer_type(pd.Series([1.0], name="price")),
        infer_type({"depth": 3, "name": "x", "inner": {"a": 1.5}}),
        type_from_config("struct", where="t"),
        type_from_config("value", where="t"),
        type_from_config("double?", where="t"),
    ]
    for spec in specs:
        assert spec is not None
        data = json.loads(json.dumps(spec.to_json()))
        assert TypeSpec.from_json(data) == spec
    msg = Message("Req", (Field("shuttles", "shuttles", specs[0], 1),), doc="d")  # type: ignore[arg-type]
    assert Message.from_json(json.loads(json.dumps(msg.to_json()))) == msg


def test_describe() -> None:
    table = TypeSpec(kind="table", columns=(Column("a", "a", "double", False, "float64"),) * 12)
    assert table.describe("shuttles") == "repeated ShuttlesRow (12 columns)"
    assert TypeSpec(kind="scalar", scalar="double").describe() == "double"
    assert TypeSpec(kind="scalar", scalar="bool", optional=True).describe() == "optional bool"
    assert TypeSpec(kind="scalar", scalar="timestamp").describe() == "google.protobuf.Timestamp"
    assert TypeSpec(kind="list", scalar="int64").describe() == "repeated int64"
    assert TypeSpec(kind="value").describe() == "google.protobuf.Value"
    assert TypeSpec(kind="struct").describe() == "google.protobuf.Struct"


def test_typespec_rejects_bad_kind() -> None:
    with pytest.raises(SchemaError, match="scalar kind"):
        TypeSpec(kind="list", scalar="float")  # type: ignore[arg-type]
