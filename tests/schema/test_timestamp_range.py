"""A google.protobuf.Timestamp a codec cannot decode is the caller's error, named, never a crash.

protobuf's range is 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z with nanos in
[0, 999999999] (google/protobuf/internal/well_known_types.py, what its JSON mapping checks); a
decoded timestamp goes through pandas' int64 nanoseconds, 1677-09-21 to 2262-04-11.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import pytest
from google.protobuf import json_format

from kedro_krt.node.schema.codec import CodecError, MessageCodec, PresenceCheck
from kedro_krt.node.schema.infer import infer_type
from kedro_krt.node.schema.types import Field

Build = Callable[[Sequence[Field]], tuple[Any, MessageCodec]]

#: (seconds, nanos, what the error says) of Timestamps that cannot be decoded.
BAD = {
    "seconds 2**63-1": (2**63 - 1, 0, "Seconds 9223372036854775807 must be in range"),
    "year 10000": (253_402_300_800, 0, "must be in range [-62135596800, 253402300799]"),
    "year 0": (-62_135_596_801, 0, "must be in range [-62135596800, 253402300799]"),
    "nanos -1": (1_600_000_000, -1, "Nanos -1 must be in range [0, 999999999]"),
    "nanos 10**9": (1_600_000_000, 10**9, "Nanos 1000000000 must be in range [0, 999999999]"),
    # valid for protobuf, outside pandas' nanoseconds
    "year 1500": (-14_831_769_600, 0, "1500-01-01T00:00:00.000000000Z is outside the range"),
    "year 9999": (253_402_300_799, 999_999_999, "9999-12-31T23:59:59.999999999Z is outside"),
    "pandas min - 1 ns": (-9_223_372_037, 145_224_192, "pandas' nanosecond timestamps"),
    "pandas max + 1 ns": (9_223_372_036, 854_775_808, "pandas' nanosecond timestamps"),
}
INVALID_FOR_PROTOBUF = {"seconds 2**63-1", "year 10000", "year 0", "nanos -1", "nanos 10**9"}
#: The first and last nanosecond pandas holds: close to the limits, still decoded.
EDGES = [(-9_223_372_037, 145_224_193), (9_223_372_036, 854_775_807)]


def _field(value: Any, name: str = "x") -> Field:
    spec = infer_type(value)
    assert spec is not None
    return Field(name, name, spec, 1)


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "n": [1, 2, 3],
            "when": pd.to_datetime(["2021-01-01", "2022-01-01", "2023-01-01"]),
        }
    )


@pytest.fixture
def table(build: Build) -> tuple[Any, MessageCodec]:
    return build([_field(_table())])


@pytest.mark.parametrize("case", list(BAD))
def test_a_table_cell_out_of_range_names_its_row_and_column(
    table: tuple[Any, MessageCodec], case: str
) -> None:
    cls, codec = table
    seconds, nanos, says = BAD[case]
    msg = codec.encode({"x": _table()})
    msg.x[2].when.seconds, msg.x[2].when.nanos = seconds, nanos
    msg = cls.FromString(msg.SerializeToString())  # as the server receives it
    with pytest.raises(CodecError) as info:
        codec.decode(msg)
    text = str(info.value)
    assert "Req.x: row 2, column 'when', is Timestamp(" in text, text
    assert says in text, text
    # Refused where it enters when the node only passes the table on, with the same words.
    check = PresenceCheck(cls, [_field(_table())])
    with pytest.raises(CodecError) as passed_on:
        check(msg)
    assert str(passed_on.value) == text


def test_an_optional_timestamp_column_is_checked_too(build: Build) -> None:
    df = _table().astype({"when": "datetime64[ns]"})
    df.loc[0, "when"] = pd.NaT
    cls, codec = build([_field(df)])
    msg = codec.encode({"x": df})
    assert not msg.x[0].HasField("when")
    msg.x[1].when.nanos = -1
    with pytest.raises(CodecError, match=r"row 1, column 'when', .*Nanos -1"):
        codec.decode(msg)
    with pytest.raises(CodecError, match=r"row 1, column 'when', .*Nanos -1"):
        PresenceCheck(cls, [_field(df)])(msg)


def test_the_first_and_last_nanosecond_of_pandas_decode(build: Build) -> None:
    df = _table().astype({"when": "datetime64[ns]"})
    cls, codec = build([_field(df)])
    msg = codec.encode({"x": df})
    for (seconds, nanos), row in zip(EDGES, msg.x, strict=False):
        row.when.seconds, row.when.nanos = seconds, nanos
    PresenceCheck(cls, [_field(df)])(msg)
    got = codec.decode(msg)["x"]["when"]
    assert list(got) == [pd.Timestamp.min, pd.Timestamp.max, df["when"][2]]


@pytest.mark.parametrize("case", list(BAD))
def test_a_scalar_out_of_range_names_its_field(build: Build, case: str) -> None:
    cls, codec = build([_field(pd.Timestamp("2021-01-01"), "when")])
    seconds, nanos, says = BAD[case]
    msg = cls()
    msg.when.seconds, msg.when.nanos = seconds, nanos
    with pytest.raises(CodecError, match=r"Req\.when is Timestamp\(") as info:
        codec.decode(msg)
    assert says in str(info.value)


@pytest.mark.parametrize("case", list(BAD))
def test_a_list_item_out_of_range_names_its_index(build: Build, case: str) -> None:
    values = [pd.Timestamp("2021-01-01"), pd.Timestamp("2022-01-01")]
    _, codec = build([_field(values, "whens")])
    seconds, nanos, says = BAD[case]
    msg = codec.encode({"whens": values})
    msg.whens[1].seconds, msg.whens[1].nanos = seconds, nanos
    with pytest.raises(CodecError, match=r"Req\.whens\[1\] is Timestamp\(") as info:
        codec.decode(msg)
    assert says in str(info.value)


def test_protobuf_json_refuses_what_the_codec_refuses(build: Build) -> None:
    """The protobuf range is protobuf's own: its JSON printer refuses the same values."""
    cls, _ = build([_field(pd.Timestamp("2021-01-01"), "when")])
    for case, (seconds, nanos, _says) in BAD.items():
        msg = cls()
        msg.when.seconds, msg.when.nanos = seconds, nanos
        if case in INVALID_FOR_PROTOBUF:
            with pytest.raises((ValueError, json_format.Error), match="Timestamp is not valid"):
                json_format.MessageToJson(msg)
        else:
            json_format.MessageToJson(msg)  # valid protobuf, refused for pandas' range only
