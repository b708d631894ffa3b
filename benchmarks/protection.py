"""Row 7: what Kedro's copy semantics cost per message (``runtime/copies.py``, ``CallList``).

    python -m benchmarks.protection expect  --project P            # Kedro's replies to BODIES
    python -m benchmarks.protection flights --protected DIR --assign DIR --expect FILE
    python -m benchmarks.protection example --krt-dir DIR --project P

``flights``: a project shaped like Kedro's spaceflights starter (the one of
``tests/e2e/test_kedro_semantics.py``: ``preprocess_shuttles`` assigns columns of its input in
place, the request table is read by two nodes, ``quote`` changes a DataFrame artifact and a dict
artifact in place), written by :func:`write_flights` into the bench's scratch folder and packaged
twice: as it is (``--protected``) and with ``copy_mode: {<every dataset>: assign}`` in
``conf/base/krt.yml`` (``--assign``: no copies at all, and wrong answers). Both unpacked KRTs are
loaded in one process with the server's loader and their handlers chained as ``inproc.py krt``
does; the two chains are timed call by call, alternating (``common.time_interleaved``): the
assign variant is the floor, the paired difference is what the protection costs per message.
A sanity check first sends the same requests to fresh nodes of each variant and compares the
replies with Kedro's ``SequentialRunner`` on the same requests (``expect``, a process of its
own): the protected replies must equal Kedro's, the assign ones must not.

``example``: the example's KRT as packaged (its model artifact is shared by reference: no node
changes it in the trial run). The same handlers are timed with each KRT node's ``CallList``
swapped, per call, for one built over the same Kedro nodes with every dataset in ``assign`` (no
protection at all; right answers here, which the sanity check confirms).

Both modes also time, in alternation:

- the Kedro calls alone (real functions, decoded inputs, no codec): the protected ``CallList``s
  against the same calls with each guarded input read from a deep copy made before the call,
  outside the timing (right answers, no copy inside: the floor of the protection's real cost,
  its copies plus the copy-on-write pandas does when a node writes to a shallow copy), and, for
  ``flights``, the all-``assign`` KRT's ``CallList``s (what its wrong answers save);
- the ``CallList``s with every Kedro node's function replaced by one returning its recorded
  outputs: the copies alone, without the noise of the user's code;

and count the values copied per message (``copy_value`` wrapped for one message, a copy being a
result that is not the value itself).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from collections import Counter
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from benchmarks.common import (
    RPC,
    LoadedKrt,
    emit,
    one_row_request_json,
    paired_overhead_ms,
    quiet_logging,
    time_interleaved,
)

# -- the spaceflights-shaped project (as tests/e2e/test_kedro_semantics.py) --------------------

FLIGHTS_PACKAGE = "krt_flights"
FLIGHTS_PIPELINE = "flights"
FLIGHTS_RPC = "Flights"

#: The project, shared with tests/e2e/test_kedro_semantics.py.
FLIGHTS_PROJECT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "flights_project"
#: Every dataset of `flights`: the unprotected variant assigns them all.
FLIGHTS_DATASETS = (
    "prep.shuttles", "prep.preprocessed", "prep.checked", "rates", "settings", "price.quotes",
)

ASSIGN_KRT_YML = "# Bench-only: no copies at all (wrong answers: the floor of row 7).\n" + (
    "copy_mode:\n" + "".join(f"  {d}: assign\n" for d in FLIGHTS_DATASETS)
)


def _body(rows: list[tuple[int, str, str]]) -> dict[str, Any]:
    return {"shuttles": [{"id": i, "d_check_complete": c, "price": p} for i, c, p in rows]}


#: The requests of the sanity check, in order (the test's three, then the first again); the
#: first one is also the timed request.
BODIES = [
    _body([(1, "t", "$1,325.0"), (2, "f", "$990.5")]),
    _body([(1, "t", "$1,325.0"), (2, "f", "$990.5")]),
    _body([(3, "t", "$10.0"), (4, "t", "$2,000.0"), (5, "f", "$1.0")]),
    _body([(1, "t", "$1,325.0"), (2, "f", "$990.5")]),
]


def big_body(rows: int) -> dict[str, Any]:
    """A request of ``rows`` rows, to see whether the protection's cost grows with the table."""
    return _body([(i, "t" if i % 3 else "f", f"${i * 7 % 5000},{i % 1000:03d}.5")
                  for i in range(rows)])


def write_flights(dest: Path, *, assign: bool) -> Path:
    """The spaceflights-shaped project of tests/fixtures/flights_project at ``dest`` (with the
    all-``assign`` krt.yml if asked)."""
    shutil.copytree(FLIGHTS_PROJECT, dest, ignore=shutil.ignore_patterns("__pycache__"))
    if assign:
        (dest / "conf" / "base" / "krt.yml").write_text(ASSIGN_KRT_YML, encoding="utf-8")
    return dest


def _normalise_kedro(quotes: Any, checked: Any) -> dict[str, Any]:
    return {
        "quotes": [[float(q), bool(c)] for q, c in zip(quotes["quote"], quotes["checked"],
                                                       strict=True)],
        "checked": [int(c) for c in checked["checked"]],
    }


def _normalise_reply(reply: dict[str, Any]) -> dict[str, Any]:
    return {
        "quotes": [[float(q.get("quote", 0.0)), bool(q.get("checked", False))]
                   for q in reply.get("quotes", [])],
        "checked": [int(c.get("checked", 0)) for c in reply.get("checked", [])],
    }


def run_expect(project: Path) -> dict[str, Any]:
    """Kedro's SequentialRunner on each of BODIES, the request in memory (as the e2e test)."""
    quiet_logging()
    import pandas as pd
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro.io import MemoryDataset
    from kedro.runner import SequentialRunner

    bootstrap_project(project)
    quiet_logging()
    out = []
    for body in BODIES:
        with KedroSession.create(project_path=project) as session:
            catalog = cast(Any, session).load_context().catalog
            catalog["prep.shuttles"] = MemoryDataset(pd.DataFrame(body["shuttles"]))
            for name in ("price.quotes", "prep.checked"):
                catalog[name] = MemoryDataset()
            SequentialRunner().run(pipelines[FLIGHTS_PIPELINE], catalog)
            out.append(_normalise_kedro(catalog.load("price.quotes"),
                                        catalog.load("prep.checked")))
    return {"expected": out}


# -- loading KRTs, driving handlers ------------------------------------------------------------


def _call_list_module(loaded: LoadedKrt) -> Any:
    """The globals the nodes' CallList.run reads ``copy_value`` from."""
    return type(loaded.sessions[0]._calls).run.__globals__


def count_copies(loaded: LoadedKrt, payload: Any) -> dict[str, Any]:
    """What one message copies: ``copy_value`` wrapped for one chain call.

    A call whose result is the value itself (an immutable parameter, ``assign``) is a check, not
    a copy. Each copy is named by its dataset: the guarded input being handed over (``name`` in
    ``CallList.run``) or the output that is a shared object (``key``).
    """
    scope = _call_list_module(loaded)
    original = scope["copy_value"]
    copies: Counter[str] = Counter()
    checks = 0

    def counting(value: Any, mode: Any = None) -> Any:
        nonlocal checks
        out = original(value, mode)
        checks += 1
        if out is not value:
            frame = sys._getframe(1).f_locals
            if "key" in frame and frame.get("value") is value:
                where = f"output {frame['key']}"
            else:
                where = str(frame.get("name", "?"))
            kind = mode or scope["infer_copy_mode"](value)
            copies[f"{where} ({type(value).__name__}, {kind})"] += 1
        return out

    scope["copy_value"] = counting
    try:
        loaded.chain(payload)
    finally:
        scope["copy_value"] = original
    return {"copies": sum(copies.values()), "checks": checks, "by_dataset": dict(copies)}


def guarded(loaded: LoadedKrt) -> list[list[str]]:
    """Per KRT node, the inputs its CallList hands over through ``copy_value`` (static)."""
    return [[f"{name} ({mode or 'inferred'})" for _, _, g, _ in s._calls._steps
             for name, mode in g] for s in loaded.sessions]


def unprotected(call_list: Any) -> Any:
    """A CallList over the same Kedro nodes with every dataset in ``assign``: no copies."""
    nodes = [SimpleNamespace(run=run, inputs=list(inputs), outputs=list(outputs))
             for run, inputs, _, outputs in call_list._steps]
    names = {d for n in nodes for d in (*n.inputs, *n.outputs)}
    return type(call_list)(nodes, modes=dict.fromkeys(names, "assign"))


def stubbed(call_list: Any, values: dict[str, Any]) -> Any:
    """The same CallList (same guards) with each node's function replaced by one returning the
    outputs it gave in a real run: the protection's own cost without the user's code."""
    out = object.__new__(type(call_list))
    for slot in type(call_list).__slots__:  # every field as is (hooks too), then the steps
        setattr(out, slot, getattr(call_list, slot))
    steps = []
    for _, inputs, guards, outputs in call_list._steps:
        recorded = {k: values[k] for k in outputs}
        steps.append(((lambda args, r=recorded: dict(r)), inputs, guards, outputs))
    out._steps = steps
    return out


def _record(loaded: LoadedKrt, payload: Any) -> list[dict[str, Any]]:
    """Each KRT node's CallList values for one message: ``before`` (what the message brings:
    decoded inputs and parameters, deep-copied before the calls) and ``after`` (every value)."""
    import copy

    seen: list[dict[str, Any]] = []
    saved = [s._calls for s in loaded.sessions]

    class Recorder:
        def __init__(self, inner: Any, shared: dict[str, Any]) -> None:
            self.inner, self.shared = inner, shared

        def run(self, values: dict[str, Any]) -> dict[str, Any]:
            message = {k: v for k, v in values.items()
                       if k not in self.shared or v is not self.shared[k]}
            before = copy.deepcopy(message)
            result = self.inner.run(values)
            seen.append({"before": before, "after": dict(result)})
            return result

    try:
        for s in loaded.sessions:
            s._calls = Recorder(s._calls, s._shared)
        loaded.chain(payload)
    finally:
        for s, c in zip(loaded.sessions, saved, strict=True):
            s._calls = c
    return seen


class _Fresh:
    """The Kedro calls of a protected CallList without any copy inside: each input it guards is
    read from a deep copy made beforehand, outside the timing (:meth:`prepare`). Correct answers
    for free: the floor of the protection's real cost (its copies, and the copy-on-write pandas
    does later when a node writes to a shallow copy)."""

    def __init__(self, call_list: Any) -> None:
        self.steps = []
        self.aliases: list[tuple[str, str]] = []
        for i, (run, inputs, guards, _) in enumerate(call_list._steps):
            names = {n for n, _ in guards}
            aliased = tuple(f"{n}#fresh{i}" if n in names else n for n in inputs)
            self.aliases += [(f"{n}#fresh{i}", n) for n in sorted(names)]
            self.steps.append((run, inputs, aliased))

    def prepare(self, values: dict[str, Any]) -> dict[str, Any]:
        """``values`` plus a deep copy of each guarded input (absent ones: see :meth:`run`)."""
        import copy

        for alias, name in self.aliases:
            if name in values:
                values[alias] = copy.deepcopy(values[name])
        return values

    def run(self, values: dict[str, Any]) -> dict[str, Any]:
        """The calls. A guarded input made inside this KRT node has no copy made beforehand: it
        is read as it is (never the case in the two projects here)."""
        for run, inputs, aliased in self.steps:
            values.update(run({k: values.get(a, values[k]) for k, a in zip(inputs, aliased,
                                                                          strict=True)}))
        return values


def time_calls(prot: LoadedKrt, payload: Any, bare: LoadedKrt | None = None) -> dict[str, Any]:
    """The Kedro calls of every KRT node, real functions, decoded inputs, no codec: the
    protected CallLists against the same calls on values copied beforehand (``fresh``), and the
    all-``assign`` KRT's CallLists if given; the message's values are deep-copied before each
    call, outside the timing, as decoding makes them fresh."""
    import copy

    recorded = _record(prot, payload)
    messages = [r["before"] for r in recorded]
    fresh = [_Fresh(s._calls) for s in prot.sessions]
    missing = sorted({n for f, m, s in zip(fresh, messages, prot.sessions, strict=True)
                      for _, n in f.aliases if n not in m and n not in s._shared})
    state: dict[str, list[dict[str, Any]]] = {}

    def setup(key: str, sessions: list[Any], pre: list[Any] | None = None) -> Any:
        def make() -> None:
            vals = [{**s._shared, **copy.deepcopy(m)} for s, m in zip(sessions, messages,
                                                                         strict=True)]
            if pre is not None:
                vals = [f.prepare(v) for f, v in zip(pre, vals, strict=True)]
            state[key] = vals
        return make

    def runner(key: str, calls: list[Any]) -> Any:
        def run() -> None:
            for c, v in zip(calls, state[key], strict=True):
                c.run(v)
        return run

    fns = {"protected": runner("protected", [s._calls for s in prot.sessions]),
           "fresh": runner("fresh", fresh)}
    setups = {"protected": setup("protected", prot.sessions),
              "fresh": setup("fresh", prot.sessions, fresh)}
    if bare is not None:
        fns["assign"] = runner("assign", [s._calls for s in bare.sessions])
        setups["assign"] = setup("assign", bare.sessions)
    timed = time_interleaved(fns, setups=setups, max_iters=3000, max_seconds=5.0)
    out = _pair(timed, "protected", "fresh")
    if bare is not None:
        out["assign"] = timed["assign"].as_dict()
        out["fresh_minus_assign_us"] = paired_overhead_ms(timed["fresh"], timed["assign"]) * 1e3
    out["read_as_is"] = missing
    return out


def time_call_lists(protected: list[Any], bare: list[Any], recorded: list[dict[str, Any]],
                    ) -> dict[str, Any]:
    """The CallLists alone (stubbed functions), protected against unprotected, interleaved."""
    p = [stubbed(c, r["after"]) for c, r in zip(protected, recorded, strict=True)]
    b = [stubbed(c, r["after"]) for c, r in zip(bare, recorded, strict=True)]
    inputs = [{**r["after"], **r["before"]} for r in recorded]

    def run_p() -> None:
        for c, v in zip(p, inputs, strict=True):
            c.run(dict(v))

    def run_b() -> None:
        for c, v in zip(b, inputs, strict=True):
            c.run(dict(v))

    timed = time_interleaved({"protected": run_p, "bare": run_b}, max_iters=20000,
                             max_seconds=3.0, warmup=200)
    return _pair(timed, "protected", "bare")


def _pair(timed: dict[str, Any], a: str, b: str) -> dict[str, Any]:
    """Medians of ``a`` and ``b``, the median of their paired differences and its 95 %
    confidence interval (distribution-free: the order statistics n/2 -+ 0.98 sqrt(n))."""
    diffs = sorted(x - y for x, y in zip(timed[a].samples, timed[b].samples, strict=False))
    n = len(diffs)
    lo = max(0, math.floor(n / 2 - 0.98 * math.sqrt(n)))
    hi = min(n - 1, math.ceil(n / 2 + 0.98 * math.sqrt(n)))
    return {
        a: timed[a].as_dict(),
        b: timed[b].as_dict(),
        "cost_us": paired_overhead_ms(timed[a], timed[b]) * 1000.0,
        "ci95_us": [diffs[lo] * 1e6, diffs[hi] * 1e6],
        "ratio": timed[a].median_ms / timed[b].median_ms,
    }


# -- the two measurements ----------------------------------------------------------------------


def run_flights(protected_dir: Path, assign_dir: Path, expect: Path,
                big_rows: int = 1000) -> dict[str, Any]:
    """The spaceflights-shaped KRT packaged as it is against the all-``assign`` one."""
    expected = json.loads(expect.read_text(encoding="utf-8"))["expected"]
    prot = LoadedKrt(protected_dir, FLIGHTS_RPC, "krt-bench-protection-")
    bare = LoadedKrt(assign_dir, FLIGHTS_RPC, "krt-bench-protection-")
    quiet_logging()
    payloads = [prot.payload(json.dumps(b)) for b in BODIES]
    # Sanity on fresh nodes: the replies to the same requests in a row, against Kedro's.
    replies = {
        "protected": [_normalise_reply(prot.reply(p)) for p in payloads],
        "assign": [_normalise_reply(bare.reply(p)) for p in payloads],
    }
    sanity = {
        "expected": expected,
        "replies": replies,
        "protected_equal": replies["protected"] == expected,
        "assign_differs": replies["assign"] != expected,
        "assign_equal_per_request": [a == e for a, e in zip(replies["assign"], expected,
                                                            strict=True)],
    }
    out: dict[str, Any] = {
        "sanity": sanity,
        "nodes": [n.name for n in prot.wf.nodes],
        "guarded": guarded(prot),
        "guarded_assign": guarded(bare),
    }
    for label, body in (("request", BODIES[0]), (f"request_{big_rows}", big_body(big_rows))):
        payload = prot.payload(json.dumps(body))
        copies = count_copies(prot, payload)
        copies_assign = count_copies(bare, payload)
        timed = time_interleaved(
            {"protected": partial(prot.chain, payload), "assign": partial(bare.chain, payload)},
            max_iters=3000, max_seconds=6.0 if label == "request" else 4.0,
        )
        out[label] = {
            "rows": len(body["shuttles"]),
            "copies": copies,
            "copies_assign": copies_assign,
            "handlers": _pair(timed, "protected", "assign"),
            "calls": time_calls(prot, payload, bare),
            "call_lists": time_call_lists(
                [s._calls for s in prot.sessions], [s._calls for s in bare.sessions],
                _record(prot, payload),
            ),
        }
    return out


def run_example(krt_dir: Path, project: Path) -> dict[str, Any]:
    """The example's KRT as packaged, against its CallLists swapped for unprotected ones."""
    loaded = LoadedKrt(krt_dir, RPC, "krt-bench-protection-")
    quiet_logging()
    payload = loaded.payload(one_row_request_json(project))
    sessions = loaded.sessions
    protected = [s._calls for s in sessions]
    bare = [unprotected(c) for c in protected]

    def use(calls: list[Any]) -> None:
        for s, c in zip(sessions, calls, strict=True):
            s._calls = c

    def with_calls(calls: list[Any]) -> Any:
        def run() -> Any:
            use(calls)
            return loaded.chain(payload)
        return run

    # Twice each: an unprotected node that changed a shared value would answer otherwise.
    replies = {"protected": [loaded.reply(payload) for _ in range(2)]}
    use(bare)
    replies["unprotected"] = [loaded.reply(payload) for _ in range(2)]
    copies_bare = count_copies(loaded, payload)
    use(protected)
    copies = count_copies(loaded, payload)
    recorded = _record(loaded, payload)
    timed = time_interleaved(
        {"protected": with_calls(protected), "unprotected": with_calls(bare)},
        max_iters=3000, max_seconds=8.0,
    )
    use(protected)
    # What the plan says of each value loaded once (artifacts, parameters).
    shared = {d.name: [d.copy_mode, d.copy_rule] for s in sessions for d in s.plan.datasets
              if d.role in ("artifact", "fixed-parameter", "parameter")}
    return {
        "nodes": [n.name for n in loaded.wf.nodes],
        "copies": copies,
        "copies_unprotected": copies_bare,
        "guarded": guarded(loaded),
        "shared": shared,
        "same_replies": all(r == replies["protected"][0] for v in replies.values() for r in v),
        "handlers": _pair(timed, "protected", "unprotected"),
        "calls": time_calls(loaded, payload),
        "call_lists": time_call_lists(protected, bare, recorded),
        "price": replies["protected"][0]["quotes"][0]["price"],
    }


def main() -> None:
    """Parse the mode, measure, print the JSON result."""
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["expect", "flights", "example"])
    parser.add_argument("--project", type=Path)
    parser.add_argument("--protected", type=Path)
    parser.add_argument("--assign", type=Path)
    parser.add_argument("--expect", type=Path)
    parser.add_argument("--krt-dir", type=Path)
    parser.add_argument("--big-rows", type=int, default=1000)
    args = parser.parse_args()
    if args.mode == "expect":
        emit(run_expect(args.project))
    elif args.mode == "flights":
        emit(run_flights(args.protected, args.assign, args.expect, args.big_rows))
    else:
        emit(run_example(args.krt_dir, args.project))


if __name__ == "__main__":
    main()
