"""Kedro's copy semantics in the runtime: who gets a copy, in which mode, and who does not.

Kedro's MemoryDataset (kedro/io/memory_dataset.py) hands every reader a copy; the runtime copies
only where a change in place could be seen again (runtime/copies.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.io.memory_dataset import _infer_copy_mode as kedro_infer_copy_mode
from kedro.pipeline import node

from kedro_krt.node.runtime.copies import copy_value, infer_copy_mode
from kedro_krt.node.runtime.engine import CallList


class Model:
    def __init__(self) -> None:
        self.calls = 0


@pytest.mark.parametrize(
    "value",
    [pd.DataFrame({"a": [1]}), np.arange(3), {"k": [1]}, [1, 2], Model()],
    ids=["dataframe", "ndarray", "dict", "list", "object"],
)
def test_the_inferred_mode_is_kedros(value: object) -> None:
    assert infer_copy_mode(value) == kedro_infer_copy_mode(value)


@pytest.mark.parametrize("value", [1, 2.5, "text", None, True, (1, "a"), b"x"])
def test_immutable_values_are_assigned(value: object) -> None:
    # Kedro deep-copies them, which returns the same immutable value: no difference, no cost.
    assert infer_copy_mode(value) == "assign" and copy_value(value) is value


def test_a_dataframe_copy_isolates_every_change_in_place() -> None:
    original = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    copied = copy_value(original)
    copied["a"] = 0.0
    copied.loc[1, "b"] = "z"
    copied["c"] = 1
    assert original.to_dict("list") == {"a": [1.0, 2.0], "b": ["x", "y"]}


def _recorder(seen: list[tuple[str, int]], label: str, mutate: bool = False):  # type: ignore[no-untyped-def]
    def f(df: pd.DataFrame) -> pd.DataFrame:
        seen.append((label, id(df)))
        if mutate:
            df["a"] = -1
        return pd.DataFrame({"n": [len(df)]})

    f.__name__ = label
    return f


def test_the_last_reader_of_a_request_value_gets_it_as_it_is() -> None:
    seen: list[tuple[str, int]] = []
    calls = CallList([node(_recorder(seen, "only"), "x", "y", name="only")])
    value = pd.DataFrame({"a": [1]})
    calls.run({"x": value})
    assert seen == [("only", id(value))]


def test_a_value_read_twice_gives_the_first_reader_a_copy() -> None:
    seen: list[tuple[str, int]] = []
    calls = CallList(
        [
            node(_recorder(seen, "first", mutate=True), "x", "y1", name="first"),
            node(_recorder(seen, "second"), "x", "y2", name="second"),
        ]
    )
    value = pd.DataFrame({"a": [1]})
    values = calls.run({"x": value})
    assert seen[0][1] != id(value) and seen[1] == ("second", id(value))
    assert values["x"]["a"].tolist() == [1]  # the second reader saw the value unchanged


def test_a_value_encoded_after_the_calls_is_copied_for_its_reader() -> None:
    seen: list[tuple[str, int]] = []
    calls = CallList(
        [node(_recorder(seen, "reader", mutate=True), "x", "y", name="reader")], observed={"x"}
    )
    value = pd.DataFrame({"a": [1]})
    calls.run({"x": value})
    assert seen[0][1] != id(value) and value["a"].tolist() == [1]


def test_shared_values_are_copied_for_every_reader_unless_assigned() -> None:
    model = Model()

    def use(m: Model) -> int:
        m.calls += 1
        return m.calls

    shared = {"model": model}
    calls = CallList([node(use, "model", "n", name="use")], shared=shared)
    assert [calls.run(dict(shared))["n"] for _ in range(3)] == [1, 1, 1]
    assert model.calls == 0
    leaky = CallList(
        [node(use, "model", "n", name="use")], shared=shared, modes={"model": "assign"}
    )
    assert [leaky.run(dict(shared))["n"] for _ in range(3)] == [1, 2, 3]


def test_an_output_that_is_a_shared_object_is_copied() -> None:
    model = Model()

    def passthrough(m: Model) -> Model:
        return m

    def use(m: Model) -> int:
        m.calls += 1
        return m.calls

    shared = {"model": model}
    calls = CallList(
        [node(passthrough, "model", "same", name="pass"), node(use, "same", "n", name="use")],
        shared=shared,
        modes={"model": "assign"},  # even when the artifact itself is shared by reference
    )
    assert [calls.run(dict(shared))["n"] for _ in range(2)] == [1, 1]
    assert model.calls == 0
