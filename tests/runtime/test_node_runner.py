"""The engine's node runner does what Kedro's own ``Node.run`` does, call for call.

``runtime.engine.node_runner`` skips ``Node.run``'s per-call formatting of the node's description
when INFO is off for Kedro's logger; everything else must be Kedro's: the arguments, the output
mapping (list, dict, None, generators), the errors and their messages, the ERROR log line, and a
function set later through ``node.func``. Each case runs the real Kedro ``Node.run`` beside it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from kedro.pipeline import node
from kedro.pipeline.node import Node

from kedro_krt.node.runtime.engine import node_runner


def add(a: int, b: int) -> int:
    return a + b


def split(x: int) -> tuple[int, int]:
    return x, -x


def as_dict(x: int) -> dict[str, int]:
    return {"pos": x, "neg": -x}


def nothing() -> int:
    return 7


def returns_value(x: int) -> int:
    return x


def chunks(x: int) -> Iterator[int]:
    yield x
    yield x + 1


def fails(x: int) -> int:
    raise RuntimeError(f"bad {x}")


def short(x: int) -> list[int]:
    return [x]


def _outcome(call: Callable[[dict[str, Any]], dict[str, Any]], inputs: dict[str, Any]) -> Any:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out: Any = call(dict(inputs))
        except Exception as exc:  # the very error and message Kedro gives
            out = (type(exc), str(exc))
    if isinstance(out, dict):
        out = {k: list(v) if isinstance(v, Iterator) else v for k, v in out.items()}
    return out, [str(w.message) for w in caught]


CASES = [
    (node(add, ["a", "b"], "c", name="add"), {"a": 1, "b": 2}),
    (node(add, {"b": "y", "a": "x"}, "c", name="kw"), {"x": 1, "y": 5}),
    (node(split, "x", ["pos", "neg"], name="split"), {"x": 3}),
    (node(as_dict, "x", {"pos": "p", "neg": "n"}, name="as_dict"), {"x": 3}),
    (node(nothing, None, "c", name="nothing"), {}),
    (node(returns_value, "x", None, name="no_outputs"), {"x": 3}),
    (node(chunks, "x", "c", name="generator"), {"x": 3}),
    (node(fails, "x", "c", name="fails"), {"x": 3}),
    (node(short, "x", ["p", "q"], name="short"), {"x": 3}),
    (node(split, "x", {"pos": "p"}, name="wrong_keys"), {"x": 3}),
    (node(returns_value, "x", ["p"], name="not_a_list"), {"x": 3}),
]


@pytest.mark.parametrize(("n", "inputs"), CASES, ids=[c[0].name for c in CASES])
def test_the_runner_gives_what_node_run_gives(n: Node, inputs: dict[str, Any]) -> None:
    run = node_runner(n)
    assert run != n.run  # the shortcut is taken for a plain Kedro node
    assert _outcome(run, inputs) == _outcome(n.run, inputs)


def test_errors_are_logged_as_kedro_logs_them(caplog: pytest.LogCaptureFixture) -> None:
    n = node(fails, "x", "c", name="fails")
    with caplog.at_level(logging.INFO, logger="kedro.pipeline.node"):
        with pytest.raises(RuntimeError):
            node_runner(n)({"x": 1})
        ours = [(r.levelname, r.getMessage()) for r in caplog.records]
        caplog.clear()
        with pytest.raises(RuntimeError):
            n.run({"x": 1})
        kedros = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert ours == kedros
    assert [level for level, _ in ours] == ["INFO", "ERROR"]


def test_the_info_line_is_only_formatted_when_info_is_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    n = node(add, ["a", "b"], "c", name="add")
    run = node_runner(n)
    with caplog.at_level(logging.WARNING, logger="kedro.pipeline.node"):
        assert run({"a": 1, "b": 1}) == {"c": 2}
    assert not caplog.records


def test_a_function_set_later_is_the_one_called() -> None:
    n = node(add, ["a", "b"], "c", name="add")
    run = node_runner(n)
    n.func = lambda a, b: a * b  # as a hook decorating the node's function would
    assert run({"a": 3, "b": 4}) == n.run({"a": 3, "b": 4}) == {"c": 12}


def test_nodes_kedro_names_by_repr_keep_node_run() -> None:
    n = node(partial(add, b=1), "a", "c", name="partial")
    assert node_runner(n) == n.run


def test_a_node_subclass_with_its_own_run_keeps_it() -> None:
    class Traced(Node):
        def run(self, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
            return {"c": "traced"}

    n = Traced(add, ["a", "b"], "c", name="traced")
    assert node_runner(n)({"a": 1, "b": 2}) == {"c": "traced"}
