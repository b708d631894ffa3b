"""Row 4: payload scaling of the codec at 1, 100, 10,000 and 100,000 rows per message.

    python -m benchmarks.payload --node-dir KRT/src/inference [--reps 5] [--bulk-only]

Uses the node's own generated ``*_pb2`` classes and compiled plan (the single-node KRT, whose
node reads the request and writes the response):

- decode: ``InferenceRequest.FromString(bytes)`` + ``MessageCodec.decode`` -> the DataFrame;
- encode: ``MessageCodec.encode({"output.quotes": df})`` + ``SerializeToString()``;
- the floor of each: pandas building the same DataFrame (same columns, same dtypes) from Python
  lists of the cell values (timestamps as int nanoseconds, what a decoder reads off the wire).

Then ``--reps`` runs at 100,000 rows, the four paths interleaved call by call (5 calls each per
run): the target's ratio, per run. ``benchmarks/main.py`` runs it on the single-node KRT (row
layout) and, in a process of its own (the two KRTs' generated modules share names), on the same
KRT packaged with ``layout: {etl.shuttles: columns, output.quotes: columns}`` (``--bulk-only``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import emit, time_interleaved, time_loop

SIZES = (1, 100, 10_000, 100_000)
#: The bulk size of the target (decode + encode <= 1.2x the pandas floor), run ``--reps`` times.
BULK = 100_000


def _lists(n: int, seed: int = 7) -> dict[str, list[Any]]:
    """Python lists of request cells (what decoding reads off the wire)."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2015-01-01T00:00", "ns").astype(np.int64)
    ratings = rng.uniform(0, 1, n).round(2)
    return {
        "shuttle_id": [f"SH-{i:07d}" for i in range(n)],
        "shuttle_type": rng.choice(["Type V5", "Type F5", "Type A1", "Type F3"], n).tolist(),
        "engine_type": rng.choice(["Quantum", "Plasma", "Nuclear"], n).tolist(),
        "engines": rng.integers(1, 4, n).tolist(),
        "passenger_capacity": rng.integers(2, 9, n).tolist(),
        "crew": rng.integers(1, 5, n).tolist(),
        "d_check_complete": rng.random(n).__lt__(0.5).tolist(),
        "moon_clearance_complete": rng.random(n).__lt__(0.5).tolist(),
        "iata_approved": rng.random(n).__lt__(0.8).tolist(),
        "company_rating": ratings.tolist(),
        "launched_at": (start + rng.integers(0, 10**17, n)).tolist(),
    }


def _quote_lists(n: int) -> dict[str, list[Any]]:
    bands = ("budget", "standard", "premium")
    return {
        "shuttle_id": [f"SH-{i:07d}" for i in range(n)],
        "price": [4000.0 + (i % 5000) * 0.77 for i in range(n)],
        "price_band": [bands[i % 3] for i in range(n)],
        "currency": ["EUR"] * n,
    }


def _pandas_builder(dtypes: dict[str, Any]) -> Any:
    """The floor: one pandas constructor per column, to the decoded frame's dtypes."""

    def build(lists: dict[str, list[Any]]) -> pd.DataFrame:
        cols: dict[str, Any] = {}
        for name, dtype in dtypes.items():
            values = lists[name]
            if pd.api.types.is_datetime64_any_dtype(dtype):
                tz = getattr(dtype, "tz", None)
                unit = dtype.unit if tz is not None else np.datetime_data(dtype)[0]
                idx = pd.to_datetime(values, unit="ns", utc=tz is not None).as_unit(unit)
                cols[name] = idx if tz is None else idx.tz_convert(tz)
            else:
                cols[name] = pd.array(values, dtype=dtype) if not isinstance(
                    dtype, np.dtype
                ) else np.array(values, dtype=dtype)
        return pd.DataFrame(cols)

    return build


def _setup(node_dir: Path) -> dict[str, Any]:
    """The node's generated classes, codecs and table fields (from its compiled plan)."""
    from kedro_krt.node.plan import NodeRuntimePlan
    from kedro_krt.node.schema.codec import MessageCodec

    plan = NodeRuntimePlan.loads((node_dir / "plan.json").read_text(encoding="utf-8"))
    sys.path.insert(0, str(node_dir))
    request_cls = getattr(importlib.import_module(plan.input_module), plan.input.name)
    response_cls = getattr(importlib.import_module(plan.output_module), plan.output.name)
    return {
        "request_cls": request_cls,
        "decoder": MessageCodec(request_cls, plan.input.fields),
        "encoder": MessageCodec(response_cls, plan.output.fields),
        "request_field": next(f.original for f in plan.input.fields if f.type.kind == "table"),
        "response_field": next(f.original for f in plan.output.fields
                               if f.type.kind == "table"),
    }


def _cases(node: dict[str, Any], n: int) -> tuple[int, dict[str, Any]]:
    """The request's size in bytes, and the four timed paths at ``n`` rows."""
    decoder, encoder, request_cls = node["decoder"], node["encoder"], node["request_cls"]
    request_field, response_field = node["request_field"], node["response_field"]
    lists = _lists(n)
    # Build the request message once through the codec (not timed), then time the decode.
    seed_frame = pd.DataFrame(lists)
    seed_frame["launched_at"] = pd.to_datetime(seed_frame["launched_at"], unit="ns", utc=True)
    wire = decoder.encode({request_field: seed_frame}).SerializeToString()
    decoded = decoder.decode(request_cls.FromString(wire))[request_field]
    build_request = _pandas_builder(dict(decoded.dtypes))
    assert list(build_request(lists).dtypes) == list(decoded.dtypes), "floor dtypes differ"

    quote_lists = _quote_lists(n)
    quotes = pd.DataFrame(quote_lists).astype(
        {"shuttle_id": str, "price_band": str, "currency": str}
    )
    build_response = _pandas_builder(dict(quotes.dtypes))

    def dec() -> Any:
        return decoder.decode(request_cls.FromString(wire))

    def enc() -> bytes:
        return bytes(encoder.encode({response_field: quotes}).SerializeToString())

    return len(wire), {
        "decode": dec,
        "encode": enc,
        "floor_decode": lambda: build_request(lists),
        "floor_encode": lambda: build_response(quote_lists),
    }


def run(node_dir: Path, reps: int = 1, bulk_only: bool = False) -> dict[str, Any]:
    """Per-row decode/encode times and the pandas floors at each size; then ``reps`` runs at
    100,000 rows with the four paths interleaved call by call (``bulk``)."""
    node = _setup(node_dir)
    rows: list[dict[str, Any]] = []
    for n in () if bulk_only else SIZES:
        size, fns = _cases(node, n)
        budget = 3.0 if n >= 10_000 else 1.5
        iters = max(3, min(3000, 200_000 // n))
        warm = 2 if n >= 10_000 else 20
        t = {k: time_loop(fn, max_iters=iters, max_seconds=budget, warmup=warm)
             for k, fn in fns.items()}
        rows.append({"rows": n, "request_bytes": size,
                     **{f"{k}_ms": v.median_ms for k, v in t.items()}})
    size, fns = _cases(node, BULK)
    runs = []
    for i in range(reps):
        timed = time_interleaved(fns, max_iters=5, max_seconds=4.0, warmup=1 if i == 0 else 0)
        runs.append({f"{k}_ms": v.median_ms for k, v in timed.items()})
    out: dict[str, Any] = {"bulk": {"rows": BULK, "request_bytes": size, "runs": runs}}
    if not bulk_only:
        out["payload"] = rows
    return out


def main() -> None:
    """Parse the node folder, measure, print the JSON result."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--node-dir", type=Path, required=True)
    parser.add_argument("--reps", type=int, default=1, help="runs at 100,000 rows")
    parser.add_argument("--bulk-only", action="store_true", help="only the 100,000-row runs")
    args = parser.parse_args()
    emit(run(args.node_dir, args.reps, args.bulk_only))


if __name__ == "__main__":
    main()
