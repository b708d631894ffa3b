"""Request columns that must be sent: proto3 presence instead of silent zeros."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kedro_krt.emit.proto import render_proto
from kedro_krt.emit.protoc import compile_protos, import_generated
from kedro_krt.node.schema.codec import CodecError, MessageCodec, RowsCheck
from kedro_krt.node.schema.types import Column, Field, Message, TypeSpec

COLUMNS = (
    Column("engines", "engines", "int64", False, "int64", required=True),
    Column("approved", "approved", "bool", False, "bool", required=True),
    Column("kind", "kind", "string", False, "str", required=True),
    Column("launched", "launched", "timestamp", False, "datetime64[ns]", required=True),
    Column("rating", "rating", "double", True, "float64"),
)
FIELD = Field("rows", "etl.rows", TypeSpec(kind="table", columns=COLUMNS, container="dataframe"), 1)


@pytest.fixture(scope="module")
def codec(tmp_path_factory: pytest.TempPathFactory) -> MessageCodec:
    text = render_proto([Message("Req", (FIELD,))])
    assert "optional int64 engines = 1;" in text  # presence, so "not sent" can be told from 0
    out = tmp_path_factory.mktemp("pb")
    compile_protos({"req_required.proto": text}, out, pyi=False)
    module = import_generated(Path(out) / "req_required_pb2.py", "req_required_pb2")
    return MessageCodec(module.Req, [FIELD])


def _frame(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "engines": [0] * n,  # zeros, false and "" are values and must survive
            "approved": [False] * n,
            "kind": [""] * n,
            "launched": pd.to_datetime(["2021-06-01"] * n).astype("datetime64[ns]"),
            "rating": [float("nan")] * n,
        }
    )


@pytest.mark.parametrize("rows", [1, 40])  # cell-by-cell and the numpy wire encoder
def test_zero_values_round_trip(codec: MessageCodec, rows: int) -> None:
    msg = codec.message_cls.FromString(codec.encode({"etl.rows": _frame(rows)}).SerializeToString())
    got = codec.decode(msg)["etl.rows"]
    pd.testing.assert_frame_equal(got, _frame(rows), check_dtype=True)


@pytest.mark.parametrize("column", ["engines", "approved", "kind", "launched"])
def test_a_column_not_sent_is_an_error_naming_it_and_the_row(
    codec: MessageCodec, column: str
) -> None:
    msg = codec.encode({"etl.rows": _frame(3)})
    msg.rows[2].ClearField(column)
    with pytest.raises(CodecError, match=rf"row 2 has no '{column}'"):
        codec.decode(msg)


def test_an_optional_column_not_sent_is_null(codec: MessageCodec) -> None:
    msg = codec.encode({"etl.rows": _frame(1)})
    msg.rows[0].ClearField("rating")
    assert pd.isna(codec.decode(msg)["etl.rows"]["rating"].iloc[0])


def test_a_request_with_no_row_is_refused_naming_the_required_fields(
    codec: MessageCodec,
) -> None:
    """Compile's `required` (a column with no null in the sample) is the one source: a table
    that has such columns must have a row; `{}` would reach the Kedro nodes as an empty frame."""
    check = RowsCheck(codec.message_cls, [FIELD])
    assert check
    with pytest.raises(CodecError) as info:
        check(codec.message_cls())
    assert str(info.value) == (
        "entrypoint.Req.rows has no row: send at least one, each with its required field(s) "
        "engines, "
        "approved, kind, launched"
    )
    check(codec.encode({"etl.rows": _frame(1)}))  # one row: nothing to say


def test_a_table_without_required_columns_may_be_empty(codec: MessageCodec) -> None:
    spec = TypeSpec(kind="table", columns=COLUMNS[-1:], container="dataframe")
    optional = Field("rows", "etl.rows", spec, 1)
    assert not RowsCheck(codec.message_cls, [optional])
