"""Row 9: what Kedro's hooks cost a served node per Kedro node per message (issue 23).

    python -m benchmarks.hooks [--seconds S] [--reps N]

A chain of ``NODES`` trivial Kedro nodes (``x + 1`` on an int: the engine's own work is all
there is to see) runs through the engine's :class:`~kedro_krt.node.runtime.engine.CallList`
three ways, timed in alternation (``time_interleaved``), each timed call being ``BATCH``
messages:

- **floor**: the engine's loop as it was before hooks existed (a copy of it, below, over the
  same compiled steps);
- **no hook**: ``CallList`` with the hooks of a project whose hooks implement no node or
  dataset spec (an ``after_context_created`` hook, in Kedro's own hook manager): what every
  project without such hooks runs;
- **one pair**: the same with one trivial ``before_node_run`` / ``after_node_run`` pair.

Reported per run: the median of the paired differences to the floor, per node per message
(each message runs ``NODES`` nodes). Target: no hook adds under 1 us per node.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

from benchmarks.common import emit, time_interleaved
from kedro_krt.node.runtime.copies import copy_value

NODES = 10
BATCH = 20


def _inc(x: int) -> int:
    return x + 1


def _pipeline_nodes() -> list[Any]:
    from kedro.pipeline import node

    return [node(_inc, f"d{i}", f"d{i + 1}", name=f"n{i}") for i in range(NODES)]


class ContextOnly:
    """A hook of no node or dataset spec (the case of most projects' settings)."""

    from kedro.framework.hooks import hook_impl

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        pass


class TrivialPair:
    """The cheapest ``before_node_run`` / ``after_node_run`` pair."""

    from kedro.framework.hooks import hook_impl

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        return None

    @hook_impl
    def after_node_run(self, node: Any) -> None:
        pass


def _before_hooks(calls: Any, values: dict[str, Any]) -> dict[str, Any]:
    """``CallList.run`` as it was before hooks (kedro-krt 0.x up to issue 23), on its steps."""
    shared_ids = calls._shared_ids
    for run, inputs, guarded, _ in calls._steps:
        args = {k: values[k] for k in inputs}
        for name, mode in guarded:
            args[name] = copy_value(args[name], mode)
        outputs = run(args)
        if shared_ids:
            for key, value in outputs.items():
                if id(value) in shared_ids and calls._modes.get(key) != "assign":
                    outputs[key] = copy_value(value, calls._modes.get(key))
        values.update(outputs)
    return values


def _calls(*hooks: Any) -> Any:
    from kedro.framework.hooks import _create_hook_manager
    from kedro.io import DataCatalog

    from kedro_krt.node.runtime.engine import CallList
    from kedro_krt.node.runtime.hooks import NodeHooks

    manager = _create_hook_manager()
    for hook in hooks:
        manager.register(hook)
    return CallList(
        _pipeline_nodes(), observed=(f"d{NODES}",),
        hooks=NodeHooks(manager, DataCatalog(), "bench"),
    )


def measure(seconds: float) -> dict[str, float]:
    """One run: per node per message, no hook - floor and one pair - floor, in us."""
    floor_calls = _calls()
    none_calls = _calls(ContextOnly())
    pair_calls = _calls(TrivialPair())
    assert none_calls._hooks is None and pair_calls._hooks is not None

    def batch(run: Any, calls: Any) -> Any:
        def go() -> None:
            for _ in range(BATCH):
                out = run(calls, {"d0": 0})
                assert out[f"d{NODES}"] == NODES

        return go

    timings = time_interleaved(
        {
            "floor": batch(_before_hooks, floor_calls),
            "none": batch(lambda c, v: c.run(v), none_calls),
            "pair": batch(lambda c, v: c.run(v), pair_calls),
        },
        max_iters=10**6, max_seconds=seconds, warmup=50,
    )
    per = 1e6 / (BATCH * NODES)  # seconds per batch -> us per node per message

    def paired(name: str) -> float:
        a, b = timings[name].samples, timings["floor"].samples
        return statistics.median(x - y for x, y in zip(a, b, strict=False)) * per

    return {
        "floor_us_per_node": statistics.median(timings["floor"].samples) * per,
        "none_us_per_node": paired("none"),
        "pair_us_per_node": paired("pair"),
        "n": len(timings["floor"].samples),
    }


def table(r: dict[str, Any]) -> list[tuple[str, ...]]:
    """Rows of ``benchmarks/RESULTS.md``: what, value, floor, ratio, target, result."""
    from benchmarks.spread import spread, stats

    runs = r["runs"]

    def us(v: float) -> str:
        return f"{v:.3f} us"

    floor = stats([x["floor_us_per_node"] for x in runs])[0]
    none = stats([x["none_us_per_node"] for x in runs])[0]
    pair = stats([x["pair_us_per_node"] for x in runs])[0]
    where = f"{NODES} trivial Kedro nodes, {len(runs)} runs"
    return [
        (
            "9",
            f"Kedro hooks, none implementing a node or dataset spec: added per node per "
            f"message ({where})",
            spread([x["none_us_per_node"] for x in runs], us),
            f"the engine's loop before hooks: {us(floor)} per node",
            f"{(floor + none) / floor:.2f}x",
            "< 1 us per node",
            "pass" if none < 1.0 else "**MISS**",
        ),
        (
            "9",
            f"Kedro hooks, one trivial before_node_run / after_node_run pair: added per node "
            f"per message ({where})",
            spread([x["pair_us_per_node"] for x in runs], us),
            f"the engine's loop before hooks: {us(floor)} per node",
            f"{(floor + pair) / floor:.2f}x",
            "",
            "",
        ),
    ]


def main() -> None:
    """Measure ``--reps`` runs of ``--seconds`` each; print them as JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    emit({"runs": [measure(args.seconds) for _ in range(args.reps)], "nodes": NODES})


if __name__ == "__main__":
    main()
