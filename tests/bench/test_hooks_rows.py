"""Row 9 of the benchmark (Kedro's hooks): how its runs become rows and a verdict.

No speed is asserted here: figures go to ``make bench``.
"""

from __future__ import annotations

from benchmarks import hooks, main


def _runs(none: float, pair: float) -> dict[str, object]:
    run = {"floor_us_per_node": 0.5, "none_us_per_node": none, "pair_us_per_node": pair, "n": 9}
    return {"runs": [run] * 3, "nodes": hooks.NODES}


def test_no_hook_row_passes_under_one_microsecond_per_node() -> None:
    none, pair = hooks.table(_runs(0.02, 1.5))
    assert none[0] == "9" and none[2] == "0.020 us [0.020 us, 0.020 us]"
    assert none[5:] == ("< 1 us per node", "pass")
    assert pair[2] == "1.500 us [1.500 us, 1.500 us]" and pair[4] == "4.00x"
    assert pair[5:] == ("", "")


def test_no_hook_row_misses_from_one_microsecond() -> None:
    none, _ = hooks.table(_runs(1.0, 1.5))
    assert none[6] == "**MISS**"


def test_the_rows_join_the_table_and_the_groups() -> None:
    assert "hooks" in main.GROUPS
    cold = {"package_namespace_s": 1.0, "package_single_s": 1.0}
    rows = main.build_table({"hooks": _runs(0.02, 1.5), "cold": cold})
    assert [r[0] for r in rows if r[1].startswith("Kedro hooks")] == ["9", "9"]


def test_one_real_run_is_well_formed() -> None:
    run = hooks.measure(0.05)
    assert set(run) == {"floor_us_per_node", "none_us_per_node", "pair_us_per_node", "n"}
    assert run["floor_us_per_node"] > 0 and run["n"] >= 3
