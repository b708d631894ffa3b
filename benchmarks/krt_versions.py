"""Row 8: KRT v1 against KRT v2 (issue 14), on the example and on a pipeline with two branches.

    python -m benchmarks.krt_versions --project P --work DIR [--seconds S] [--delay D]

``P`` is a trained copy of ``example_project`` (``benchmarks/main.py`` prepares one). The same
pipeline is packaged twice, ``--krt-version v1`` and ``--krt-version v2``, and both are served
side by side, in-process and with ``--nats``; one client process calls them in alternation,
call by call, the order reversing every round (one request in flight at a time), and reports
p50/p99 of each and the median of the paired differences (v2 - v1). Before timing, each pair
must answer the same bytes.

- **example** (``etl -> model -> output``): a chain. v2 has nothing to run in parallel and one
  hop more (the generated exitpoint), and the request goes to every node that reads it instead
  of being carried: the cost of the format.
- **branches** (``tests/fixtures/branches_project``: ``left`` and ``right`` both read the
  request, ``report`` joins them): each branch sleeps ``--delay`` seconds (``params:delay``,
  0.05 by default), standing for a model's time. v1 runs the branches one after the other; v2
  runs them at the same time, so its floor is one delay where v1's is two.

Nothing is asserted: the figures go to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import emit

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = Path(sys.executable).parent
BRANCHES = REPO / "tests" / "fixtures" / "branches_project"

#: (name, project-relative pipeline, rpc) of each comparison.
PIPELINES = (("example", "inference", "Inference"), ("branches", "scoring", "Score"))

BRANCHES_REQUEST = {
    "orders": [
        {"order_id": i, "region": ("north", "south", "east")[i % 3], "amount": 1.5 * i}
        for i in range(1, 21)
    ]
}


def _package(project: Path, pipeline: str, version: str, out: Path) -> tuple[Path, float]:
    from benchmarks.processes import run_command as _run

    started = time.perf_counter()
    _run(
        [
            str(BIN / "kedro"),
            "krt",
            "package",
            "--pipeline",
            pipeline,
            "--krt-version",
            version,
            "--output",
            str(out),
        ],
        cwd=project,
    )
    (krt,) = out.glob("*.krt")
    return krt, time.perf_counter() - started


def _branches_project(work: Path, delay: float) -> Path:
    project = work / "branches_project"
    shutil.copytree(BRANCHES, project, ignore=shutil.ignore_patterns("__pycache__", "dist"))
    (project / "conf" / "base" / "parameters.yml").write_text(f"delay: {delay}\n")
    return project


def _request_bytes(krt: Path, work: Path, rpc: str, body: dict[str, Any]) -> bytes:
    """``body`` as the serialised ``<rpc>Request`` of the KRT, from a descriptor pool of its
    own (the example's and the branches' protos share a file name)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
    from grpc_tools import protoc

    from benchmarks.common import well_known_protos
    from benchmarks.processes import unpack

    root = unpack(krt, work)
    out = work / "public_input.desc"
    code = protoc.main(
        [
            "protoc",
            f"-I{root}",
            f"-I{well_known_protos()}",
            "--include_imports",
            f"--descriptor_set_out={out}",
            "public_input.proto",
        ]
    )
    if code != 0:
        raise RuntimeError(f"protoc failed on {root / 'public_input.proto'}")
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:
        pool.Add(file)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"entrypoint.{rpc}Request"))
    return json_format.ParseDict(body, cls()).SerializeToString()


def _alternate(
    addresses: dict[str, str], rpc: str, request: bytes, seconds: float, warmup: int
) -> dict[str, Any]:
    """Sequential calls to each server in turn; p50/p99 and the paired median (v2 - v1)."""
    import grpc

    method = f"/entrypoint.Entrypoint/{rpc}"
    channels = {n: grpc.insecure_channel(a) for n, a in addresses.items()}
    try:
        calls = {n: c.unary_unary(method) for n, c in channels.items()}
        for channel in channels.values():
            grpc.channel_ready_future(channel).result(timeout=30)
        answers = {
            n: hashlib.sha256(call(request, timeout=60)).hexdigest()[:16]
            for n, call in calls.items()
        }
        for _ in range(warmup):
            for call in calls.values():
                call(request, timeout=60)
        names = list(calls)
        samples: dict[str, list[float]] = {n: [] for n in names}
        deadline = time.perf_counter() + seconds
        rounds = 0
        while rounds < 100_000:
            for name in names if rounds % 2 == 0 else names[::-1]:
                t0 = time.perf_counter()
                calls[name](request, timeout=60)
                samples[name].append(time.perf_counter() - t0)
            rounds += 1
            if time.perf_counter() > deadline and rounds >= 5:
                break
    finally:
        for channel in channels.values():
            channel.close()

    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000.0

    out: dict[str, Any] = {
        "rounds": rounds,
        "answers": answers,
        "same_answer": len(set(answers.values())) == 1,
    }
    for name in names:
        out[name] = {"p50_ms": pct(samples[name], 0.5), "p99_ms": pct(samples[name], 0.99)}
    out["paired_ms"] = (
        statistics.median(b - a for a, b in zip(samples["v1"], samples["v2"], strict=True)) * 1000.0
    )
    return out


def measure(project: Path, work: Path, seconds: float, delay: float) -> dict[str, Any]:
    """Every comparison: per pipeline, per serving mode, v1 and v2 side by side."""
    from benchmarks.processes import progress as _progress
    from benchmarks.processes import start_krt

    result: dict[str, Any] = {"delay_s": delay, "seconds": seconds}
    branches = _branches_project(work, delay)
    for name, pipeline, rpc in PIPELINES:
        source = project if name == "example" else branches
        krts: dict[str, Path] = {}
        for version in ("v1", "v2"):
            krt, took = _package(source, pipeline, version, work / f"{name}-{version}")
            krts[version] = krt
            result[f"{name}_package_{version}_s"] = took
        if name == "example":
            body = json.loads((project / "requests" / "inference.json").read_text())
            body["shuttles"] = body["shuttles"][:1]
        else:
            body = BRANCHES_REQUEST
        request = _request_bytes(krts["v1"], work / f"{name}-request", rpc, body)
        for mode in ("in-process", "nats"):
            _progress(f"row 8: {name}, {mode}: KRT v1 against v2")
            servers = {}
            try:
                for version, krt in krts.items():
                    servers[version] = start_krt(
                        krt, 1, work, f"{name}-{mode}-{version}", nats=mode == "nats"
                    )
                result[f"{name}_{mode}"] = _alternate(
                    {v: s.address for v, s in servers.items()},
                    rpc,
                    request,
                    seconds,
                    warmup=5 if name == "branches" else 50,
                )
                for version, server in servers.items():
                    result[f"{name}_{mode}"][version]["ready_s"] = server.ready_s
            finally:
                for server in servers.values():
                    server.stop()
    return result


def _ms(v: float) -> str:
    return f"{v:.2f} ms" if v < 100 else f"{v:.0f} ms"


def table(r: dict[str, Any]) -> list[tuple[str, ...]]:
    """Rows of ``benchmarks/RESULTS.md``: what, value, floor, ratio, target, result."""
    rows: list[tuple[str, ...]] = []
    delay = r["delay_s"] * 1000.0
    for name, what in (
        ("example", "the example (etl -> model -> output, 1 row)"),
        ("branches", f"two branches joined (each sleeps {delay:.0f} ms)"),
    ):
        for mode in ("in-process", "nats"):
            m = r.get(f"{name}_{mode}")
            if m is None:
                continue
            v1, v2 = m["v1"]["p50_ms"], m["v2"]["p50_ms"]
            same = "same reply" if m["same_answer"] else "REPLIES DIFFER"
            flag = "--nats" if mode == "nats" else "in-process"
            rows.append(
                (
                    "8",
                    f"KRT v2 / v1, {what}, {flag}: p50 v2 (p99)",
                    f"{_ms(v2)} ({_ms(m['v2']['p99_ms'])}); paired v2 - v1 "
                    f"{m['paired_ms']:+.2f} ms; {same}",
                    f"v1 {_ms(v1)} ({_ms(m['v1']['p99_ms'])})",
                    f"{v2 / v1:.2f}x",
                    "" if name == "example" else "v2 < v1 (branches in parallel)",
                    "" if name == "example" else ("pass" if v2 < v1 else "miss"),
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--project", type=Path, required=True, help="a trained example copy")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=6.0, help="timing window per pair")
    parser.add_argument("--delay", type=float, default=0.05, help="each branch's sleep, s")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    emit(measure(args.project, args.work, args.seconds, args.delay))


if __name__ == "__main__":
    main()
