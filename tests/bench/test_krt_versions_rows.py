"""Bench row 8 (``benchmarks/krt_versions.py``): how a run's figures become rows and a verdict.

No speed is asserted here: figures go to ``make bench``.
"""

from __future__ import annotations

from typing import Any

from benchmarks import krt_versions


def _pair(v1: float, v2: float, same: bool = True) -> dict[str, Any]:
    return {
        "v1": {"p50_ms": v1, "p99_ms": v1 * 2},
        "v2": {"p50_ms": v2, "p99_ms": v2 * 2},
        "paired_ms": v2 - v1,
        "same_answer": same,
    }


def test_rows_say_the_ratio_and_judge_only_the_branches() -> None:
    result = {
        "delay_s": 0.05,
        "example_in-process": _pair(10.0, 11.0),
        "example_nats": _pair(20.0, 22.0, same=False),
        "branches_in-process": _pair(110.0, 60.0),
        "branches_nats": _pair(100.0, 120.0),
    }
    rows = krt_versions.table(result)
    assert [r[0] for r in rows] == ["8"] * 4
    example, example_nats, branches, branches_nats = rows
    assert example[4] == "1.10x" and example[5:] == ("", "")
    assert "REPLIES DIFFER" in example_nats[2]
    assert "each sleeps 50 ms" in branches[1]
    assert branches[4] == "0.55x" and branches[6] == "pass"
    assert branches_nats[6] == "miss"


def test_a_missing_mode_is_left_out() -> None:
    rows = krt_versions.table({"delay_s": 0.05, "example_in-process": _pair(1.0, 1.0)})
    assert len(rows) == 1
