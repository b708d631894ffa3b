"""Row 1, light pipeline: where the three KRT nodes' time above the floor goes, in the chain.

    python -m benchmarks.breakdown --krt-dir DIR --project P [--reps 5] [--seconds 2]

A profiler's own cost distorts a path of many small calls (pyinstrument hooks every call), and a
stage timed alone, in a tight loop on the same object, runs in warm caches and on warm pandas
objects, which the chain never offers: each message brings new frames, and the stages evict each
other's code and data. So each stage is measured **by its absence**, in the chain: in one
interleaved loop (``time_interleaved``), the whole chain, the floor, and for each KRT node and
each of its two codec stages a variant of the chain where that stage hands over the result it
gave for this request (the decoder a shallow copy of the dict it returned, so the node's function
gets the same DataFrame each time; the encoder a copy of the message it made). The median of the
paired differences (chain - variant) is what the stage costs there, including what it does to
the code around it (the node's function on a new frame per message). "The rest" is the chain's
time above the floor that no codec stage accounts for: the ``Any`` unpacking and packing, the
unknown-field check, the engine and Kedro's node call, the relayed bytes. The variants are not
additive to the last microsecond (each removes its stage's cache pressure from the others too),
which is why the rest is reported as what is left, not as a stage.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import (
    LoadedKrt,
    emit,
    one_row_request_json,
    paired_overhead_ms,
    quiet_logging,
    time_interleaved,
)

STAGES = ("decode", "encode")


class _Replay:
    """A node's codec that hands over what the real one gave for the recorded request."""

    def __init__(self, real: Any, recorded: Any) -> None:
        self.message_cls = real.message_cls
        self._recorded = recorded

    def decode(self, msg: Any) -> dict[str, Any]:
        return dict(self._recorded)  # the node pops the parameters from it

    def encode(self, values: Any) -> Any:
        out = self.message_cls()
        out.CopyFrom(self._recorded)  # the node merges relayed bytes into it
        return out


def run(krt_dir: Path, project: Path, pipeline: str, reps: int, seconds: float) -> dict[str, Any]:
    """The chain, the floor and one variant per node and codec stage, interleaved ``reps`` times."""
    from benchmarks.inproc import PIPELINES, _pipeline_floor

    loaded = LoadedKrt(krt_dir, prefix="krt-bench-breakdown-")
    quiet_logging()
    payload = loaded.payload(one_row_request_json(project))
    krt_nodes = loaded.krt_nodes
    names = [n.name for n in loaded.wf.nodes]

    def chain() -> Any:
        return loaded.chain(payload)

    expected = chain().SerializeToString()
    recorded = _record(krt_nodes, chain)
    paths: dict[str, Callable[[], Any]] = {"chain": chain}
    for i, node in enumerate(krt_nodes):
        for stage in STAGES:
            attr = f"_{stage}r"
            real = getattr(node, attr)
            replay = _Replay(real, recorded[i][stage])
            paths[f"{names[i]} {stage}"] = _with(node, attr, replay, real, chain)
    for name, fn in paths.items():  # a replayed stage must not change the answer
        if fn().SerializeToString() != expected:
            raise RuntimeError(f"the variant without '{name}' answers differently")
    first = krt_nodes[0]
    msg = first.input_cls()
    payload.Unpack(msg)
    df = first._decoder.decode(msg)[PIPELINES[pipeline]["request"]]
    paths["floor"] = _pipeline_floor(pipeline, loaded.prepared.root, df)
    runs: list[dict[str, Any]] = []
    for i in range(reps):
        timed = time_interleaved(paths, max_iters=3000, max_seconds=seconds,
                                 warmup=20 if i == 0 else 5)
        stages = {
            name: paired_overhead_ms(timed["chain"], timed[name])
            for name in paths if name not in ("chain", "floor")
        }
        overhead = paired_overhead_ms(timed["chain"], timed["floor"])
        runs.append({"overhead_ms": overhead, "stages_ms": stages,
                     "rest_ms": overhead - sum(stages.values()),
                     "floor_ms": timed["floor"].median_ms, "n": len(timed["floor"].samples)})
    return {
        "pipeline": pipeline,
        "nodes": names,
        "runs": runs,
        "overhead_ms": statistics.median(r["overhead_ms"] for r in runs),
        "stages_ms": {
            name: statistics.median(r["stages_ms"][name] for r in runs)
            for name in runs[0]["stages_ms"]
        },
        "rest_ms": statistics.median(r["rest_ms"] for r in runs),
    }


def _record(krt_nodes: list[Any], chain: Callable[[], Any]) -> list[dict[str, Any]]:
    """What each node's decoder and encoder give for the request, caught during one chain."""
    recorded: list[dict[str, Any]] = [{} for _ in krt_nodes]
    originals = [(node._decoder, node._encoder) for node in krt_nodes]
    for node, slot, (decoder, encoder) in zip(krt_nodes, recorded, originals, strict=True):
        node._decoder = node._encoder = _Catch(decoder, encoder, slot)
    try:
        chain()
    finally:
        for node, (decoder, encoder) in zip(krt_nodes, originals, strict=True):
            node._decoder, node._encoder = decoder, encoder
    return recorded


class _Catch:
    """A node's decoder and encoder that keep a copy of what they give."""

    def __init__(self, decoder: Any, encoder: Any, slot: dict[str, Any]) -> None:
        self.message_cls = encoder.message_cls
        self._decoder, self._encoder, self._slot = decoder, encoder, slot

    def decode(self, msg: Any) -> Any:
        out = self._decoder.decode(msg)
        self._slot["decode"] = dict(out)
        return out

    def encode(self, values: Any) -> Any:
        out = self._encoder.encode(values)
        self._slot["encode"] = out.__class__()
        self._slot["encode"].CopyFrom(out)
        return out


def _with(
    node: Any, attr: str, replay: Any, real: Any, chain: Callable[[], Any]
) -> Callable[[], Any]:
    """The chain with ``node.<attr>`` replaced by ``replay`` for the call."""

    def variant() -> Any:
        setattr(node, attr, replay)
        try:
            return chain()
        finally:
            setattr(node, attr, real)

    return variant


def main() -> None:
    """Parse, measure, print the JSON result."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--krt-dir", type=Path, required=True)
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--pipeline", default="light")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    emit(run(args.krt_dir, args.project, args.pipeline, args.reps, args.seconds))


if __name__ == "__main__":
    main()
