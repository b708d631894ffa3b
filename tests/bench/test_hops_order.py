"""The hop bench's call order (``benchmarks/hops.py``): no chain follows itself between rounds,
and in an A/B each runner chain follows the floor in half of the rounds (the position in the
round was the A/A bias the order fixes)."""

from __future__ import annotations

import itertools

from benchmarks.hops import Chain, round_orders


def _names(chains: list[Chain]) -> list[str]:
    return [c.name for c in chains]


def test_two_chains_alternate_with_the_floor_first() -> None:
    even, odd = round_orders([Chain("bare", "bare"), Chain("ours", "runner")])
    assert _names(even) == _names(odd) == ["bare", "ours"]


def test_an_ab_reverses_only_the_runner_chains() -> None:
    chains = [Chain("bare", "bare"), Chain("ours", "runner"), Chain("base", "runner", "/x")]
    even, odd = round_orders(chains)
    assert _names(even) == ["bare", "ours", "base"]
    assert _names(odd) == ["bare", "base", "ours"]
    sequence = _names(even + odd + even)
    assert all(a != b for a, b in itertools.pairwise(sequence))
