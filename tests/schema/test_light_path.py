"""The per-message shortcuts of the codec give exactly what pandas' public constructors give.

Frames, Series, datetime and string columns are built without pandas' per-call inference when
the schema fixes the dtypes (kedro_krt/node/schema/table_codec.py, codec.py); each shortcut is kept
only if it matches the public constructor on probe values. These tests hold the decoded values
to the public constructors on real data, nulls included, in both table layouts.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kedro_krt.node.schema.infer import infer_type
from kedro_krt.node.schema.pandas_private import numeric_series_builder
from kedro_krt.node.schema.table_codec import (
    ColumnsCodec,
    TableCodec,
    _column_restorer,
    ns_to_datetime_array,
)
from tests.schema.test_codec import every_dtype_frame, fields_of, wire


@pytest.mark.parametrize("layout", ["rows", "columns"])
@pytest.mark.parametrize("n", [0, 1, 2, 7])
def test_frames_equal_the_public_constructor(build: Any, layout: str, n: int) -> None:
    spec = replace(infer_type(every_dtype_frame(40)), layout=layout)  # type: ignore[arg-type,type-var]
    cls, _ = build(fields_of(t=spec))
    fd = cls.DESCRIPTOR.fields_by_name["t"]
    codec = (ColumnsCodec if layout == "columns" else TableCodec)(
        fields_of(t=spec)[0], fd.number, fd.message_type, "Req"
    )
    # On this pandas the shortcuts are taken (else the test below compares pandas with itself):
    # rows go straight from the decode loop's lists into blocks, columns through arrays.
    assert codec._build_frame.__name__ == "unconsolidated"
    if layout == "rows":
        assert codec._from_rows.__name__ == "blocks"
    df = every_dtype_frame(40).iloc[:n].reset_index(drop=True)
    msg = cls()
    codec.encode(msg, df)
    got = codec.decode(msg.t)
    pd.testing.assert_frame_equal(
        got.drop(columns="cat"), df.drop(columns="cat"), check_dtype=True, check_exact=True
    )
    assert got.columns.dtype == pd.DataFrame({c: [] for c in df.columns}).columns.dtype
    assert type(got.index) is pd.RangeIndex and len(got.index) == n
    # The frame behaves as any other: writing a column copies nothing it shares.
    got["id"] = 0
    assert codec.decode(msg.t)["id"].tolist() == df["id"].tolist()


def test_string_and_datetime_columns_equal_pd_array() -> None:
    spec = infer_type(every_dtype_frame(40))
    assert spec is not None
    for c in spec.columns:
        if c.kind not in ("string", "timestamp"):
            continue
        restore = _column_restorer(c)
        if c.kind == "string":
            vals: list[Any] = ["a", None, "é"] if c.optional else ["a", "b", "é"]
        else:
            vals = [1_600_000_000_123_456_000, -(2**63), 0]
        want = pd.Series(pd.array(vals if c.kind == "string" else np.array(vals).view("M8[ns]")))
        got = pd.Series(restore(list(vals), []))
        if c.kind == "timestamp":
            want = pd.Series(pd.DatetimeIndex(np.array(vals).view("M8[ns]")))
            target = pd.api.types.pandas_dtype(c.dtype)
            want = (
                want.dt.tz_localize("UTC").dt.tz_convert(target.tz).astype(target)
                if isinstance(target, pd.DatetimeTZDtype)
                else want.astype(target)
            )
        else:
            want = pd.Series(pd.array(vals, dtype=c.dtype))
        pd.testing.assert_series_equal(got, want, check_exact=True)


@pytest.mark.parametrize("dtype", ["int64", "float64", "bool", "int32", "float32", "uint8"])
@pytest.mark.parametrize("name", ["seats", 3, None])
def test_series_equal_the_public_constructor(dtype: str, name: Any) -> None:
    make = numeric_series_builder(np.dtype(dtype), name)
    assert make.__name__ == "direct"
    for values in ([1, 0, 1], [1], []):
        pd.testing.assert_series_equal(
            make(values), pd.Series(values, dtype=dtype, name=name), check_exact=True
        )
        assert type(make(values).index) is pd.RangeIndex


def test_series_round_trip_keeps_name_and_dtype(build: Any) -> None:
    series = pd.Series([3, 4], dtype="int64", name="seats")
    spec = infer_type(series)
    cls, codec = build(fields_of(s=spec))
    got = wire(cls, codec, {"s": series})["s"]
    pd.testing.assert_series_equal(got, series, check_exact=True)


@pytest.mark.parametrize("layout", ["rows", "columns"])
def test_each_frame_has_labels_of_its_own(build: Any, layout: str) -> None:
    # The labels are cached per codec; a node naming its frame's column or row index (in
    # place) must not name those of the next request's frame.
    spec = replace(infer_type(every_dtype_frame(40)), layout=layout)  # type: ignore[arg-type,type-var]
    cls, _ = build(fields_of(t=spec))
    fd = cls.DESCRIPTOR.fields_by_name["t"]
    codec = (ColumnsCodec if layout == "columns" else TableCodec)(
        fields_of(t=spec)[0], fd.number, fd.message_type, "Req"
    )
    msg = cls()
    codec.encode(msg, every_dtype_frame(3))
    first = codec.decode(msg.t)
    first.columns.name = "renamed"
    first.index.name = "row"
    second = codec.decode(msg.t)
    assert second.columns.name is None and second.index.name is None
    assert list(second.columns) == list(every_dtype_frame(3).columns)


@pytest.mark.parametrize("n", [0, 1, 3])
def test_numeric_columns_share_blocks_as_pandas_stacks_them(build: Any, n: int) -> None:
    # Columns of one numpy dtype (ints, bools, doubles with NaN) go into one 2-D block, as
    # pd.DataFrame(dict) stacks them; a nullable or optional column keeps its own array.
    df = pd.DataFrame(
        {
            "a": np.arange(n, dtype=np.int64),
            "f": np.linspace(0, 1, n),
            "b": np.arange(n, dtype=np.int64) * 7,
            "ok": np.arange(n) % 2 == 0,
            "g": np.full(n, np.nan),
            "small": np.arange(n, dtype=np.int32),
            "maybe": pd.array([None if i % 2 else i for i in range(n)], dtype="Int64"),
            "text": pd.Series([None if i == 1 else f"t{i}" for i in range(n)], dtype="str"),
            "flag": np.arange(n) % 3 == 0,
        }
    )
    spec = infer_type(df if n else df.head(0))
    cls, codec = build(fields_of(t=spec))
    got = wire(cls, codec, {"t": df})["t"]
    pd.testing.assert_frame_equal(got, df, check_exact=True)
    assert got._mgr.nblocks == pd.DataFrame({c: df[c].to_numpy(copy=True) if c not in (
        "maybe", "text") else df[c].array for c in df.columns})._mgr.nblocks
    # The frame is a frame like any other: a write copies only what it changes.
    got.loc[0:0, "a"] = -1
    if n:
        assert wire(cls, codec, {"t": df})["t"]["a"].tolist() == df["a"].tolist()


@pytest.mark.parametrize("n", [1, 3, 100])
@pytest.mark.parametrize(
    "dtype", ["datetime64[ns]", "datetime64[us]", "datetime64[s]", "datetime64[us, UTC]",
              "datetime64[ns, Europe/Paris]"]
)
@pytest.mark.parametrize("whole", [True, False], ids=["whole units", "sub-unit"])
def test_timestamp_columns_equal_the_public_path(dtype: str, n: int, whole: bool) -> None:
    # Few values go through Python integers, many through numpy; NaT and values that are not
    # a whole number of the unit (the public path rounds them) must come out as pandas makes
    # them either way.
    target = pd.api.types.pandas_dtype(dtype)
    naive = pd.Series(pd.to_datetime(["2021-01-01"] * 2))
    frame = pd.DataFrame(
        {"t": naive.dt.tz_localize("UTC").astype(target) if getattr(target, "tz", None)
         else naive.astype(target)}
    )
    frame.loc[1, "t"] = pd.NaT
    spec = infer_type(frame)
    assert spec is not None
    (col,) = spec.columns
    base = [1_600_000_000_000_000_000 + i * 86_400_000_000_000 for i in range(n)]
    if not whole:
        base[-1] += 123  # nanoseconds
    ns = [v if i % 3 != 1 else -(2**63) for i, v in enumerate(base)]
    got = pd.Series(_column_restorer(col)(list(ns), []))
    want = pd.Series(ns_to_datetime_array(list(ns), col.dtype))
    pd.testing.assert_series_equal(got, want, check_exact=True)
