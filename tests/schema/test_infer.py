from __future__ import annotations

import datetime as dt
from typing import Any, Optional

import numpy as np
import pandas as pd
import pytest

from kedro_krt.node.schema.infer import infer_type, type_from_config, type_from_hint
from kedro_krt.node.schema.types import SchemaError, TypeSpec

# pandas' own dtypes for text and parsed dates: `str` and `datetime64[us]` on pandas 3, `object`
# and `datetime64[ns]` on pandas 2. Inference records what the frame holds, whichever it is.
TEXT = str(pd.Series(["a"]).dtype)
PARSED = str(pd.to_datetime(["2020-01-01"]).dtype)


def _col(df: pd.DataFrame, name: str) -> tuple[str, bool, str]:
    spec = infer_type(df)
    assert spec is not None and spec.kind == "table" and spec.container == "dataframe"
    (col,) = [c for c in spec.columns if c.original == name]
    return col.kind, col.optional, col.dtype


@pytest.mark.parametrize(
    ("series", "kind", "optional", "dtype"),
    [
        (pd.Series([1.5, 2.0]), "double", False, "float64"),
        (pd.Series([1.5, np.nan]), "double", True, "float64"),
        (pd.Series([1.5, 2.0], dtype="float32"), "double", False, "float32"),
        (pd.Series([1, 2]), "int64", False, "int64"),
        (pd.Series([1, 2], dtype="int32"), "int64", False, "int32"),
        (pd.Series([1, None], dtype="Int64"), "int64", True, "Int64"),
        (pd.Series([True, False]), "bool", False, "bool"),
        (pd.Series([True, None], dtype="boolean"), "bool", True, "boolean"),
        (pd.Series(["a", "b"]), "string", False, TEXT),
        (pd.Series(["a", None]), "string", True, TEXT),
        (pd.Series(["a", None], dtype="string"), "string", True, "string"),
        (pd.Series(["a", "b"], dtype=object), "string", False, "object"),
        (pd.Series(["a", "b"], dtype="category"), "string", False, "category"),
        (pd.Series(pd.to_datetime(["2020-01-01", None])), "timestamp", True, PARSED),
        (
            pd.Series(pd.to_datetime(["2020-01-01"]).tz_localize("UTC")),
            "timestamp",
            False,
            f"{PARSED[:-1]}, UTC]",
        ),
        (pd.Series([True, None], dtype=object), "bool", True, "object"),
        (pd.Series([1, "a"], dtype=object), "string", False, "object"),  # mixed -> string
        (pd.Series([b"x", b"y"], dtype=object), "bytes", False, "object"),
    ],
)
def test_infer_dataframe_columns(series: pd.Series, kind: str, optional: bool, dtype: str) -> None:
    assert _col(pd.DataFrame({"c": series}), "c") == (kind, optional, dtype)


def test_infer_table_names_and_order() -> None:
    df = pd.DataFrame({"Engine Type": [1], "2nd": [1.0], "class": ["x"]})
    spec = infer_type(df)
    assert spec is not None
    assert [(c.name, c.original) for c in spec.columns] == [
        ("engine_type", "Engine Type"),
        ("_2nd", "2nd"),
        ("class_", "class"),
    ]


def test_infer_duplicate_columns_refused() -> None:
    df = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(SchemaError, match="duplicate column"):
        infer_type(df)


def test_infer_series_and_arrays() -> None:
    spec = infer_type(pd.Series([1.0, 2.0], name="price"))
    assert spec == TypeSpec(
        kind="list",
        scalar="double",
        container="series",
        meta=(("dtype", "float64"), ("series_name", "price")),
    )
    arr = infer_type(np.array([1, 2], dtype=np.int32))
    assert arr is not None and (arr.kind, arr.scalar, arr.container) == ("list", "int64", "ndarray")
    assert arr.meta_get("dtype") == "int32"
    assert infer_type(np.zeros((2, 2))) is None


@pytest.mark.parametrize(
    ("value", "kind", "scalar", "container"),
    [
        (True, "scalar", "bool", ""),
        (np.bool_(True), "scalar", "bool", ""),
        (3, "scalar", "int64", ""),
        (np.int32(3), "scalar", "int64", ""),
        (2.5, "scalar", "double", ""),
        (np.float64(2.5), "scalar", "double", ""),
        ("x", "scalar", "string", ""),
        (b"x", "scalar", "bytes", ""),
        (dt.datetime(2020, 1, 1), "scalar", "timestamp", ""),
        (pd.Timestamp("2020-01-01"), "scalar", "timestamp", ""),
        ([1, 2], "list", "int64", "list"),
        ([1, 2.5], "list", "double", "list"),
        (("a", "b"), "list", "string", "tuple"),
        ([True, False], "list", "bool", "list"),
        ({1: "a"}, "struct", None, "dict"),
        ({"a": object()}, "struct", None, "dict"),
    ],
)
def test_infer_python_values(value: Any, kind: str, scalar: str | None, container: str) -> None:
    spec = infer_type(value)
    assert spec is not None
    assert (spec.kind, spec.scalar, spec.container) == (kind, scalar, container)


def test_infer_record_keeps_order_and_makes_scalars_optional() -> None:
    spec = infer_type({"depth": 3, "fast": True, "name": "x", "tags": ["a"]})
    assert spec is not None and spec.kind == "record"
    assert [f.original for f in spec.fields] == ["depth", "fast", "name", "tags"]
    assert [f.number for f in spec.fields] == [1, 2, 3, 4]
    assert all(f.type.optional for f in spec.fields if f.type.kind == "scalar")


@pytest.mark.parametrize("value", [None, object(), [1, "a"], [object()], np.zeros((2, 2))])
def test_infer_unknown(value: Any) -> None:
    assert infer_type(value) is None


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (int, TypeSpec(kind="scalar", scalar="int64")),
        (float, TypeSpec(kind="scalar", scalar="double")),
        (str, TypeSpec(kind="scalar", scalar="string")),
        (bool, TypeSpec(kind="scalar", scalar="bool")),
        (bytes, TypeSpec(kind="scalar", scalar="bytes")),
        (
            dt.datetime,
            TypeSpec(kind="scalar", scalar="timestamp", meta=(("scalar_type", "datetime"),)),
        ),
        (Optional[int], TypeSpec(kind="scalar", scalar="int64", optional=True)),  # noqa: UP045
        (float | None, TypeSpec(kind="scalar", scalar="double", optional=True)),
        (list[int], TypeSpec(kind="list", scalar="int64", container="list")),
        (tuple[str, ...], TypeSpec(kind="list", scalar="string", container="tuple")),
        (dict[str, Any], TypeSpec(kind="struct", container="dict")),
        (dict, TypeSpec(kind="struct", container="dict")),
        (pd.DataFrame, None),
        (np.ndarray, None),
        (Any, None),
        (list, None),
        (dict[int, str], None),
        (int | str, None),
        ("pd.DataFrame", None),
    ],
)
def test_type_from_hint(hint: Any, expected: TypeSpec | None) -> None:
    assert type_from_hint(hint) == expected


def test_type_from_config_scalars_and_lists() -> None:
    assert type_from_config("double", where="w") == TypeSpec(kind="scalar", scalar="double")
    assert type_from_config("int64?", where="w") == TypeSpec(
        kind="scalar", scalar="int64", optional=True
    )
    assert type_from_config("float", where="w").scalar == "double"
    assert type_from_config("list[string]", where="w") == TypeSpec(
        kind="list", scalar="string", container="list"
    )
    assert type_from_config("struct", where="w").kind == "struct"
    assert type_from_config("value", where="w").kind == "value"
    series = type_from_config({"series": "double"}, where="w")
    assert (series.kind, series.container, series.meta_get("dtype")) == (
        "list",
        "series",
        "float64",
    )


def test_type_from_config_table_and_record() -> None:
    table = type_from_config(
        {"table": {"id": "int64", "Engine Type": "string?", "rating": "double?", "n": "int64?"}},
        where="w",
    )
    assert table.kind == "table"
    assert [(c.name, c.original, c.kind, c.optional, c.dtype) for c in table.columns] == [
        ("id", "id", "int64", False, "int64"),
        ("engine_type", "Engine Type", "string", True, "str"),
        ("rating", "rating", "double", True, "float64"),
        ("n", "n", "int64", True, "Int64"),
    ]
    record = type_from_config({"record": {"depth": "int64", "tags": "list[string]"}}, where="w")
    assert record.kind == "record"
    assert [(f.original, f.type.kind, f.type.optional) for f in record.fields] == [
        ("depth", "scalar", True),
        ("tags", "list", False),
    ]


@pytest.mark.parametrize(
    ("spec", "bad"),
    [
        ("doubel", "'doubel'"),
        ({"table": {"a": "nope"}}, "schemas.x.table.a"),
        ({"table": []}, "schemas.x.table"),
        ({"record": {}}, "schemas.x.record"),
        ({"tabel": {"a": "int64"}}, "tabel"),
        (3, "3"),
        ("list[int64?]", "cannot be optional"),
        ({"series": ["double"]}, "schemas.x.series"),
    ],
)
def test_type_from_config_errors(spec: Any, bad: str) -> None:
    with pytest.raises(SchemaError) as info:
        type_from_config(spec, where="schemas.x")
    message = str(info.value)
    assert "schemas.x" in message
    assert bad in message
    if "cannot be optional" not in bad and "series" not in bad:
        assert "valid types:" in message and "timestamp" in message
