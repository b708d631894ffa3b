"""The per-message shortcuts of the codec give exactly what pandas' public constructors give.

Frames, Series, datetime and string columns are built without pandas' per-call inference when
the schema fixes the dtypes (kedro_krt/schema/table_codec.py, codec.py); each shortcut is kept
only if it matches the public constructor on probe values. These tests hold the decoded values
to the public constructors on real data, nulls included, in both table layouts.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_codec import every_dtype_frame, fields_of, wire

from kedro_krt.schema.codec import _series_builder
from kedro_krt.schema.infer import infer_type
from kedro_krt.schema.table_codec import ColumnsCodec, TableCodec, _column_restorer


@pytest.mark.parametrize("layout", ["rows", "columns"])
@pytest.mark.parametrize("n", [0, 1, 2, 7])
def test_frames_equal_the_public_constructor(build: Any, layout: str, n: int) -> None:
    spec = replace(infer_type(every_dtype_frame(40)), layout=layout)  # type: ignore[arg-type,type-var]
    cls, _ = build(fields_of(t=spec))
    fd = cls.DESCRIPTOR.fields_by_name["t"]
    codec = (ColumnsCodec if layout == "columns" else TableCodec)(
        fields_of(t=spec)[0], fd.number, fd.message_type, "Req"
    )
    # On this pandas the shortcut is taken (else the test below compares pandas with itself).
    assert codec._build_frame.__name__ == "unconsolidated"
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
    make = _series_builder(np.dtype(dtype), name)
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
