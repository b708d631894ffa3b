"""The benchmark's own logic (``benchmarks/``): how five runs become a row and a verdict, what a
py-spy file says, and that the bench-only light pipeline still packages into a 3-node KRT.

No speed is asserted here: figures go to ``make bench``.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from benchmarks import light, main, spread
from benchmarks.pyspy import summarise
from tests.conftest import copy_example, run_cli


def test_spread_is_median_min_max_of_the_runs() -> None:
    assert spread.stats([3.0, 1.0, 2.0, 10.0, 4.0]) == (3.0, 1.0, 10.0)
    assert spread.spread([0.5, 0.25, 1.0], spread.ms) == "0.500 ms [0.250 ms, 1.000 ms]"
    assert spread.spread([], spread.ms) == "n/a"


def _krt_run(floor: float, over: float, engine: float, boot: float) -> dict[str, float]:
    return {"floor_ms": floor, "handlers_ms": floor + over, "engine_ms": floor + engine,
            "overhead_ms": over, "engine_overhead_ms": engine, "boot_ms": floor + boot,
            "boot_overhead_ms": boot, "n": 100}


def _light(runs: list[dict[str, float]]) -> dict[str, object]:
    return {"krt_namespace_light": {"runs": runs, "floor_price": 1.5, "boot_price": 1.5,
                                    "response": {"quotes": [{"price": 1.5}]}}}


def _row(rows: spread.Rows, start: str) -> tuple[str, ...]:
    (row,) = [r for r in rows if r[1].startswith(start)]
    return row


def test_light_targets_are_judged_on_the_median_of_per_run_ratios() -> None:
    # Per run, kedro-boot's time above the floor / ours: 10, 10, 10, 2, 2 -> median 10 (pass),
    # though the medians of each side alone (boot 3 ms, ours 0.3 ms) would also give 10.
    runs = [_krt_run(0.5, 0.3, 0.1, 3.0)] * 3 + [_krt_run(0.5, 1.0, 0.1, 2.0)] * 2
    rows = spread.table_inproc(_light(runs))
    ratio = _row(rows, "light: kedro-boot's time above the floor / our 3 nodes'")
    assert ratio[2] == "10.00x [2.00x, 10.00x]"
    assert ratio[5:] == (">= 8x", "pass")
    over = _row(rows, "light: 3 KRT nodes' handlers")
    assert over[2] == "0.300 ms [0.300 ms, 1.000 ms]"
    assert over[5:] == ("<= 0.3 ms", "pass")
    assert _row(rows, "light: same quote on every path")[6] == "pass"


def test_light_targets_miss() -> None:
    runs = [_krt_run(0.5, 1.0, 0.2, 4.0)] * 5
    rows = spread.table_inproc(_light(runs))
    assert _row(rows, "light: 3 KRT nodes' handlers")[6] == "**MISS**"
    assert _row(rows, "light: kedro-boot's time above the floor / our 3 nodes'")[6] == "**MISS**"


def _e2e_run(nats3: float, in3: float, nats1: float, in1: float) -> dict[str, object]:
    servers = {n: {"p50_ms": v, "p99_ms": v} for n, v in (
        ("echo", 1.0), ("in-process", in3), ("in-process-single", in1), ("nats", nats3),
        ("nats-single", nats1), ("boot-http", 8.0))}
    return {"rounds": 10, "servers": servers, "paired_ms": {
        "nats - in-process": nats3 - in3, "nats-single - in-process-single": nats1 - in1}}


def test_e2e_per_hop_takes_the_in_process_difference_out() -> None:
    # 3 nodes: 6 ms over in-process (4 hops); 1 node: 2 ms (2 hops) -> 2 ms per extra hop.
    e2e = {"runs": [_e2e_run(10.0, 4.0, 5.0, 3.0)] * 5, "answers": {}, "http_replies": {}}
    rows = spread.table_e2e({"e2e_light": e2e})
    assert _row(rows, "light:   --nats per hop")[2] == "2.000 ms [2.000 ms, 2.000 ms]"
    assert _row(rows, "light:   kedro-boot FastAPI p50 / our serve p50")[2].startswith("2.00x")


def test_e2e_rows_of_the_example_match_the_light_ones() -> None:
    # Both pipelines run the same six servers: the example gets --nats single, its paired
    # cost, the per-hop row and the single's same-bytes sanity, labelled `example:`.
    runs = [_e2e_run(30.0, 16.0, 20.0, 14.0)] * 4 + [_e2e_run(40.0, 16.0, 20.0, 14.0)]
    answers = {"in-process": "a", "nats": "a", "in-process-single": "b", "nats-single": "c"}
    e2e = {"runs": runs, "answers": answers, "http_replies": {}}
    rows = spread.table_e2e({"e2e": e2e, "e2e_light": e2e})
    for label in ("example", "light"):
        single = _row(rows, f"{label}: e2e p50 / p99, kedro-krt serve --nats, single")
        assert single[2].startswith("20.000 ms [20.000 ms, 20.000 ms]")
        assert single[4] == "20.00x [20.00x, 20.00x]"
        one = _row(rows, f"{label}:   --nats - in-process, 1 KRT node")
        assert one[2] == "6.000 ms [6.000 ms, 6.000 ms]"
        # ((14 - 6) / 2) in four runs, ((24 - 6) / 2) in one: the median is 4.
        assert _row(rows, f"{label}:   --nats per hop")[2] == "4.000 ms [4.000 ms, 9.000 ms]"
        assert _row(rows, f"{label}:   --nats answers the same bytes as in-process (3 nodes"
                    )[6] == "pass"
        assert _row(rows, f"{label}:   --nats answers the same bytes as in-process (single"
                    )[5:] == ("equal", "**MISS**")


def test_nats_throughput_rows_per_pipeline() -> None:
    def window(rps: list[float]) -> dict[str, object]:
        return {"rps": sum(rps) / len(rps), "errors": 0, "server_cpu": 1.5, "client_cpu": 0.1,
                "windows_rps": rps}

    r = {"load_nats_light": {"in-process": window([300.0, 200.0]), "nats": window([100.0, 150.0])}}
    rows = main._table_nats_load(r)
    assert [row[1] for row in rows] == [
        "light: throughput c=8, --nats, 3 nodes (2 alternating windows)",
        "light:   per window, --nats / --workers 1 (req/s)",
    ]
    assert rows[0][2].startswith("125 req/s") and rows[0][4] == "0.50x"
    assert rows[1][2] == "100 150 / 300 200; errors 0"
    r["load_nats"] = r["load_nats_light"]
    assert [row[1].split(":")[0] for row in main._table_nats_load(r)] == ["example"] * 2 + [
        "light"] * 2
    assert main._table_nats_load({}) == []


def test_bulk_payload_row_says_when_a_layout_is_not_available() -> None:
    r = {"payload": {"bulk": {"columns": {"unavailable": "no `layout:` key"}}}}
    (row,) = spread.table_payload_bulk(r)
    assert row[2] == "not available"
    assert row[6].startswith("n/a")


def test_pyspy_summary_leaves_idle_samples_out(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "main (kedro_krt/node/runner/__init__.py:10);select (selectors.py:469) 60\n"
        "main (kedro_krt/node/runner/__init__.py:10);_flusher (nats/aio/client.py:2000);"
        "write (asyncio/selector_events.py:1000) 30\n"
        "main (kedro_krt/node/runner/__init__.py:10);"
        "handler (kedro_krt/node/runtime/node.py:5) 10\n",
        encoding="utf-8",
    )
    s = summarise(raw)
    assert s["samples"] == 100
    assert s["idle_pct"] == 60.0
    assert s["self"][0] == ("write (asyncio/selector_events.py)", 75.0)
    assert ("handler (runtime/node.py)", 25.0) in s["self"]


@pytest.mark.integration
@pytest.mark.slow
def test_light_pipeline_packages_into_three_krt_nodes(tmp_path: Path) -> None:
    project = copy_example(tmp_path / "project")
    light.add_to_project(project)
    out = tmp_path / "dist"
    run_cli(["kedro", "krt", "package", "--env", "light", "--output", str(out)], cwd=project)
    (krt,) = sorted(out.glob("*.krt"))
    with tarfile.open(krt) as archive:
        names = archive.getnames()
        manifest = archive.extractfile(next(n for n in names if n.endswith("krt.yml")))
        assert manifest is not None
        text = manifest.read().decode()
        proto = archive.extractfile(next(n for n in names if n.endswith("public_input.proto")))
        assert proto is not None
        public = proto.read().decode()
    assert "sequential:\n      - prep\n      - score\n      - post" in text
    assert "rpc Inference (InferenceRequest) returns (InferenceResponse)" in public
    assert "repeated ShuttlesRow shuttles = 1;" in public  # the example's request table


def test_breakdown_rows_give_each_stage_and_the_rest_over_the_runs() -> None:
    def run(prep: float, rest: float) -> dict[str, object]:
        stages = {"prep decode": prep, "post encode": 0.02}
        return {"overhead_ms": prep + 0.02 + rest, "stages_ms": stages, "rest_ms": rest,
                "floor_ms": 0.35, "n": 300}

    result = {"breakdown_light": {"runs": [run(0.14, 0.15), run(0.10, 0.13), run(0.12, 0.2)]}}
    rows = spread.table_breakdown(result)
    assert _row(rows, "light: where the 3 nodes' time")[2] == (
        "0.310 ms [0.250 ms, 0.340 ms] in all"
    )
    assert _row(rows, "light:   prep decode")[2] == "0.120 ms [0.100 ms, 0.140 ms]"
    assert _row(rows, "light:   post encode")[2] == "0.020 ms [0.020 ms, 0.020 ms]"
    assert _row(rows, "light:   the rest")[2] == "0.150 ms [0.130 ms, 0.200 ms]"
    assert spread.table_breakdown({}) == []


def test_stubbed_call_list_runs_as_the_real_one_without_its_functions() -> None:
    """Row 7's stubbed CallList (``protection.stubbed``) copies every field of the real one:
    a field added to CallList (as the hooks were) must not break the bench."""
    from kedro.pipeline import node

    from benchmarks.protection import stubbed
    from kedro_krt.node.runtime.engine import CallList

    def double(x: list[int]) -> list[int]:
        raise AssertionError("the stub replaces the function")

    calls = CallList([node(double, "x", "y")], observed=["x"])
    stub = stubbed(calls, {"x": [1], "y": [2, 2]})
    assert stub.run({"x": [1]}) == {"x": [1], "y": [2, 2]}


def test_paired_rounds_time_each_server_in_blocks_after_an_untimed_call() -> None:
    from benchmarks.grpc_bench import _paired_rounds

    order: list[str] = []
    calls = {n: (lambda n=n: order.append(n)) for n in ("echo", "serve")}
    out = _paired_rounds(["echo", "serve"], calls, max_rounds=2, max_seconds=60, block=3)
    # Round 1: echo x (1 untimed + 3), serve x 4; round 2 the other way round.
    assert order == ["echo"] * 4 + ["serve"] * 8 + ["echo"] * 4
    assert out["block"] == 3 and out["rounds"] == 2
    order.clear()
    _paired_rounds(["echo", "serve"], calls, max_rounds=2, max_seconds=60)
    assert order == ["echo", "serve", "serve", "echo"]


def test_e2e_rows_say_the_blocks_and_the_cold_figure_beside() -> None:
    runs = [{**_e2e_run(30.0, 16.0, 20.0, 14.0), "block": 20}] * 5
    e2e = {"runs": runs, "answers": {}, "http_replies": {}}
    cold = {"runs": [_e2e_run(30.0, 16.0, 20.0, 14.0)] * 5}
    r = {"e2e_light": e2e, "e2e_light_cold": cold,
         "krt_namespace_light": {"runs": [{"handlers_ms": 0.5}] * 5}}
    rows = spread.table_e2e(r)
    serve = _row(rows, "light: e2e p50 / p99, kedro-krt serve, 3 nodes")
    assert "rounds of 20 calls in all" in serve[1]
    beside = _row(rows, "light:   the same, call by call")
    assert beside[5:] == ("", "")  # judged nowhere


def test_front_shape_rows_compare_each_front_with_the_aio_echo() -> None:
    from benchmarks import fronts

    def run(p50: dict[str, float]) -> dict[str, object]:
        return {"servers": {k: {"p50_ms": v, "p99_ms": 2 * v} for k, v in p50.items()}}

    p50 = {"aio": 0.5, "aio-thread": 0.6, "sync": 0.45, "sync-inline": 0.4, "sync-callback": 0.55}
    load = {k: {"cpu_ms_per_request": v / 2, "rps": 1000.0} for k, v in p50.items()}
    rows = fronts.table({"runs": [run(p50)] * 3, "load": load})
    assert [row[0] for row in rows] == ["10"] * 5
    thread = _row(rows, "front shape, no work: grpc.aio, handed to an engine thread")
    assert thread[4] == "1.20x [1.20x, 1.20x]; +0.050 ms"
    assert _row(rows, "front shape, no work: grpc.aio, answered on the loop")[4] == ""


def test_serving_path_row_takes_the_crossing_and_the_chain_out_of_the_call() -> None:
    from benchmarks import fronts

    p50 = {"aio": 0.5, "aio-thread": 0.6, "sync": 0.45, "sync-inline": 0.4, "sync-callback": 0.55}
    r = {"runs": [{"servers": {k: {"p50_ms": v, "p99_ms": v} for k, v in p50.items()}}],
         "load": {k: {"cpu_ms_per_request": 0.3, "rps": 1.0} for k in p50},
         "path": {"runs": [{"call": 0.07, "crossing": 0.04, "inline": 0.01}] * 3}}
    row = _row(fronts.table(r), "the serving path without gRPC")
    assert row[2].endswith("/ 0.020 ms [0.020 ms, 0.020 ms]")
    assert fronts.table({**r, "path": None})[-1][1].startswith("front shape")
