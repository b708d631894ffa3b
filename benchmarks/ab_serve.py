"""A/B of two kedro-krt checkouts' in-process servers, paired, on the same machine and KRTs.

    python -m benchmarks.ab_serve --a OLD_CHECKOUT --b NEW_CHECKOUT \\
        --krt light=KRT,KRT_DIR,REQUEST,ECHO_JSON [--krt trivial=...] [--reps 5] [--seconds 2]

For each KRT: an echo server of its messages (``grpc_bench echo``) and ``python -m
kedro_krt.serve`` of the KRT twice, each from one checkout (put first on ``sys.path``, ahead of
the bench's editable install; ``--workers 1``, no web port), all up together. Then ``grpc_bench
paired`` calls the three in alternation (one call in flight, ``--reps`` runs of ``--seconds``):
p50 / p99 of each and the ratios B / A and each / echo per run. Then their throughput at
concurrency 8 in alternating windows (A B echo, echo B A, ...; ``--load-pairs`` each), with
each server's CPU per request. The nodes' code comes from each KRT's own vendored ``lib/``;
only the server (``kedro_krt.serve``) differs between A and B. ``--nats``: both served with
``serve --nats`` instead (the front differs; the runners come from the KRT's ``lib/``, and the
CPU per request is the whole tree's: front, nats-server, runners). Prints JSON.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import emit, last_json
from benchmarks.processes import REPO, Server, free_port, run_command, start_server

#: Runs ``kedro_krt.serve`` from the checkout in argv[1]: first on sys.path, ahead of the
#: bench's editable install and of the current folder (the bench runs from the repository).
LAUNCH = (
    "import runpy, sys; checkout = sys.argv.pop(1); "
    "sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in repr(f)]; "
    "sys.path.insert(0, checkout); runpy.run_module('kedro_krt.serve', run_name='__main__')"
)


def _serve(krt: Path, checkout: Path, work: Path, name: str, nats: bool = False) -> Server:
    port = free_port()
    mode = ["--nats"] if nats else ["--workers", "1"]
    cmd = [sys.executable, "-c", LAUNCH, str(checkout), str(krt), "--host", "127.0.0.1",
           "--port", str(port), "--web-port", "0", *mode]
    server = start_server(cmd, port, work, name)
    return server


def _echo(krt_dir: Path, response_json: str, work: Path, name: str) -> Server:
    port = free_port()
    cmd = [sys.executable, "-m", "benchmarks.grpc_bench", "echo", "--krt-dir", str(krt_dir),
           "--port", str(port), "--response-json", response_json]
    return start_server(cmd, port, work, name)


def _bench(*args: str, timeout: float) -> dict[str, Any]:
    return last_json(run_command([sys.executable, "-m", "benchmarks.grpc_bench", *args],
                                 cwd=REPO, timeout=timeout))


def _med(values: list[float]) -> list[float]:
    return [statistics.median(values), min(values), max(values)]


def measure(name: str, spec: str, a: Path, b: Path, work: Path, reps: int, seconds: float,
            load_seconds: float, load_pairs: int = 2, nats: bool = False,
            block: int = 1) -> dict[str, Any]:
    """One KRT: the paired latency runs and the alternating load windows."""
    krt, krt_dir, request, echo_json = spec.split(",", 3)
    servers = {}
    try:
        servers["echo"] = _echo(Path(krt_dir), echo_json, work, f"ab-{name}-echo")
        servers["A"] = _serve(Path(krt), a, work, f"ab-{name}-A", nats)
        servers["B"] = _serve(Path(krt), b, work, f"ab-{name}-B", nats)
        targets = [x for n, s in servers.items() for x in ("--target", f"{n}={s.address}")]
        lat = _bench("paired", *targets, "--request-file", request, "--max-seconds",
                     str(seconds), "--reps", str(reps), "--warmup", "100", "--block", str(block),
                     timeout=reps * seconds + 180)
        runs = lat["runs"]
        out: dict[str, Any] = {"answers_equal": len(set(lat["answers"].values())) == 1}
        for n in servers:
            out[f"{n}_p50_ms"] = _med([r["servers"][n]["p50_ms"] for r in runs])
            out[f"{n}_p99_ms"] = _med([r["servers"][n]["p99_ms"] for r in runs])
            out[f"{n}_p99_over_p50"] = _med([r["servers"][n]["p99_ms"] / r["servers"][n]["p50_ms"]
                                             for r in runs])
        out["B_over_A_p50"] = _med([r["servers"]["B"]["p50_ms"] / r["servers"]["A"]["p50_ms"]
                                    for r in runs])
        for n in ("A", "B"):
            out[f"{n}_over_echo_p50"] = _med(
                [r["servers"][n]["p50_ms"] / r["servers"]["echo"]["p50_ms"] for r in runs])
        windows: dict[str, list[dict[str, Any]]] = {"echo": [], "A": [], "B": []}
        for i in range(load_pairs):
            for n in ("A", "B", "echo") if i % 2 == 0 else ("echo", "B", "A"):
                windows[n].append(_bench(
                    "load", "--address", servers[n].address, "--request-file", request,
                    "--concurrency", "8", "--seconds", str(load_seconds), "--server-pid",
                    str(servers[n].proc.pid), timeout=load_seconds + 120))
        for n, ws in windows.items():
            secs = sum(w["seconds"] for w in ws)
            reqs = sum(w["requests"] for w in ws)
            cpu = sum(w["server_cpu"] * w["seconds"] for w in ws)
            out[f"{n}_load"] = {"rps": reqs / secs, "server_cpu": cpu / secs,
                                "cpu_ms_per_window": [round(1000 * w["server_cpu"] * w["seconds"]
                                                            / w["requests"], 3) for w in ws],
                                "cpu_ms_per_request": 1000 * cpu / reqs,
                                "errors": sum(w["errors"] for w in ws)}
        return out
    finally:
        for server in servers.values():
            server.stop()


def main() -> None:
    """Parse, measure each KRT, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--a", type=Path, required=True, help="checkout A (the baseline)")
    parser.add_argument("--b", type=Path, required=True, help="checkout B")
    parser.add_argument("--krt", action="append", required=True,
                        metavar="NAME=KRT,KRT_DIR,REQUEST,ECHO_JSON")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--load-seconds", type=float, default=3.0)
    parser.add_argument("--load-pairs", type=int, default=2, help="load windows per server")
    parser.add_argument("--block", type=int, default=1,
                        help="calls to each server in a row per round (grpc_bench paired)")
    parser.add_argument("--nats", action="store_true",
                        help="serve --nats (A's and B's fronts; the runners are the KRT's own)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    out = {}
    for item in args.krt:
        name, spec = item.split("=", 1)
        out[name] = measure(name, spec, args.a.resolve(), args.b.resolve(), args.work,
                            args.reps, args.seconds, args.load_seconds, args.load_pairs,
                            args.nats, args.block)
    emit(out)


if __name__ == "__main__":
    main()
