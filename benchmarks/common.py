"""Shared helpers of the benchmarks: bounded timing loops, the request, KRT paths, JSON results.

Every measurement runs in its own process (``python -m benchmarks.<module> ...``) and prints one
JSON object on its last stdout line: two KRTs of the same project, kedro-boot and a naive Kedro
session each bootstrap a project, and Kedro's project globals must not mix in one process.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

RPC = "Inference"
SERVICE = "entrypoint.Entrypoint"
METHOD = f"/{SERVICE}/{RPC}"


@dataclass(frozen=True)
class Timing:
    """Durations of one timed loop, in seconds."""

    samples: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        """Median duration in milliseconds."""
        return statistics.median(self.samples) * 1000.0

    def pct_ms(self, q: float) -> float:
        """The ``q`` quantile (0..1) in milliseconds, nearest rank."""
        ordered = sorted(self.samples)
        index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
        return ordered[index] * 1000.0

    def as_dict(self) -> dict[str, float]:
        """Median, p99 and the number of iterations, for the JSON result."""
        return {"median_ms": self.median_ms, "p99_ms": self.pct_ms(0.99), "n": len(self.samples)}


def time_loop(
    fn: Callable[[], Any], *, max_iters: int, max_seconds: float, warmup: int = 20
) -> Timing:
    """Call ``fn`` ``warmup`` times, then time it until ``max_iters`` or ``max_seconds``.

    Both bounds hold, so a slow path gets fewer samples instead of a longer run (at least 3).
    """
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    clock = time.perf_counter
    deadline = clock() + max_seconds
    while len(samples) < max_iters:
        start = clock()
        fn()
        end = clock()
        samples.append(end - start)
        if end > deadline and len(samples) >= 3:
            break
    return Timing(tuple(samples))


def time_interleaved(
    fns: dict[str, Callable[[], Any]], *, max_iters: int, max_seconds: float, warmup: int = 20,
    setups: dict[str, Callable[[], Any]] | None = None,
) -> dict[str, Timing]:
    """Time several paths call by call, alternating, so that they see the same machine.

    On a shared 2-core machine, timing one path for seconds and then the other lets a burst of
    load land on one of them only; alternating makes the ratio (and the paired difference, see
    :func:`paired_overhead_ms`) trustworthy. The order alternates too, against cache bias.
    ``setups`` (by path name) runs untimed right before each call of that path (fresh inputs).
    """
    setups = setups or {}
    for _ in range(warmup):
        for name, fn in fns.items():
            if name in setups:
                setups[name]()
            fn()
    names = list(fns)
    samples: dict[str, list[float]] = {k: [] for k in names}
    clock = time.perf_counter
    deadline = clock() + max_seconds
    i = 0
    while i < max_iters:
        order = names if i % 2 == 0 else names[::-1]
        for name in order:
            if name in setups:
                setups[name]()
            start = clock()
            fns[name]()
            samples[name].append(clock() - start)
        i += 1
        if clock() > deadline and i >= 3:
            break
    return {k: Timing(tuple(v)) for k, v in samples.items()}


def paired_overhead_ms(a: Timing, b: Timing) -> float:
    """Median of the per-iteration differences a - b (interleaved samples), in ms."""
    return statistics.median(x - y for x, y in zip(a.samples, b.samples, strict=False)) * 1000.0


def quiet_logging() -> None:
    """Kedro (and kedro-boot) at WARNING: INFO logging costs milliseconds per run."""
    logging.basicConfig(level=logging.WARNING)
    for name in ("kedro", "kedro_boot", "kedro_krt", "py.warnings", "root", ""):
        logging.getLogger(name).setLevel(logging.WARNING)
    import warnings

    warnings.filterwarnings("ignore")


def emit(result: dict[str, Any]) -> None:
    """Print the measurement's JSON result as the last stdout line."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def last_json(text: str) -> dict[str, Any]:
    """The JSON object on the last non-empty line of a measurement's stdout."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError("the measurement printed nothing")
    return dict(json.loads(lines[-1]))


def one_row_request_json(project: Path) -> str:
    """The example's request (``requests/inference.json``) cut to its first row, as JSON."""
    data = json.loads((project / "requests" / "inference.json").read_text(encoding="utf-8"))
    data["shuttles"] = data["shuttles"][:1]
    return json.dumps(data)


def well_known_protos() -> str:
    """grpcio-tools' folder of google/protobuf/*.proto."""
    import grpc_tools

    return str(Path(grpc_tools.__file__).parent / "_proto")


def compile_public_proto(krt_root: Path, out_dir: Path) -> Any:
    """Compile the KRT's ``public_input.proto`` with protoc; import and return the module."""
    import importlib

    from grpc_tools import protoc

    out_dir.mkdir(parents=True, exist_ok=True)
    code = protoc.main(
        [
            "protoc",
            f"-I{krt_root}",
            f"-I{well_known_protos()}",
            f"--python_out={out_dir}",
            "public_input.proto",
        ]
    )
    if code != 0:
        raise RuntimeError(f"protoc failed on {krt_root / 'public_input.proto'}")
    sys.path.insert(0, str(out_dir))
    return importlib.import_module("public_input_pb2")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text()
            out += [int(c) for c in text.split()]
    except OSError:
        pass
    return out


def tree_pids(pid: int) -> list[int]:
    """A process and its descendants (from /proc), the process first."""
    out: list[int] = []
    stack = [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        stack += _children(p)
    return out


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in tree_pids(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def drive(coro: Any) -> Any:
    """Run a coroutine that never awaits anything pending (our handler) to its result."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("the handler awaited something: drive it with an event loop instead")


class LoadedKrt:
    """An unpacked KRT's workflow, its nodes imported and inited by the server's loader
    (``load_nodes`` + ``run_inits``), in a scratch folder removed when the process exits (after
    it printed its result); its handlers chained as KRE does."""

    def __init__(self, krt_dir: Path, rpc: str = RPC, prefix: str = "krt-bench-") -> None:
        from kedro_krt.serve.loader import load_nodes, prepare_krt, run_inits

        work = Path(tempfile.mkdtemp(prefix=prefix))
        atexit.register(shutil.rmtree, work, True)
        self.prepared = prepare_krt(krt_dir, work_dir=work, validate=False)
        workflows = load_nodes(self.prepared, state_dir=work)
        asyncio.run(run_inits(workflows))
        self.wf = workflows[rpc]
        self.handlers = [(n.handler, n.ctx) for n in self.wf.nodes]
        #: The KrtNode each node's main.py built.
        self.krt_nodes = [n.module._node for n in self.wf.nodes]
        #: Each KRT node's NodeSession (its CallList is `_calls`).
        self.sessions = [k._session for k in self.krt_nodes]

    def payload(self, body_json: str) -> Any:
        """The request as the first node gets it: an ``Any``."""
        from google.protobuf import any_pb2, json_format

        request = json_format.Parse(body_json, self.wf.request_cls())
        return any_pb2.Any(
            type_url="type.googleapis.com/" + self.wf.request_type,
            value=request.SerializeToString(),
        )

    def chain(self, payload: Any) -> Any:
        """The handlers chained as KRE does: each output packed into the next ``Any``."""
        from google.protobuf import any_pb2

        data = payload
        for handler, ctx in self.handlers:
            out = drive(handler(ctx, data))
            data = any_pb2.Any()
            data.Pack(out)
        return data

    def reply(self, payload: Any) -> dict[str, Any]:
        """The response of one message, as proto3 JSON (a dict)."""
        from google.protobuf import json_format

        response = self.wf.response_cls()
        self.chain(payload).Unpack(response)
        return json_format.MessageToDict(response, preserving_proto_field_name=True)
