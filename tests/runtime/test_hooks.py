"""Kedro's hooks around each node of the engine, against Kedro's own SequentialRunner.

The same pipeline runs twice with the same hook objects: once by Kedro's ``SequentialRunner``
on a catalog of ``MemoryDataset``s (what ``kedro run`` does with data in memory), once by the
engine's :class:`CallList` with :class:`NodeHooks`; the hook logs (hook, node, dataset, and
what each call saw) must be equal. No project, no process: the unit tier.
"""

from __future__ import annotations

from typing import Any

import pytest
from kedro.framework.hooks import _create_hook_manager, hook_impl
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node
from kedro.runner import SequentialRunner

from kedro_krt.node.plan import HooksPlan
from kedro_krt.node.runtime.engine import CallList
from kedro_krt.node.runtime.hooks import OFF_IN_NODES, NodeHooks, select_hooks


class Recorder:
    """Every node and dataset hook, logged with the names and values it was given."""

    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []

    @hook_impl
    def before_dataset_loaded(self, dataset_name: str, node: Any) -> None:
        self.log.append(("before_dataset_loaded", node.name, dataset_name))

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any, node: Any) -> None:
        self.log.append(("after_dataset_loaded", node.name, dataset_name, data))

    @hook_impl
    def before_node_run(
        self, node: Any, catalog: Any, inputs: dict[str, Any], is_async: bool, run_id: str
    ) -> None:
        self.log.append(("before_node_run", node.name, sorted(inputs.items()), is_async, run_id))

    @hook_impl
    def after_node_run(
        self, node: Any, inputs: dict[str, Any], outputs: dict[str, Any], is_async: bool,
        run_id: str,
    ) -> None:
        self.log.append(
            ("after_node_run", node.name, sorted(inputs.items()), sorted(outputs.items()),
             is_async, run_id)
        )

    @hook_impl
    def on_node_error(self, error: Exception, node: Any, inputs: dict[str, Any]) -> None:
        self.log.append(("on_node_error", node.name, str(error), sorted(inputs.items())))

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, data: Any, node: Any) -> None:
        self.log.append(("before_dataset_saved", node.name, dataset_name, data))

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Any) -> None:
        self.log.append(("after_dataset_saved", node.name, dataset_name, data))


class Replacer:
    """``before_node_run`` that doubles input ``b`` of node ``add``."""

    @hook_impl
    def before_node_run(self, node: Any, inputs: dict[str, Any]) -> dict[str, Any] | None:
        inputs["b"] = "changed in place: Kedro hands the hook a copy"
        return {"b": 20} if node.name == "add" else None


class Sets:
    """``before_node_run`` that sets ``b`` of node ``add`` to its value (the last dict wins)."""

    def __init__(self, value: int) -> None:
        self.value = value

    @hook_impl
    def before_node_run(self, node: Any) -> dict[str, Any] | None:
        return {"b": self.value} if node.name == "add" else None


class SetsFirst(Sets):
    @hook_impl(tryfirst=True)
    def before_node_run(self, node: Any) -> dict[str, Any] | None:
        return {"b": self.value} if node.name == "add" else None


class Wraps:
    """A new-style wrapper: kept on pluggy's own call path."""

    def __init__(self) -> None:
        self.calls = 0

    @hook_impl(wrapper=True)
    def after_node_run(self, node: Any) -> Any:
        self.calls += 1
        return (yield)


class BadAnswer:
    @hook_impl
    def before_node_run(self) -> list[int]:
        return [1]


def _add(a: int, b: int) -> int:
    return a + b


def _halves(total: int, twice: int) -> tuple[float, float]:
    if total < 0:
        raise ValueError(f"negative total {total}")
    return total / 2, twice / 2


def _pipeline() -> Pipeline:
    return Pipeline(
        [
            node(_add, ["a", "b"], "total", name="add"),
            node(_add, ["total", "total"], "twice", name="double"),  # one input read twice
            node(_halves, ["total", "twice"], ["half", "half_twice"], name="halves"),
        ]
    )


def _kedro_log(
    pipeline: Pipeline, inputs: dict[str, Any], *hooks: Any
) -> tuple[list[tuple[Any, ...]], BaseException | None]:
    manager = _create_hook_manager()
    recorder = Recorder()
    for hook in (*hooks, recorder):
        manager.register(hook)
    catalog = DataCatalog({k: MemoryDataset(v) for k, v in inputs.items()})
    try:
        SequentialRunner().run(pipeline, catalog, manager, run_id="the-run")
    except Exception as exc:
        return recorder.log, exc
    return recorder.log, None


def _engine_log(
    pipeline: Pipeline, inputs: dict[str, Any], *hooks: Any
) -> tuple[list[tuple[Any, ...]], BaseException | None, dict[str, Any]]:
    manager = _create_hook_manager()
    recorder = Recorder()
    for hook in (*hooks, recorder):
        manager.register(hook)
    calls = CallList(
        pipeline.nodes, observed=("half",), hooks=NodeHooks(manager, DataCatalog(), "the-run")
    )
    values = dict(inputs)
    try:
        calls.run(values)
    except Exception as exc:
        return recorder.log, exc, values
    return recorder.log, None, values


@pytest.mark.parametrize(
    "inputs, hooks",
    [
        ({"a": 1, "b": 2}, ()),
        ({"a": 1, "b": 2}, (Replacer(),)),
        ({"a": -5, "b": 2}, ()),  # the last node fails: on_node_error, then the error
        # Several answers: pluggy's order (last registered first, tryfirst before), the
        # later dict winning, as Kedro merges them.
        ({"a": 1, "b": 2}, (SetsFirst(100), Sets(30), Sets(40))),
        ({"a": 1, "b": 2}, (Wraps(), Sets(30))),
    ],
    ids=["plain", "before_node_run-replaces-inputs", "node-error", "order", "wrapper"],
)
def test_hook_log_equals_kedro_sequential_runner(
    inputs: dict[str, Any], hooks: tuple[Any, ...]
) -> None:
    expected, kedro_error = _kedro_log(_pipeline(), inputs, *hooks)
    found, error, _ = _engine_log(_pipeline(), inputs, *hooks)
    assert found == expected
    assert (type(error), str(error)) == (type(kedro_error), str(kedro_error))
    assert [e[0] for e in found].count("before_dataset_loaded") >= 6


def test_replaced_inputs_reach_the_node() -> None:
    _, _, values = _engine_log(_pipeline(), {"a": 1, "b": 2}, Replacer())
    assert values["total"] == 21 and values["twice"] == 42


def test_on_node_error_comes_before_the_error() -> None:
    log, error, _ = _engine_log(_pipeline(), {"a": -5, "b": 2})
    assert isinstance(error, ValueError) and "negative total -3" in str(error)
    assert log[-1][:3] == ("on_node_error", "halves", "negative total -3")


def test_a_before_node_run_answer_that_is_no_dict_is_a_type_error() -> None:
    _, kedro_error = _kedro_log(_pipeline(), {"a": 1, "b": 2}, BadAnswer())
    _, error, _ = _engine_log(_pipeline(), {"a": 1, "b": 2}, BadAnswer())
    assert isinstance(kedro_error, TypeError) and isinstance(error, TypeError)
    assert "before_node_run" in str(error) and "list" in str(error)


class OnlyContext:
    @hook_impl
    def after_context_created(self, context: Any) -> None:  # pragma: no cover - not called
        pass


def test_no_node_or_dataset_spec_means_no_hooks_in_the_loop() -> None:
    manager = _create_hook_manager()
    manager.register(OnlyContext())
    assert not NodeHooks(manager, DataCatalog(), "r")
    manager.register(Replacer())
    hooks = NodeHooks(manager, DataCatalog(), "r")
    assert hooks and hooks.before_node_run is not None and hooks.after_node_run is None


class _Settings:
    def __init__(self, hooks: tuple[Any, ...], disabled: tuple[str, ...] = ()) -> None:
        self.HOOKS = hooks
        self.DISABLE_HOOKS_FOR_PLUGINS = disabled


def test_selection_follows_krt_yml() -> None:
    settings = _Settings((Recorder(), Replacer()))
    every = select_hooks(settings, HooksPlan())
    kept = [name for name, _ in every.kept]
    assert kept[:2] == ["Recorder", "Replacer"]
    assert dict(every.kept)["Replacer"] == ("before_node_run",)
    # kedro-telemetry is installed with Kedro: its hooks are left out of nodes by default.
    assert "kedro-telemetry" in dict(every.left_out)
    assert OFF_IN_NODES["kedro-telemetry"] in dict(every.left_out)["kedro-telemetry"]
    only = select_hooks(settings, HooksPlan(keep=("Replacer", "kedro-telemetry")))
    assert [name for name, _ in only.kept] == ["Replacer", "kedro-telemetry"]
    assert "Recorder" in dict(only.left_out)
    none = select_hooks(settings, HooksPlan(enabled=False))
    assert not none.kept and not NodeHooks(none.manager, DataCatalog(), "r")


def test_plugins_are_named_by_their_normalised_distribution_name() -> None:
    from kedro_krt.node.runtime.hooks import canonical_name

    # kedro-mlflow 2.0.3's metadata spells its name kedro_mlflow: it is kedro-mlflow here, so
    # OFF_IN_NODES and hooks.keep name it as the docs do; keep takes either spelling.
    assert canonical_name("kedro_mlflow") == "kedro-mlflow" in OFF_IN_NODES
    assert canonical_name("Kedro.Viz") == "kedro-viz" in OFF_IN_NODES
    only = select_hooks(_Settings((Replacer(),)), HooksPlan(keep=("kedro_telemetry",)))
    assert [name for name, _ in only.kept] == ["kedro-telemetry"]


def test_disable_hooks_for_plugins_is_honoured_as_kedro_run_does() -> None:
    selection = select_hooks(
        _Settings((), ("kedro-telemetry",)), HooksPlan(keep=())
    )
    names = [n for n, _ in selection.kept] + [n for n, _ in selection.left_out]
    assert "kedro-telemetry" not in names


def test_keep_naming_an_unknown_hook_says_which_exist() -> None:
    from kedro_krt.node.runtime.hooks import HooksConfigError

    with pytest.raises(HooksConfigError, match=r"hooks.keep names Recorderr.*Recorder"):
        select_hooks(_Settings((Recorder(),)), HooksPlan(keep=("Recorderr",)))


def test_a_wrapper_implementation_runs_as_pluggy_runs_it() -> None:
    wraps = Wraps()
    _engine_log(_pipeline(), {"a": 1, "b": 2}, wraps)
    assert wraps.calls == 3
