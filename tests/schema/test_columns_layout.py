"""The columns layout of a table: one repeated field per column, through real generated classes.

Every round trip goes encode -> bytes -> parse -> decode and must give back the very frame
(dtypes, column names and order, nulls), as the rows layout does for the same schema.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kedro_krt.emit.proto import render_proto
from kedro_krt.node.schema.codec import CodecError, PresenceCheck, RowsCheck
from kedro_krt.node.schema.infer import infer_type, type_from_config
from kedro_krt.node.schema.types import Message, SchemaError, TypeSpec
from tests.schema.test_codec import every_dtype_frame, fields_of, wire


def columns(spec: TypeSpec | None) -> TypeSpec:
    assert spec is not None
    return replace(spec, layout="columns")


@pytest.mark.parametrize("n", [1, 3, 500])
def test_every_dtype_round_trip_in_both_layouts(build: Any, n: int) -> None:
    df = every_dtype_frame(n)
    rows = infer_type(every_dtype_frame(40))  # a sample with nulls in every nullable column
    cls, codec = build(fields_of(as_rows=rows, as_columns=columns(rows)))
    out = wire(cls, codec, {"as_rows": df, "as_columns": df})
    for name in ("as_rows", "as_columns"):
        pd.testing.assert_frame_equal(out[name], df, check_dtype=True, check_exact=True)
        assert list(out[name].columns) == list(df.columns)


def test_columns_message_is_one_repeated_field_per_column(build: Any) -> None:
    spec = columns(type_from_config({"table": {"x": "double", "n": "int64?"}}, where="w"))
    cls, codec = build(fields_of(t=spec))
    msg = codec.encode({"t": pd.DataFrame({"x": [1.5, 2.5], "n": pd.array([7, None], "Int64")})})
    # What a client sends: plain repeated fields, the null as a placeholder and false.
    assert list(msg.t.x) == [1.5, 2.5]
    assert list(msg.t.n) == [7, 0]
    assert list(msg.t.n_valid) == [True, False]
    # A client may leave the validity list out when no row is null.
    sent = cls()
    sent.t.x.extend([1.0])
    sent.t.n.extend([3])
    got = codec.decode(sent)["t"]
    assert got["n"].dtype == "Int64" and got["n"].tolist() == [3]


def test_timestamps_are_nanoseconds_and_nat_round_trips(build: Any) -> None:
    spec = columns(type_from_config({"table": {"t": "timestamp", "u": "timestamp?"}}, where="w"))
    cls, codec = build(fields_of(t=spec))
    t = pd.Series(pd.to_datetime(["2020-01-01", None, "1960-05-06 07:08:09.5"], format="ISO8601"))
    df = pd.DataFrame({"t": t.astype("datetime64[ns]"), "u": t.astype("datetime64[ns]")})
    msg = codec.encode({"t": df})
    assert msg.t.t[0] == pd.Timestamp("2020-01-01").value
    assert list(msg.t.u_valid) == [True, False, True]
    pd.testing.assert_frame_equal(codec.decode(cls.FromString(msg.SerializeToString()))["t"], df)


def test_empty_and_absent_table(build: Any) -> None:
    spec = columns(infer_type(every_dtype_frame(40)))
    cls, codec = build(fields_of(t=spec))
    empty = every_dtype_frame(40).iloc[:0].reset_index(drop=True)
    assert not codec.encode({"t": empty}).HasField("t")
    for got in (wire(cls, codec, {"t": empty})["t"], codec.decode(cls())["t"]):
        pd.testing.assert_frame_equal(
            got.drop(columns="cat"), empty.drop(columns="cat"), check_dtype=True
        )


def test_wrong_length_column_is_refused(build: Any) -> None:
    spec = columns(type_from_config({"table": {"a": "int64", "b": "string?"}}, where="w"))
    cls, codec = build(fields_of(t=spec))
    msg = cls()
    msg.t.a.extend([1, 2, 3])
    msg.t.b.extend(["x", "y"])
    with pytest.raises(CodecError, match=r"column 'b' has 2 value\(s\) and column 'a' has 3"):
        codec.decode(msg)
    # The same check guards a request table a node only passes on.
    with pytest.raises(CodecError, match="one value per row"):
        PresenceCheck(cls, spec_fields := fields_of(t=spec))(msg)
    assert spec_fields
    msg.t.b.append("z")
    msg.t.b_valid.extend([True])
    with pytest.raises(CodecError, match=r"'b_valid' has 1 value\(s\) for 3 row"):
        codec.decode(msg)


def test_null_in_non_optional_column_is_refused(build: Any) -> None:
    spec = columns(type_from_config({"table": {"name": "string", "n": "int64"}}, where="w"))
    _, codec = build(fields_of(t=spec))
    with pytest.raises(CodecError, match=r"'name' is null in row 1.*'string\?'"):
        codec.encode({"t": pd.DataFrame({"name": ["a", None], "n": [1, 2]})})
    with pytest.raises(CodecError, match=r"'n' is null in row 0.*'int64\?'"):
        codec.encode({"t": pd.DataFrame({"name": ["a"], "n": pd.array([None], "Int64")})})


def test_big_table_round_trip(build: Any) -> None:
    n = 20_000
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {
            "id": pd.Series([f"SH-{i:07d}" for i in range(n)], dtype="str"),
            "price": rng.random(n),
            "crew": rng.integers(-(2**62), 2**62, n),
            "ok": rng.random(n) < 0.5,
            "at": pd.to_datetime(rng.integers(0, 10**18, n), unit="ns", utc=True),
        }
    )
    cls, codec = build(fields_of(t=columns(infer_type(df))))
    pd.testing.assert_frame_equal(wire(cls, codec, {"t": df})["t"], df, check_exact=True)


def test_validity_numbers_and_names() -> None:
    spec = columns(type_from_config({"table": {"a": "int64?", "a_valid": "bool"}}, where="w"))
    from kedro_krt.node.schema.types import Field

    text = render_proto([Message("Req", (Field("t", "t", spec, 1),))])
    assert "repeated int64 a = 1;" in text
    assert "repeated bool a_valid = 2;" in text
    assert "repeated bool a_valid_2 = 10001;  // false: a is null" in text
    pinned = replace(spec, columns=(replace(spec.columns[0], number=9000), spec.columns[1]))
    with pytest.raises(SchemaError, match="below 9000"):
        render_proto([Message("Req", (Field("t", "t", pinned, 1),))])


def test_a_columns_table_with_no_value_is_no_row(build: Any) -> None:
    """The empty-request check in the columns layout: the table unset, or every list empty, is
    no row; one value in any list is a row (its other columns are checked where it decodes)."""
    spec = columns(type_from_config({"table": {"x": "double", "n": "int64?"}}, where="w"))
    spec = replace(spec, columns=tuple(replace(c, required=not c.optional) for c in spec.columns))
    fields = fields_of(t=spec)
    cls, _ = build(fields)
    check = RowsCheck(cls, fields)
    for empty in (cls(), cls(t={})):
        with pytest.raises(CodecError, match=r"\.t has no row: .* required field\(s\) x$"):
            check(empty)
    one = cls()
    one.t.n.extend([3])
    check(one)
