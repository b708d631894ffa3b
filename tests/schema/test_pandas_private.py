"""kedro_krt.node.schema.pandas_private: each private path passes its probe on the pandas versions
we test (2.2 at the floor, 3.x at the newest), each falls back to the public path when its probe
fails or its attribute is missing, and the decoded frames are the same either way."""

from __future__ import annotations

import gc
import sys
import threading
import types
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kedro_krt.node.schema import pandas_private
from kedro_krt.node.schema.infer import infer_type
from kedro_krt.node.schema.table_codec import ColumnsCodec, TableCodec
from tests.schema.test_codec import every_dtype_frame, fields_of, wire

_CACHED = (
    pandas_private.series_values_getter,
    pandas_private.datetime_array_maker,
    pandas_private.python_string_maker,
    pandas_private.arrow_string_maker,
    pandas_private.column_reader,
)


@pytest.fixture
def fresh_probes() -> Any:
    """Probe again (the probes are cached per process), and again after the test."""
    for f in _CACHED:
        f.cache_clear()
    yield
    for f in _CACHED:
        f.cache_clear()


def _codec(build: Any, layout: str) -> tuple[Any, Any]:
    spec = replace(infer_type(every_dtype_frame(40)), layout=layout)  # type: ignore[arg-type,type-var]
    cls, _ = build(fields_of(t=spec))
    fd = cls.DESCRIPTOR.fields_by_name["t"]
    codec = (ColumnsCodec if layout == "columns" else TableCodec)(
        fields_of(t=spec)[0], fd.number, fd.message_type, "Req"
    )
    return cls, codec


def test_every_private_path_passes_its_probe_here(build: Any, fresh_probes: Any) -> None:
    """On the pandas versions the tests install every private path is taken: a pandas where
    one is not is a pandas where the codec got slower, which this test says."""
    _codec(build, "rows")
    pandas_private.numeric_series_builder(np.dtype("float64"), "x")
    pandas_private.series_values_getter()
    pandas_private.python_string_maker(pd.StringDtype("python"))
    expected = {
        "series", "series_values", "datetime_array", "python_string", "column_reader",
        "frame", "blocks",
    }
    if isinstance(pd.Series(["a"]).dtype, pd.StringDtype):  # pandas 3: Arrow-backed `str`
        expected.add("arrow_string")
    failed = {name for name in expected if not pandas_private.CHOSEN.get(name)}
    assert not failed, f"pandas {pd.__version__}: these private paths failed their probe: {failed}"


def _round_trip(build: Any, layout: str, df: pd.DataFrame) -> tuple[bytes, pd.DataFrame, Any]:
    cls, codec = _codec(build, layout)
    msg = cls()
    codec.encode(msg, df)
    return msg.SerializeToString(), codec.decode(msg.t), codec


@pytest.mark.parametrize("layout", ["rows", "columns"])
def test_when_every_probe_fails_the_public_paths_answer_the_same(
    build: Any, fresh_probes: Any, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    """Another pandas, where no private path passes its probe: the codec takes pandas' public
    constructors everywhere, and encodes the same bytes and decodes the same frames."""
    df = every_dtype_frame(9)
    data, frame, _ = _round_trip(build, layout, df)
    series = pd.Series([3.5, 4.0], name="seats")
    cls, codec = build(fields_of(s=infer_type(series)))
    series_data = codec.encode({"s": series}).SerializeToString()

    monkeypatch.setattr(pandas_private, "pick", lambda name, fast, public, cases, same: public)
    for f in _CACHED:
        f.cache_clear()
    data2, frame2, public = _round_trip(build, layout, df)
    assert public._build_frame.__name__ == "_public_frame"
    assert data2 == data
    pd.testing.assert_frame_equal(frame2, frame, check_exact=True)
    pd.testing.assert_frame_equal(
        frame2.drop(columns="cat"), df.drop(columns="cat"), check_exact=True
    )
    cls, codec = build(fields_of(s=infer_type(series)))
    assert codec.encode({"s": series}).SerializeToString() == series_data
    pd.testing.assert_series_equal(codec.decode(cls.FromString(series_data))["s"], series)


def test_a_missing_internal_is_passed_over(
    build: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An internal that another pandas does not have: the next candidate, or the public path."""
    df = every_dtype_frame(5)
    data, frame, _ = _round_trip(build, "rows", df)
    # What `from ... import` sees (pandas' own modules keep the names they bound at import).
    for module in ("pandas.core.internals.construction", "pandas.core.internals.managers"):
        monkeypatch.setitem(sys.modules, module, types.ModuleType(module))
    data2, frame2, codec = _round_trip(build, "rows", df)
    assert codec._build_frame.__name__ == "unchecked"  # DataFrame._from_arrays
    assert codec._from_rows == codec._restored_frame  # no blocks builder
    assert data2 == data
    pd.testing.assert_frame_equal(frame2, frame, check_exact=True)


def test_a_probe_that_differs_keeps_the_public_path() -> None:
    def public(values: list[Any]) -> Any:
        return pd.array(values, dtype="Int64")

    def wrong(values: list[Any]) -> Any:  # the same values, another dtype
        return np.array(values, dtype=np.int64)

    def raises(values: list[Any]) -> Any:
        raise AttributeError("no such internal")

    chosen = pandas_private.pick(
        "test wrong", [raises, wrong], public, [([1, 2],)], pandas_private.same_values
    )
    assert chosen is public and pandas_private.CHOSEN["test wrong"] is False

    def alike(values: list[Any]) -> Any:
        mask = np.zeros(len(values), dtype=bool)
        return pd.arrays.IntegerArray(np.array(values, dtype=np.int64), mask)

    right = pandas_private.pick(
        "test right", [raises, alike], public, [([1, 2],), ([],)], pandas_private.same_values
    )
    assert right is alike and pandas_private.CHOSEN["test right"] is True


# --- gc_paused ------------------------------------------------------------------------------


def test_gc_paused_is_off_inside_and_back_after_even_on_error() -> None:
    assert gc.isenabled()
    with pandas_private.gc_paused:
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), pandas_private.gc_paused:
        raise ValueError("a bad table")
    assert gc.isenabled()


def test_gc_paused_keeps_a_process_that_disabled_gc_disabled() -> None:
    gc.disable()
    try:
        with pandas_private.gc_paused:
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_gc_paused_across_threads_turns_gc_on_when_the_last_leaves() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with pandas_private.gc_paused:
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with pandas_private.gc_paused:
            second_in.set()
            first_out.wait(5)
            seen.append(gc.isenabled())  # the first left; this one still decodes

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == [False]
    assert gc.isenabled()


def test_a_big_table_decodes_with_gc_paused_and_leaves_it_on(build: Any) -> None:
    df = pd.DataFrame({"x": np.arange(2_500, dtype=np.float64), "n": np.arange(2_500)})
    cls, codec = build(fields_of(t=infer_type(df)))
    pd.testing.assert_frame_equal(wire(cls, codec, {"t": df})["t"], df)
    assert gc.isenabled()
