"""Round trips through real generated classes: encode -> bytes -> parse -> decode."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kedro_krt.node.schema.codec import CodecError, MessageCodec
from kedro_krt.node.schema.infer import infer_type, type_from_config
from kedro_krt.node.schema.table_codec import _SMALL_TABLE
from kedro_krt.node.schema.types import Field, TypeSpec

PANDAS_MAJOR = int(pd.__version__.split(".")[0])


def fields_of(**specs: Any) -> tuple[Field, ...]:
    """Fields numbered in order, named as given."""
    return tuple(
        Field(name=name, original=name, type=spec, number=i)
        for i, (name, spec) in enumerate(specs.items(), start=1)
    )


def wire(cls: Any, codec: MessageCodec, values: dict[str, Any]) -> dict[str, Any]:
    data = codec.encode(values).SerializeToString()
    return codec.decode(cls.FromString(data))


def every_dtype_frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    idx = np.arange(n)
    price = rng.random(n) * 100
    price[::3] = np.nan
    ints = pd.array(idx, dtype="Int64")
    ints[1::4] = pd.NA
    flags = pd.array(idx % 2 == 0, dtype="boolean")
    flags[::5] = pd.NA
    naive = pd.Series(pd.Timestamp("2021-03-04 05:06:07.123456789") + pd.to_timedelta(idx, "h"))
    naive[2::7] = pd.NaT
    return pd.DataFrame(
        {
            "id": idx.astype(np.int64),
            "Engine Type": pd.Series([f"type é {i % 3}" for i in idx]),
            "2nd": price,
            "class": ints,
            "flag": idx % 3 == 0,
            "nullable flag": flags,
            "note": pd.Series([None if i % 4 == 1 else f"n{i}" for i in idx]),
            "note_string": pd.Series(
                [None if i % 4 == 2 else f"s{i}" for i in idx], dtype="string"
            ),
            "obj": pd.Series([None if i % 5 == 3 else f"o{i}" for i in idx], dtype=object),
            "cat": pd.Series([("a", "b", "c")[i % 3] for i in idx], dtype="category"),
            "when": naive.astype("datetime64[ns]"),
            "when_us": naive.astype("datetime64[us]"),
            "when_utc": naive.dt.tz_localize("UTC").astype("datetime64[ns, UTC]"),
            "when_paris": naive.dt.tz_localize("Europe/Paris"),
            "small": (idx % 7).astype(np.int32),
            "f32": (idx / 2).astype(np.float32),
            "neg": -idx * 1_000_000_007,
            "raw": pd.Series([bytes([i % 256, 0, 255]) for i in idx], dtype=object),
        }
    )


@pytest.mark.parametrize("n", [1, 3, _SMALL_TABLE, _SMALL_TABLE + 1, 500])
def test_dataframe_every_dtype_round_trip(build: Any, n: int) -> None:
    df = every_dtype_frame(n)
    spec = infer_type(every_dtype_frame(40))  # a sample with nulls in every nullable column
    assert spec is not None
    cls, codec = build(fields_of(shuttles=spec))
    out = wire(cls, codec, {"shuttles": df})
    pd.testing.assert_frame_equal(out["shuttles"], df, check_dtype=True, check_exact=True)
    assert list(out["shuttles"].columns) == list(df.columns)


def test_empty_and_absent_dataframe(build: Any) -> None:
    spec = infer_type(every_dtype_frame(40))
    assert spec is not None
    cls, codec = build(fields_of(shuttles=spec))
    empty = every_dtype_frame(40).iloc[:0].reset_index(drop=True)
    # The categories of an empty categorical column are not in the schema: only its dtype kind is.
    for got in (wire(cls, codec, {"shuttles": empty})["shuttles"], codec.decode(cls())["shuttles"]):
        assert isinstance(got["cat"].dtype, pd.CategoricalDtype)
        pd.testing.assert_frame_equal(
            got.drop(columns="cat"), empty.drop(columns="cat"), check_dtype=True
        )


def test_config_table_round_trip(build: Any) -> None:
    spec = type_from_config(
        {"table": {"Engine Type": "string?", "n": "int64?", "ok": "bool?", "t": "timestamp"}},
        where="schemas.x",
    )
    cls, codec = build(fields_of(x=spec))
    df = pd.DataFrame(
        {
            "Engine Type": pd.Series(["a", None] * 20),
            "n": pd.array([1, None] * 20, dtype="Int64"),
            "ok": pd.array([True, None] * 20, dtype="boolean"),
            "t": pd.to_datetime(
                ["2020-01-01", "1960-05-06 07:08:09.5"] * 20, format="ISO8601"
            ).astype("datetime64[ns]"),
        }
    )
    pd.testing.assert_frame_equal(wire(cls, codec, {"x": df})["x"], df, check_dtype=True)


def test_table_from_records_and_missing_column(build: Any) -> None:
    spec = type_from_config({"table": {"a": "int64", "b": "double"}}, where="w")
    cls, codec = build(fields_of(rows=spec))
    out = wire(cls, codec, {"rows": [{"a": 1, "b": 2.5}, {"a": 2, "b": 0.0}]})
    assert out["rows"].to_dict("list") == {"a": [1, 2], "b": [2.5, 0.0]}
    with pytest.raises(CodecError, match=r"lacks the column\(s\) \['b'\]"):
        codec.encode({"rows": pd.DataFrame({"a": [1]})})


@pytest.mark.parametrize("n", [1, 100])
def test_null_in_non_optional_column_is_refused(build: Any, n: int) -> None:
    spec = type_from_config({"table": {"name": "string"}}, where="w")
    _, codec = build(fields_of(rows=spec))
    df = pd.DataFrame({"name": ["a"] * (n - 1) + [None]})
    with pytest.raises(CodecError, match=rf"'name' is null in row {n - 1}.*'string\?'"):
        codec.encode({"rows": df})


@pytest.mark.parametrize("n", [1, 100])
def test_wrong_cell_type_is_refused(build: Any, n: int) -> None:
    spec = type_from_config({"table": {"count": "int64"}}, where="w")
    _, codec = build(fields_of(rows=spec))
    df = pd.DataFrame({"count": pd.Series([1] * (n - 1) + ["many"], dtype=object)})
    with pytest.raises(CodecError, match=rf"'count'.* row {n - 1}") as info:
        codec.encode({"rows": df})
    assert "'many'" in str(info.value) and "int64" in str(info.value)


def test_series_ndarray_lists(build: Any) -> None:
    values = {
        "price": pd.Series([1.5, 2.5, np.nan], name="price"),
        "unnamed": pd.Series([1, 2, 3], dtype="int32"),
        "numbered": pd.Series(["a", "b"], name=7),
        "arr": np.array([1, 2, 3], dtype=np.int16),
        "words": np.array(["a", "bcdef"]),
        "xs": [1.0, 2.0],
        "ts": ("a", "b"),
        "flags": [True, False],
        "days": pd.Series(
            pd.to_datetime(["2020-01-01", "2021-02-03 04:05"], format="ISO8601"), name="days"
        ),
    }
    fields = []
    for i, (key, value) in enumerate(values.items(), start=1):
        spec = infer_type(value)
        assert spec is not None, key
        fields.append(Field(key, key, spec, i))
    cls, codec = build(fields)
    out = wire(cls, codec, values)
    for key in ("price", "unnamed", "numbered", "days"):
        pd.testing.assert_series_equal(out[key], values[key], check_dtype=True)
    np.testing.assert_array_equal(out["arr"], values["arr"])
    assert out["arr"].dtype == np.int16
    np.testing.assert_array_equal(out["words"], values["words"])
    assert out["xs"] == [1.0, 2.0] and out["ts"] == ("a", "b") and out["flags"] == [True, False]
    empty = codec.decode(cls())
    assert empty["xs"] == [] and len(empty["price"]) == 0 and empty["price"].name == "price"


def test_null_in_list_refused(build: Any) -> None:
    _, codec = build(fields_of(xs=TypeSpec(kind="list", scalar="int64", container="list")))
    with pytest.raises(CodecError, match="null"):
        codec.encode({"xs": [1, None]})


def test_record_optional_fields_present_and_absent(build: Any) -> None:
    spec = type_from_config(
        {
            "record": {
                "depth": "int64",
                "fast": "bool",
                "name": "string",
                "rate": "double",
                "tags": "list[string]",
                "inner": {"record": {"x": "double"}},
            }
        },
        where="w",
    )
    cls, codec = build(fields_of(parameters=spec))
    out = wire(cls, codec, {"parameters": {"depth": 0, "fast": False, "name": "", "rate": 0.0}})
    assert out == {"parameters": {"depth": 0, "fast": False, "name": "", "rate": 0.0}}
    out = wire(cls, codec, {"parameters": {"name": "x", "inner": {"x": 0.0}, "tags": ["a"]}})
    assert out == {"parameters": {"name": "x", "inner": {"x": 0.0}, "tags": ["a"]}}
    assert wire(cls, codec, {}) == {"parameters": {}}
    with pytest.raises(CodecError, match="no field for 'depht'"):
        codec.encode({"parameters": {"depht": 3}})


def test_scalars(build: Any) -> None:
    fields = fields_of(
        threshold=TypeSpec(kind="scalar", scalar="double"),
        n=TypeSpec(kind="scalar", scalar="int64", optional=True),
        label=TypeSpec(kind="scalar", scalar="string"),
        blob=TypeSpec(kind="scalar", scalar="bytes"),
        at=infer_type(dt.datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc)),
        when=infer_type(pd.Timestamp("2020-01-02 03:04:05.000000007")),
        np32=infer_type(np.float32(1.5)),
    )
    cls, codec = build(fields)
    values = {
        "threshold": 0.5,
        "n": 0,
        "label": "é",
        "blob": b"\x00\xff",
        "at": dt.datetime(2020, 1, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc),
        "when": pd.Timestamp("2020-01-02 03:04:05.000000007"),
        "np32": np.float32(1.5),
    }
    out = wire(cls, codec, values)
    assert out == values
    assert type(out["at"]) is dt.datetime and type(out["np32"]) is np.float32
    unset = codec.decode(cls())
    assert unset["n"] is None and unset["at"] is None and unset["threshold"] == 0.0


def test_struct_and_value(build: Any) -> None:
    cls, codec = build(
        fields_of(extra=TypeSpec(kind="struct", container="dict"), anything=TypeSpec(kind="value"))
    )
    extra = {"a": 1, "b": [1.5, "x", None, {"c": True}], "n": np.int64(3)}
    out = wire(cls, codec, {"extra": extra, "anything": [1, "two", {"three": 3.5}]})
    assert out == {
        "extra": {"a": 1, "b": [1.5, "x", None, {"c": True}], "n": 3},
        "anything": [1, "two", {"three": 3.5}],
    }
    assert codec.decode(cls()) == {"extra": {}, "anything": None}
    with pytest.raises(CodecError, match=r"extra.*expected a dict"):
        codec.encode({"extra": [1]})
    with pytest.raises(CodecError, match=r"cannot go into a google\.protobuf\.Struct"):
        codec.encode({"anything": object()})


@pytest.mark.parametrize(
    ("spec", "value", "match"),
    [
        (TypeSpec(kind="scalar", scalar="int64"), "3", "expected int64"),
        (TypeSpec(kind="scalar", scalar="int64"), 2.5, "expected int64"),
        (TypeSpec(kind="scalar", scalar="string"), 3, "expected string"),
        (TypeSpec(kind="scalar", scalar="timestamp"), "not a date", "expected a timestamp"),
        (TypeSpec(kind="list", scalar="double"), "abc", "expected a list of double"),
        (TypeSpec(kind="list", scalar="double"), ["a"], "expected a list of double"),
        (TypeSpec(kind="table", columns=()), 3, "expected a pandas DataFrame"),
        (TypeSpec(kind="record", fields=()), [1], "expected a dict"),
    ],
)
def test_codec_error_names_field(build: Any, spec: TypeSpec, value: Any, match: str) -> None:
    if spec.kind == "table":
        spec = type_from_config({"table": {"a": "int64"}}, where="w")
    if spec.kind == "record":
        spec = type_from_config({"record": {"a": "int64"}}, where="w")
    _, codec = build(fields_of(the_field=spec))
    with pytest.raises(CodecError, match=match) as info:
        codec.encode({"the_field": value})
    assert "the_field" in str(info.value)


def test_unknown_key_and_mismatched_class(build: Any) -> None:
    cls, codec = build(fields_of(a=TypeSpec(kind="scalar", scalar="double")))
    with pytest.raises(CodecError, match="no field for 'b'"):
        codec.encode({"b": 1.0})
    with pytest.raises(CodecError, match="has no field 'c'"):
        MessageCodec(cls, fields_of(c=TypeSpec(kind="scalar", scalar="double")))


@pytest.mark.parametrize("n", [1, 3, _SMALL_TABLE + 5])
def test_reply_columns_found_by_label_in_any_order(build: Any, n: int) -> None:
    """The schema's columns are found by label whatever the frame's order or extra columns:
    the frame in the schema's order takes a shortcut (one comparison of the labels), every
    other layout looks each label up; both must encode the same rows."""
    spec = type_from_config({"table": {"a": "int64", "b": "double", "c": "bool"}}, where="w")
    cls, codec = build(fields_of(rows=spec))
    a = np.arange(n, dtype=np.int64)
    b = np.linspace(0.5, 2.5, n)
    c = a % 2 == 0
    expected = {"a": a.tolist(), "b": b.tolist(), "c": c.tolist()}
    layouts = {
        "schema order": pd.DataFrame({"a": a, "b": b, "c": c}),
        "another order": pd.DataFrame({"c": c, "b": b, "a": a}),
        "an extra column": pd.DataFrame({"z": a * 3, "b": b, "a": a, "c": c}),
        "one numpy block": pd.DataFrame(
            np.column_stack([b, b * 2]), columns=["b", "x"]
        ).assign(a=a, c=c),
    }
    for layout, df in layouts.items():
        assert wire(cls, codec, {"rows": df})["rows"].to_dict("list") == expected, layout
    doubles = type_from_config({"table": {"p": "double", "q": "double"}}, where="w")
    dcls, dcodec = build(fields_of(rows=doubles))
    block = pd.DataFrame(np.column_stack([b * 2, b]), columns=["q", "p"])  # one 2-D block
    assert wire(dcls, dcodec, {"rows": block})["rows"].to_dict("list") == {
        "p": b.tolist(), "q": (b * 2).tolist()
    }
    twice = pd.DataFrame([[1, 2.0, True, 3]], columns=["a", "b", "c", "a"])
    with pytest.raises(CodecError, match="duplicate column names"):
        codec.encode({"rows": twice})
    with pytest.raises(CodecError, match=r"lacks the column\(s\) \['c'\]"):
        codec.encode({"rows": pd.DataFrame({"a": a, "b": b})})


def test_plain_number_reply_keeps_nan_and_nulls(build: Any) -> None:
    """A reply of numpy numbers goes in as Python numbers: NaN stays NaN in a double column,
    is a null (unset) in an optional one, and an int64 column of floats is still checked."""
    spec = type_from_config({"table": {"x": "double", "y": "double?"}}, where="w")
    cls, codec = build(fields_of(rows=spec))
    df = pd.Series([1.5, np.nan]).to_frame("x").assign(y=[np.nan, 2.0])
    msg = codec.encode({"rows": df})
    assert [r.HasField("y") for r in msg.rows] == [False, True]
    out = wire(cls, codec, {"rows": df})["rows"]
    assert np.isnan(out["x"][1]) and out["x"][0] == 1.5
    assert np.isnan(out["y"][0]) and out["y"][1] == 2.0
    ints = type_from_config({"table": {"k": "int64"}}, where="w")
    _, int_codec = build(fields_of(rows=ints))
    with pytest.raises(CodecError, match=r"expected int64, got float 1\.5"):
        int_codec.encode({"rows": pd.DataFrame({"k": [1.5]})})
    assert [r.k for r in int_codec.encode({"rows": pd.DataFrame({"k": [2.0]})}).rows] == [2]


def test_python_string_storage_table_round_trip(build: Any) -> None:
    """Without pyarrow (the runner image) pandas' default string dtype keeps Python str in an
    object array: the decoder makes it directly, and must give what ``pd.array`` gives."""
    from kedro_krt.node.schema.table_codec import _fast_restorer, _safe_restorer
    from kedro_krt.node.schema.types import Column

    # pandas' default string dtype (`str`) on pandas 3; on pandas 2 the same array is the
    # opt-in `string` (text defaults to object there).
    text = "str" if PANDAS_MAJOR >= 3 else "string"
    with pd.option_context("mode.string_storage", "python"):
        col = Column(name="s", original="s", kind="string", optional=True, dtype=text)
        fast, safe = _fast_restorer(col), _safe_restorer(col)
        assert fast is not None and fast.__name__ == "_pystr"
        for values in (["a", None, "c"], ["x"], [], [None]):
            a, b = fast(list(values), []), safe(list(values), [])
            assert a.dtype == b.dtype and a.dtype.storage == "python"
            assert pd.Series(a).equals(pd.Series(b)), values
        df = pd.DataFrame({"name": pd.array(["a", None, "é"], dtype=text), "n": [1, 2, 3]})
        spec = infer_type(df)
        cls, codec = build(fields_of(rows=spec))
        out = wire(cls, codec, {"rows": df})["rows"]
        assert out["name"].dtype.storage == "python"
        pd.testing.assert_frame_equal(out, df, check_dtype=True)
