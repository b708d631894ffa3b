"""Rows measured five times: the median of the runs and its spread, ``median [min, max]``.

Each run measures a ratio's two sides in the same loop (paired, interleaved call by call, or
round by round over the network), so every run gives one ratio; the table reports the median
of those and the smallest and largest. A target is judged on the median.

Row 1 (in process) and row 2 (end to end, paired) on both pipelines, and the 100,000-row payload
ratio of row 4, are built here; ``benchmarks/main.py`` assembles the table.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from typing import Any

Rows = list[tuple[str, ...]]

#: The two pipelines of rows 1 and 2: result key suffix, label.
PIPELINES = (("", "example"), ("_light", "light"))

#: The servers of a paired e2e group, in the order they are called, with their labels.
SERVERS = (
    ("echo", "echo (transport floor)"),
    ("in-process", "kedro-krt serve, 3 nodes"),
    ("in-process-single", "kedro-krt serve, single"),
    ("nats", "kedro-krt serve --nats, 3 nodes"),
    ("nats-single", "kedro-krt serve --nats, single"),
    ("boot-http", "kedro-boot 0.3.0 FastAPI (uvicorn, HTTP/1.1 keep-alive)"),
)


def stats(values: Sequence[float]) -> tuple[float, float, float]:
    """Median, min and max."""
    return statistics.median(values), min(values), max(values)


def spread(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    """``median [min, max]`` of the runs, each formatted with ``fmt``."""
    if not values:
        return "n/a"
    med, lo, hi = stats(values)
    return f"{fmt(med)} [{fmt(lo)}, {fmt(hi)}]"


def ms(v: float) -> str:
    """Milliseconds, 3 decimals."""
    return f"{v:.3f} ms"


def times(v: float) -> str:
    """A ratio."""
    return f"{v:.2f}x"


def verdict(ok: bool | None) -> str:
    """pass / MISS / n/a."""
    return "n/a" if ok is None else ("pass" if ok else "**MISS**")


def _runs(x: dict[str, Any]) -> list[dict[str, Any]]:
    return list(x.get("runs") or [])


def table_inproc(r: dict[str, Any]) -> Rows:
    """Row 1 on both pipelines: the floor, each path's time above it, the ratios to kedro-boot."""
    rows: Rows = []
    for suffix, label in PIPELINES:
        ns = r.get(f"krt_namespace{suffix}")
        if not ns:
            continue
        runs = _runs(ns)
        n = len(runs)
        rows.append(("1", f"{label}: raw node functions, decoded inputs (floor; {n} runs)",
                     spread([x["floor_ms"] for x in runs], ms), "", "", "", ""))
        over = [x["overhead_ms"] for x in runs]
        light = suffix == "_light"
        med = stats(over)[0]
        rows.append(("1", f"{label}: 3 KRT nodes' handlers (Any in, Any out), time above the "
                     "floor (paired)", spread(over, ms),
                     spread([x["floor_ms"] for x in runs], ms),
                     spread([x["handlers_ms"] / x["floor_ms"] for x in runs], times),
                     "<= 0.3 ms" if light else "<= 2x floor",
                     verdict(med <= 0.3) if light else verdict(
                         stats([x["handlers_ms"] / x["floor_ms"] for x in runs])[0] <= 2)))
        single = r.get("krt_single") if not light else None
        if single:
            s_runs = _runs(single)
            rows.append(("1", f"{label}: handler, grouping single (1 KRT node), time above the "
                         "floor (paired)", spread([x["overhead_ms"] for x in s_runs], ms),
                         spread([x["floor_ms"] for x in s_runs], ms),
                         spread([x["handlers_ms"] / x["floor_ms"] for x in s_runs], times),
                         "<= 2x floor", verdict(stats(
                             [x["handlers_ms"] / x["floor_ms"] for x in s_runs])[0] <= 2)))
        rows.append(("1", f"{label}: engine alone (KrtSession, DataFrames in and out), time "
                     "above the floor (paired)",
                     spread([x["engine_overhead_ms"] for x in runs], ms), "", "", "", ""))
        # kedro-boot's session.run in the same interleaved loop as ours (inproc --with-boot).
        b_runs = [x for x in runs if "boot_overhead_ms" in x]
        if not b_runs:
            rows.append(("1", f"{label}: kedro-boot 0.3.0 session.run", "not measured", "", "",
                         "", ""))
            continue
        rows.append(("1", f"{label}: kedro-boot 0.3.0 session.run, time above the floor "
                     "(paired, the same loop)", spread([x["boot_overhead_ms"] for x in b_runs], ms),
                     spread([x["floor_ms"] for x in b_runs], ms),
                     spread([x["boot_ms"] / x["floor_ms"] for x in b_runs], times), "", ""))
        ratio = [x["boot_overhead_ms"] / x["overhead_ms"] for x in b_runs if x["overhead_ms"] > 0]
        target = ">= 8x" if light else ""
        rows.append(("1", f"{label}: kedro-boot's time above the floor / our 3 nodes' (same "
                     "run)", spread(ratio, times), "", "", target,
                     verdict(bool(ratio) and stats(ratio)[0] >= 8) if light else ""))
        eng = [x["boot_overhead_ms"] / x["engine_overhead_ms"] for x in b_runs
               if x["engine_overhead_ms"] > 0]
        rows.append(("1", f"{label}: kedro-boot's time above the floor / our engine alone's "
                     "(same run)", spread(eng, times), "", "", "" if light else ">= 4x (engine)",
                     "" if light else verdict(bool(eng) and stats(eng)[0] >= 4)))
        prices = {"floor": ns.get("floor_price"),
                  "3 nodes": ns["response"]["quotes"][0]["price"],
                  "kedro-boot": ns.get("boot_price")}
        if single and not light:
            prices["single"] = single["response"]["quotes"][0]["price"]
        if not light and "naive" in r:
            prices["KedroSession"] = r["naive"]["price"]
        same = len({round(p, 2) for p in prices.values() if p is not None}) == 1
        rows.append(("1", f"{label}: same quote on every path (sanity)",
                     ", ".join(f"{k} {v}" for k, v in prices.items()), "", "", "all equal",
                     verdict(same)))
    rows += table_breakdown(r)
    if "naive" in r and "krt_namespace" in r:
        naive = r["naive"]["naive"]["median_ms"]
        floor = r["krt_namespace"]["floor"]["median_ms"]
        rows.append(("1", "example: KedroSession.create().run() per request (CSV in/out)",
                     ms(naive), ms(floor), f"{naive / floor:.1f}x", "", ""))
    return rows


def table_breakdown(r: dict[str, Any]) -> Rows:
    """Row 1, light pipeline: each codec stage's cost in the chain, and the rest
    (``benchmarks/breakdown.py``: each stage measured by its absence, paired)."""
    b = r.get("breakdown_light")
    if not b:
        return []
    runs = _runs(b)
    n = len(runs)
    rows: Rows = [("1", f"light: where the 3 nodes' time above the floor goes: each codec stage "
                   f"measured by its absence in the chain (paired; {n} runs)",
                   spread([x["overhead_ms"] for x in runs], ms) + " in all",
                   spread([x["floor_ms"] for x in runs], ms), "", "", "")]
    for name in runs[0]["stages_ms"]:
        rows.append(("1", f"light:   {name}", spread([x["stages_ms"][name] for x in runs], ms),
                     "", "", "", ""))
    rows.append(("1", "light:   the rest (Any, the unknown-field check, the engine, Kedro's "
                 "node call, relayed bytes)", spread([x["rest_ms"] for x in runs], ms),
                 "", "", "", ""))
    return rows


def _p50(runs: list[dict[str, Any]], name: str) -> list[float]:
    return [x["servers"][name]["p50_ms"] for x in runs if name in x["servers"]]


def _p50_ratio(runs: list[dict[str, Any]], name: str, base: str) -> list[float]:
    """Per run: p50 of ``name`` / p50 of ``base`` (both called in the same rounds)."""
    out = []
    for x in runs:
        srv = x["servers"]
        if name in srv and base in srv and srv[base]["p50_ms"] > 0:
            out.append(srv[name]["p50_ms"] / srv[base]["p50_ms"])
    return out


def table_e2e(r: dict[str, Any]) -> Rows:
    """Row 2 on both pipelines: every server up together, called in alternation, 5 runs."""
    rows: Rows = []
    for suffix, label in PIPELINES:
        p = r.get(f"e2e{suffix}")
        if not p:
            continue
        runs = _runs(p) or [p]
        rounds = sum(x["rounds"] for x in runs)
        for name, what in SERVERS:
            if name not in runs[0]["servers"]:
                continue
            p50 = _p50(runs, name)
            p99 = [x["servers"][name]["p99_ms"] for x in runs]
            echo = _p50(runs, "echo")
            ratio = _p50_ratio(runs, name, "echo")
            is_serve = name == "in-process" and not suffix
            block = runs[0].get("block", 1)
            calls = f" of {block} calls" if block > 1 else ""
            rows.append(("2", f"{label}: e2e p50 / p99, {what} ({len(runs)} runs, {rounds} "
                         f"rounds{calls} in all)", f"{spread(p50, ms)} / {spread(p99, ms)}",
                         f"echo {spread(echo, ms)}" if name != "echo" else "",
                         spread(ratio, times) if name != "echo" else "",
                         "<= 2x echo" if is_serve else "",
                         verdict(stats(ratio)[0] <= 2) if is_serve else ""))
        if suffix == "_light":
            rows += _light_goals(r, runs)
        servers = runs[0]["servers"]
        if "boot-http" in servers:
            for ours, what in (("in-process", "serve"), ("nats", "serve --nats")):
                if ours not in servers:
                    continue
                ratio = _p50_ratio(runs, "boot-http", ours)
                rows.append(("2", f"{label}:   kedro-boot FastAPI p50 / our {what} p50 (3 nodes)",
                             spread(ratio, times), "", "", "", ""))
        for nodes, (ours, inproc) in ((3, ("nats", "in-process")),
                                      (1, ("nats-single", "in-process-single"))):
            key = f"{ours} - {inproc}"
            if key not in runs[0]["paired_ms"]:
                continue
            cost = [x["paired_ms"][key] for x in runs]
            rows.append(("2", f"{label}:   --nats - in-process, {nodes} KRT node"
                         f"{'s' if nodes > 1 else ''}, paired: per request ({nodes + 1} "
                         "JetStream hops)", spread(cost, ms), "", "", "", ""))
        k3, k1 = "nats - in-process", "nats-single - in-process-single"
        if k3 in runs[0]["paired_ms"] and k1 in runs[0]["paired_ms"]:
            hop = [(x["paired_ms"][k3] - x["paired_ms"][k1]) / 2 for x in runs]
            rows.append(("2", f"{label}:   --nats per hop: ((3 nodes - in-process) - (1 node - "
                         "in-process)) / 2 extra hops, same run", spread(hop, ms), "", "", "",
                         ""))
        answers = p.get("answers", {})
        for ours, inproc, what in (("nats", "in-process", "3 nodes"),
                                   ("nats-single", "in-process-single", "single")):
            if ours in answers and inproc in answers:
                same = answers[ours] == answers[inproc]
                rows.append(("2", f"{label}:   --nats answers the same bytes as in-process "
                             f"({what}, sanity)", "yes" if same else "no", "", "", "equal",
                             verdict(same)))
        reply = (p.get("http_replies") or {}).get("boot-http")
        ref = r.get(f"krt_namespace{suffix}", {}).get("response", {}).get("quotes")
        if reply is not None:
            try:
                boot_price = json.loads(reply)[0]["price"]
            except (ValueError, KeyError, IndexError, TypeError):
                boot_price = None
            ours_price = ref[0]["price"] if ref else None
            ok = None if ours_price is None else boot_price == ours_price
            rows.append(("2", f"{label}:   kedro-boot FastAPI quotes the same price (sanity)",
                         f"kedro-boot {boot_price}, kedro-krt {ours_price}", "", "", "equal",
                         verdict(ok)))
    t = r.get("nats_trivial")
    if t:
        runs = _runs(t) or [t]
        for mode, what in (("in-process", "in-process"), ("nats", "--nats")):
            ratio = _p50_ratio(runs, mode, "echo")
            goal = mode == "in-process"  # issue 24: the serving path costs about an echo
            rows.append(("2", f"trivial 1-node KRT: e2e p50 / p99, {what} ({len(runs)} runs)",
                         f"{spread(_p50(runs, mode), ms)} / "
                         f"{spread([x['servers'][mode]['p99_ms'] for x in runs], ms)}",
                         f"echo {spread(_p50(runs, 'echo'), ms)}",
                         spread(ratio, times), "<= 1.15x echo" if goal else "",
                         verdict(bool(ratio) and stats(ratio)[0] <= 1.15) if goal else ""))
        cost = [x["paired_ms"]["nats - in-process"] for x in runs]
        rows.append(("2", "trivial 1-node KRT:   --nats - in-process, paired: per request (2 "
                     "JetStream hops) / per hop", f"{spread(cost, ms)} / "
                     f"{spread([c / 2 for c in cost], ms)}", "", "", "", ""))
        answers = t.get("answers", {})
        same = answers.get("nats") == answers.get("in-process")
        rows.append(("2", "trivial 1-node KRT:   --nats answers the same bytes as in-process "
                     "(sanity)", "yes" if same else "no", "", "", "equal", verdict(same)))
    return rows


def node_work_ms(r: dict[str, Any]) -> float | None:
    """The light pipeline's node work per request: row 1's median of node functions + our 3
    KRT nodes' handlers above them (``handlers_ms``), or None when row 1 did not run."""
    runs = _runs(r.get("krt_namespace_light") or {})
    return stats([x["handlers_ms"] for x in runs])[0] if runs else None


def _light_goals(r: dict[str, Any], runs: list[dict[str, Any]]) -> Rows:
    """Issue 24's goals of ``serve`` on the light pipeline (3 nodes), from row 2's runs: p50
    against what it cannot go below (the echo's round trip plus row 1's node work), and the
    tail at c=1."""
    rows: Rows = []
    work = node_work_ms(r)
    if "in-process" not in runs[0]["servers"]:
        return rows
    if work is None:
        rows.append(("2", "light:   serve p50 / (echo p50 + node functions + handlers above "
                     "them), 3 nodes", "n/a (row 1 did not run: --only inproc)", "", "",
                     "<= 1.2x", "n/a"))
    else:
        limit = [x["servers"]["echo"]["p50_ms"] + work for x in runs]
        ratio = [x["servers"]["in-process"]["p50_ms"] / lim
                 for x, lim in zip(runs, limit, strict=True)]
        rows.append(("2", "light:   serve p50 / (echo p50 + node functions + handlers above "
                     "them), 3 nodes", spread(_p50(runs, "in-process"), ms),
                     f"{spread(limit, ms)} (echo + {ms(work)}, row 1)", spread(ratio, times),
                     "<= 1.2x", verdict(stats(ratio)[0] <= 1.2)))
    cold = _runs(r.get("e2e_light_cold") or {})
    if cold and work is not None:
        c_ratio = [x["servers"]["in-process"]["p50_ms"] / (x["servers"]["echo"]["p50_ms"] + work)
                   for x in cold]
        rows.append(("2", "light:   the same, call by call (each call right after the five "
                     "other servers': processes cold), judged nowhere",
                     f"serve {spread(_p50(cold, 'in-process'), ms)}, echo "
                     f"{spread(_p50(cold, 'echo'), ms)}", "", spread(c_ratio, times), "", ""))
    tail = [x["servers"]["in-process"]["p99_ms"] / x["servers"]["in-process"]["p50_ms"]
            for x in runs]
    echo_tail = [x["servers"]["echo"]["p99_ms"] / x["servers"]["echo"]["p50_ms"] for x in runs]
    rows.append(("2", "light:   serve p99 / p50 at c=1, 3 nodes", spread(tail, times),
                 f"the echo's, same rounds: {spread(echo_tail, times)}", "", "<= 2x",
                 verdict(stats(tail)[0] <= 2)))
    return rows


def table_cpu(r: dict[str, Any]) -> Rows:
    """Row 3, light pipeline: the server's CPU per request at c=8, ``--workers 1``, against
    the echo's plus row 1's node work, 5 runs (``main.cpu_rows``)."""
    c = r.get("cpu_light")
    if not c:
        return []
    runs = c["runs"]

    def per_request(x: dict[str, Any]) -> float:
        return 1000 * x["server_cpu"] * x["seconds"] / max(1, x["requests"])

    ours = [per_request(x["in-process"]) for x in runs]
    echo = [per_request(x["echo"]) for x in runs]
    rps = [x["in-process"]["rps"] for x in runs]
    rows: Rows = [("3", f"light: server CPU per request, c=8, --workers 1, 3 nodes ({len(runs)} "
                   "runs)", f"{spread(ours, ms)} ({spread(rps, lambda v: f'{v:.0f}')} req/s)",
                   f"echo {spread(echo, ms)}", "", "", "")]
    work = node_work_ms(r)
    if work is None:
        rows.append(("3", "light:   server CPU per request - (echo's + node work)", "n/a (row 1 "
                     "did not run: --only inproc)", "", "", "<= 0.15 ms", "n/a"))
        return rows
    above = [o - e - work for o, e in zip(ours, echo, strict=True)]
    rows.append(("3", "light:   server CPU per request - (echo's + node work)",
                 spread(above, ms), f"node work {ms(work)} (row 1)", "", "<= 0.15 ms",
                 verdict(stats(above)[0] <= 0.15)))
    return rows


def table_payload_bulk(r: dict[str, Any]) -> Rows:
    """Row 4's 100,000-row target, per layout: decode + encode / the pandas floor, 5 runs."""
    rows: Rows = []
    bulk = r.get("payload", {}).get("bulk", {})
    for layout, what in (("rows", "row layout (default)"), ("columns", "columnar layout "
                                                                        "(`layout: columns`)")):
        b = bulk.get(layout)
        if b is None:
            continue
        if "unavailable" in b:
            rows.append(("4", f"decode + encode, 100,000 rows, {what}", "not available", "", "",
                         "<= 1.2x", f"n/a: {b['unavailable']}"))
            continue
        runs = b["runs"]
        ratio = [(x["decode_ms"] + x["encode_ms"]) / (x["floor_decode_ms"] + x["floor_encode_ms"])
                 for x in runs]
        rows.append(("4", f"decode + encode, 100,000 rows, {what} ({len(runs)} runs, "
                     f"{b['request_bytes']:,} B request)",
                     f"{spread([x['decode_ms'] for x in runs], ms)} + "
                     f"{spread([x['encode_ms'] for x in runs], ms)}",
                     f"{spread([x['floor_decode_ms'] for x in runs], ms)} + "
                     f"{spread([x['floor_encode_ms'] for x in runs], ms)}",
                     spread(ratio, times), "<= 1.2x", verdict(stats(ratio)[0] <= 1.2)))
    return rows
