"""``python -m benchmarks.main``: every row of the benchmark, a table, ``benchmarks/RESULTS.md``.

It prepares a scratch copy of ``example_project`` (generated data, a trained model, a
``grouping: single`` conf env, a bench-only ``boot_inference`` pipeline for kedro-boot), packages
both KRTs, then runs each measurement in a process of its own (see ``benchmarks/README.md``).
The ``--nats`` rows also build a trivial one-node KRT by hand (``benchmarks/trivial.py``); the
copy-protection rows a spaceflights-shaped project (``benchmarks/protection.py``).
Targets are reported as pass/miss, never asserted. ``--only GROUPS`` runs some rows and prints.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.common import compile_public_proto, last_json, one_row_request_json, tree_pids
from benchmarks.protection import write_flights

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = Path(sys.executable).parent

LOGGING_YML = """\
version: 1
disable_existing_loggers: false
handlers:
  console: {class: logging.StreamHandler, level: WARNING, stream: ext://sys.stderr}
loggers:
  kedro: {level: WARNING}
  kedro_boot: {level: WARNING}
root: {level: WARNING, handlers: [console]}
"""

SINGLE_KRT_YML = """\
workflows:
  - name: inference
    pipeline: inference
    grouping: single
"""

# kedro-boot runs one namespace per session.run, matched exactly: the same three node functions
# as `inference`, under one namespace, registered only in the bench copy.
BOOT_REGISTRY = '''

_krt_bench_register = register_pipelines


def register_pipelines() -> dict[str, Pipeline]:  # noqa: F811 (bench-only wrapper)
    """The project's pipelines plus `boot_inference`, for the kedro-boot benchmark."""
    from kedro.pipeline import node, pipeline

    from shuttle_prices.features import make_features
    from shuttle_prices.pipelines.inference.nodes import make_quotes, predict_price

    pipes = _krt_bench_register()
    pipes["boot_inference"] = pipeline(
        [
            node(make_features, "shuttles", "features", name="make_features"),
            node(predict_price, ["features", "price_model", "params:clip_negative"],
                 "predictions", name="predict_price"),
            node(make_quotes, ["shuttles", "predictions", "params:markup", "params:currency",
                               "params:price_bands"], "quotes", name="make_quotes"),
        ],
        namespace="inference",
        inputs={"price_model"},
        parameters={"price_bands"},
    )
    return pipes
'''

BOOT_CATALOG = """
# bench-only: kedro-boot replaces declared inputs per run, so the request must be declared
inference.shuttles:
  type: MemoryDataset
"""

BOOT_PARAMS = """
# bench-only: parameters of the `boot_inference` pipeline (kedro-boot benchmark)
inference:
  clip_negative: true
  markup: 0.1
  currency: EUR
"""


def _env() -> dict[str, str]:
    return {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "PYTHONDONTWRITEBYTECODE": "1"}


def _run(cmd: list[str], *, cwd: Path | None = None, timeout: float = 300) -> str:
    """Run a command; its stdout, or a RuntimeError with its stderr."""
    result = subprocess.run(
        cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stderr[-4000:]}"
        )
    return result.stdout


def _measure(module: str, *args: str, timeout: float = 240) -> dict[str, Any]:
    return last_json(
        _run([sys.executable, "-m", f"benchmarks.{module}", *args], cwd=REPO, timeout=timeout)
    )


def _progress(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# -- the project copy and the KRTs --------------------------------------------------------------


def prepare_project(work: Path) -> Path:
    """Copy example_project, add the bench conf, generate data and train the model."""
    project = work / "project"
    shutil.copytree(
        REPO / "example_project", project,
        ignore=shutil.ignore_patterns(
            "dist", ".krt-state", "__pycache__", "*.pickle", "quotes.csv"
        ),
    )
    (project / "conf" / "logging.yml").write_text(LOGGING_YML, encoding="utf-8")
    os.environ["KEDRO_LOGGING_CONFIG"] = str(project / "conf" / "logging.yml")
    (project / "conf" / "single").mkdir(exist_ok=True)
    (project / "conf" / "single" / "krt.yml").write_text(SINGLE_KRT_YML, encoding="utf-8")
    # `kedro krt package` leaves conf/<env>/krt.yml out of the archive, and an env folder that
    # held nothing else is then missing from the KRT, where the node's init boots Kedro with
    # env `single` (MissingConfigException). A file of its own keeps the folder in the archive.
    (project / "conf" / "single" / "README.md").write_text(
        "Bench-only conf env: the grouping-single KRT of the inference pipeline.\n",
        encoding="utf-8",
    )
    registry = project / "src" / "shuttle_prices" / "pipeline_registry.py"
    registry.write_text(registry.read_text(encoding="utf-8") + BOOT_REGISTRY, encoding="utf-8")
    catalog = project / "conf" / "base" / "catalog.yml"
    catalog.write_text(catalog.read_text(encoding="utf-8") + BOOT_CATALOG, encoding="utf-8")
    params = project / "conf" / "base" / "parameters.yml"
    params.write_text(params.read_text(encoding="utf-8") + BOOT_PARAMS, encoding="utf-8")
    _run([sys.executable, "scripts/generate_data.py"], cwd=project)
    _run([str(BIN / "kedro"), "run", "--pipelines", "training"], cwd=project)
    return project


def package(project: Path, out: str, *extra: str) -> tuple[Path, float]:
    """`kedro krt package` into dist/<out>; the .krt and the wall time."""
    started = time.perf_counter()
    _run([str(BIN / "kedro"), "krt", "package", *extra, "-o", f"dist/{out}"], cwd=project)
    elapsed = time.perf_counter() - started
    return next((project / "dist" / out).glob("*.krt")), elapsed


def unpack(krt: Path, dest: Path) -> Path:
    """Unpack a .krt the way the server does."""
    from kedro_krt.krt.archive import extract_krt

    return Path(extract_krt(krt, dest))


# -- servers ------------------------------------------------------------------------------------


def free_port() -> int:
    """A port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    """VmRSS of a process, in MB (from /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class Server:
    """A server process we started, and how long it took to be ready."""

    proc: subprocess.Popen[bytes]
    address: str
    ready_s: float
    log: Path

    def stop(self) -> None:
        """SIGTERM (a graceful stop), then kill after 20 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(cmd: list[str], port: int, work: Path, name: str) -> Server:
    """Start a server; wait (at most 120 s) for its ``Serving ...`` line on stdout."""
    log = work / f"{name}.log"
    started = time.perf_counter()
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=sink, stderr=sink)
    deadline = started + 120
    # The line is printed once every node's init has run: that is SERVING.
    while not any(line.startswith("Serving") for line in log.read_text().splitlines()):
        if proc.poll() is not None or time.perf_counter() > deadline:
            proc.kill()
            raise RuntimeError(f"server {name} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.01)
    return Server(proc, f"127.0.0.1:{port}", time.perf_counter() - started, log)


def start_krt(krt: Path, workers: int, work: Path, name: str, *, nats: bool = False) -> Server:
    """`kedro-krt serve` (a .krt or a folder) on a free port, no web port.

    With ``nats``: ``--nats`` (its own nats-server on 127.0.0.1, one runner process per node;
    ``--workers`` does not apply).
    """
    port = free_port()
    cmd = [
        str(BIN / "kedro-krt"), "serve", str(krt), "--host", "127.0.0.1", "--port", str(port),
        "--web-port", "0",
    ]
    cmd += ["--nats"] if nats else ["--workers", str(workers)]
    return start_server(cmd, port, work, name)


def start_echo(krt_dir: Path, work: Path, name: str = "echo", response_json: str = "") -> Server:
    """The grpc.aio echo server with the KRT's message classes (and a fixed answer)."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "benchmarks.grpc_bench", "echo", "--krt-dir", str(krt_dir),
        "--port", str(port),
    ]
    if response_json:
        cmd += ["--response-json", response_json]
    return start_server(cmd, port, work, name)


def tree_rss_mb(pid: int) -> float:
    """VmRSS summed over a process and its descendants (``--nats``: nats-server, runners)."""
    total = 0.0
    for p in tree_pids(pid):
        try:
            total += rss_mb(p)
        except (OSError, RuntimeError):  # gone, or a zombie without VmRSS
            continue
    return total


def latency(server: Server, request: Path) -> dict[str, Any]:
    """p50/p99 from a client process."""
    return _measure(
        "grpc_bench", "latency", "--address", server.address, "--request-file", str(request)
    )


def paired_latency(servers: dict[str, Server], request: Path, *, seconds: float) -> dict[str, Any]:
    """p50/p99 of servers that are up together, called in alternation (one client process)."""
    targets = [a for name, srv in servers.items() for a in ("--target", f"{name}={srv.address}")]
    return _measure(
        "grpc_bench", "paired", *targets, "--request-file", str(request),
        "--max-seconds", str(seconds), timeout=seconds + 120,
    )


def alternate_load(
    servers: dict[str, Server], request: Path, *, seconds: float, rounds: int = 2
) -> dict[str, Any]:
    """Throughput of two or more servers in alternating windows (A B B A ...), summed per server.

    The servers are all up, and only one is loaded at a time: a burst of outside load, or the
    machine's warm-up, lands on both instead of on whichever ran second.
    """
    names = list(servers)
    windows: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for i in range(rounds):
        for name in names if i % 2 == 0 else names[::-1]:
            windows[name].append(load(servers[name], request, seconds=seconds))
    out: dict[str, Any] = {}
    for name, ws in windows.items():
        secs = sum(w["seconds"] for w in ws)
        out[name] = {
            "requests": sum(w["requests"] for w in ws),
            "errors": sum(w["errors"] for w in ws),
            "seconds": secs,
            "rps": sum(w["requests"] for w in ws) / secs,
            "server_cpu": sum(w["server_cpu"] * w["seconds"] for w in ws) / secs,
            "client_cpu": sum(w["client_cpu"] * w["seconds"] for w in ws) / secs,
            "windows_rps": [w["rps"] for w in ws],
        }
    return out


def load(server: Server, request: Path, *, seconds: float, count: int = 10**9) -> dict[str, Any]:
    """Throughput at concurrency 8 from a client process, with the server's CPU use."""
    return _measure(
        "grpc_bench", "load", "--address", server.address, "--request-file", str(request),
        "--concurrency", "8", "--seconds", str(seconds), "--count", str(count),
        "--server-pid", str(server.proc.pid), timeout=seconds + 120,
    )


# -- the report ---------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    """CPU model, cores, and the versions that matter."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "load average (1, 5, 15 min) at the end": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    for dist in ("kedro", "kedro-boot", "pandas", "protobuf", "grpcio", "scikit-learn"):
        try:
            info[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            info[dist] = "not installed"
    return info


def verdict(ok: bool | None) -> str:
    """pass / MISS / n/a."""
    return "n/a" if ok is None else ("pass" if ok else "**MISS**")


Rows = list[tuple[str, ...]]


def _ms(v: float) -> str:
    return f"{v:.3f} ms"


def _load_cell(x: dict[str, Any]) -> str:
    return (f"{x['rps']:.0f} req/s (server CPU {x['server_cpu']:.2f}, client CPU "
            f"{x['client_cpu']:.2f} cores)")


def build_table(r: dict[str, Any]) -> Rows:
    """The rows of the results table: what, value, floor, ratio, target, result.

    Each group of rows appears when its measurements are in ``r`` (``--only`` runs some).
    """
    rows: Rows = []
    if "krt_namespace" in r:
        rows += _table_inproc(r)
    if "echo_latency" in r:
        rows += _table_e2e(r)
    if "nats_trivial" in r:
        rows += _table_nats_e2e(r)
    if "load_w1" in r:
        rows += _table_load(r)
    if "load_nats" in r:
        rows += _table_nats_load(r)
    if "payload" in r:
        rows += _table_payload(r)
    if "memory" in r:
        rows += _table_memory(r)
    if "protection_flights" in r:
        rows += _table_protection(r)
    if "nats_rss" in r:
        m = r["nats_rss"]
        rows.append(("5", "server RSS at SERVING, process tree: --workers 1 / --nats (3 nodes)",
                     f"{m['in-process']:.1f} MB / {m['nats']:.1f} MB "
                     f"({m['nats_processes']} processes: front, nats-server, one per node)",
                     "", "", "", ""))
    rows += _table_cold(r)
    return rows


def _table_inproc(r: dict[str, Any]) -> Rows:
    rows: Rows = []
    ns, single = r["krt_namespace"], r["krt_single"]
    floor = ns["floor"]["median_ms"]
    ms = _ms

    h_ns = ns["handlers"]["median_ms"]
    h_single = single["handlers"]["median_ms"]
    rows.append(("1", "raw node functions, decoded inputs (floor)", ms(floor), ms(floor), "1.00x",
                 "", ""))
    # Handlers and their floor are timed call by call, alternating (paired differences); the
    # peer runs in a process of its own, so its figure is median minus median.
    boot_r = r.get("boot") or {}
    boot_ms = boot_r.get("boot", {}).get("median_ms", float("nan"))
    boot_over = boot_r.get("overhead_ms", boot_ms - floor)
    over_ns = ns.get("overhead_ms", h_ns - floor)
    over_single = single.get("overhead_ms", h_single - single["floor"]["median_ms"])
    over_engine = single.get("engine_overhead_ms", float("nan"))
    rows.append(("1", "time above the floor (paired): handlers 3 nodes / handler single / "
                 "engine alone (KrtSession, DataFrames in and out) / kedro-boot session.run",
                 " / ".join(ms(x) for x in (over_ns, over_single, over_engine, boot_over)),
                 "", "", "", ""))
    if over_engine == over_engine and over_engine > 0:  # not NaN
        rows.append(("1", "kedro-boot's time above the floor, divided by ours",
                     f"engine {boot_over / over_engine:.0f}x, handler single "
                     f"{boot_over / over_single:.1f}x, 3 nodes {boot_over / over_ns:.1f}x",
                     "", "", ">= 4x (engine)", verdict(boot_over >= 4 * over_engine)))
    rows.append(("1", f"handlers chained, {len(ns['nodes'])} KRT nodes (Any in, Any out)",
                 ms(h_ns), ms(floor), f"{h_ns / floor:.2f}x", "<= 2x", verdict(h_ns <= 2 * floor)))
    rows.append(("1", "handler, grouping single (1 KRT node)", ms(h_single),
                 ms(single["floor"]["median_ms"]),
                 f"{h_single / single['floor']['median_ms']:.2f}x", "<= 2x",
                 verdict(h_single <= 2 * single["floor"]["median_ms"])))
    boot = r.get("boot")
    if boot and "boot" in boot:
        b = boot["boot"]["median_ms"]
        b_floor = boot.get("floor", {}).get("median_ms", floor)  # its own, same process
        rows.append(("1", "kedro-boot 0.3.0 session.run (peer)", ms(b), ms(b_floor),
                     f"{b / b_floor:.2f}x",
                     f"handlers >= 4x faster: {b / h_ns:.1f}x (3 nodes), {b / h_single:.1f}x "
                     "(single)", verdict(b >= 4 * h_ns)))
    else:
        rows.append(("1", "kedro-boot 0.3.0 session.run (peer)", "failed", "", "", "",
                     str((boot or {}).get("error", "n/a"))[:80]))
    prices = {
        "floor": ns["floor_price"],
        "3 nodes": ns["response"]["quotes"][0]["price"],
        "single": single["response"]["quotes"][0]["price"],
        "kedro-boot": (boot or {}).get("price"),
        "KedroSession": r["naive"]["price"],
    }
    same = len({round(p, 2) for p in prices.values() if p is not None}) == 1
    rows.append(("1", "same quote on every path (sanity)",
                 ", ".join(f"{k} {v}" for k, v in prices.items()), "", "", "all equal",
                 verdict(same)))
    naive = r["naive"]["naive"]["median_ms"]
    rows.append(("1", "KedroSession.create().run() per request (CSV in/out)", ms(naive), ms(floor),
                 f"{naive / floor:.1f}x", "", ""))
    return rows


def _table_e2e(r: dict[str, Any]) -> Rows:
    rows: Rows = []
    ms = _ms
    echo = r["echo_latency"]
    for key, label in (("e2e_namespace", "3 nodes"), ("e2e_single", "single")):
        e = r[key]
        rows.append(("2", f"e2e gRPC p50, kedro-krt serve ({label})", ms(e["p50_ms"]),
                     ms(echo["p50_ms"]), f"{e['p50_ms'] / echo['p50_ms']:.2f}x", "<= 2x echo",
                     verdict(e["p50_ms"] <= 2 * echo["p50_ms"])))
        rows.append(("2", f"e2e gRPC p99, kedro-krt serve ({label})", ms(e["p99_ms"]),
                     ms(echo["p99_ms"]), f"{e['p99_ms'] / echo['p99_ms']:.2f}x", "", ""))
        inproc = r.get("krt_namespace" if key == "e2e_namespace" else "krt_single")
        if inproc:
            over = e["p50_ms"] - inproc["handlers"]["median_ms"]
            rows.append(("2", f"  serving overhead ({label}): e2e p50 - in-process handlers",
                         ms(over), ms(echo["p50_ms"]), f"{over / echo['p50_ms']:.2f}x", "", ""))
    rows.append(("2", "echo server p50 / p99 (transport floor)",
                 f"{echo['p50_ms']:.3f} / {echo['p99_ms']:.3f} ms", "", "", "", ""))
    return rows


def _table_nats_e2e(r: dict[str, Any]) -> Rows:
    """``--nats`` against the in-process server and the echo, all three up together and called
    in alternation (paired): the trivial one-node KRT, then the example's three nodes."""
    rows: Rows = []
    ms = _ms
    for key, label, nodes in (("nats_trivial", "trivial 1-node KRT", 1),
                              ("nats_namespace", "3 nodes", 3)):
        if key not in r:
            continue
        p = r[key]
        srv, paired = p["servers"], p["paired_ms"]
        echo = srv["echo"]
        for mode, name in (("in-process", "in-process"), ("nats", "--nats")):
            x = srv[mode]
            rows.append(("2", f"e2e gRPC p50 / p99, {label}, {name} (paired, "
                         f"{p['rounds']} rounds)",
                         f"{x['p50_ms']:.3f} / {x['p99_ms']:.3f} ms",
                         f"echo {echo['p50_ms']:.3f} / {echo['p99_ms']:.3f} ms",
                         f"{x['p50_ms'] / echo['p50_ms']:.2f}x / "
                         f"{x['p99_ms'] / echo['p99_ms']:.2f}x", "", ""))
        cost = paired["nats - in-process"]
        rows.append(("2", f"  --nats - in-process ({label}, paired): per request / per node "
                     f"({nodes + 1} JetStream hops)",
                     f"{ms(cost)} / {ms(cost / nodes)}",
                     f"in-process - echo {ms(paired['in-process - echo'])}",
                     f"{srv['nats']['p50_ms'] / srv['in-process']['p50_ms']:.2f}x p50", "", ""))
        same = p["answers"]["nats"] == p["answers"]["in-process"]
        rows.append(("2", f"  --nats answers the same bytes as in-process ({label}, sanity)",
                     "yes" if same else "no", "", "", "equal", verdict(same)))
    if "nats_trivial" in r and "nats_namespace" in r:
        c1 = r["nats_trivial"]["paired_ms"]["nats - in-process"]
        c3 = r["nats_namespace"]["paired_ms"]["nats - in-process"]
        rows.append(("2", "  --nats cost of each node past the first: (3 nodes - 1 node) / 2",
                     ms((c3 - c1) / 2), "", "", "", ""))
    return rows


def _table_load(r: dict[str, Any]) -> Rows:
    rows: Rows = []
    w1, w2, we = r["load_w1"], r["load_w2"], r["load_echo"]
    rows.append(("3", "throughput c=8, --workers 1", _load_cell(w1), _load_cell(we), "", "", ""))
    rows.append(("3", "throughput c=8, --workers 2", _load_cell(w2), "", "", "", ""))
    rows.append(("3", "2 workers / 1 worker", f"{w2['rps'] / w1['rps']:.2f}x", "", "",
                 ">= 1.7x", verdict(w2["rps"] >= 1.7 * w1["rps"])))
    return rows


def _table_nats_load(r: dict[str, Any]) -> Rows:
    ln = r["load_nats"]
    inproc, nats = ln["in-process"], ln["nats"]
    windows = len(nats["windows_rps"])
    errors = inproc["errors"] + nats["errors"]
    return [
        ("3", f"throughput c=8, --nats, 3 nodes ({windows} alternating windows)",
         _load_cell(nats), f"--workers 1: {_load_cell(inproc)}",
         f"{nats['rps'] / inproc['rps']:.2f}x", "", ""),
        ("3", "  per window, --nats / --workers 1 (req/s)",
         f"{' '.join(f'{x:.0f}' for x in nats['windows_rps'])} / "
         f"{' '.join(f'{x:.0f}' for x in inproc['windows_rps'])}; errors {errors}",
         "", "", "", ""),
    ]


def _table_payload(r: dict[str, Any]) -> Rows:
    rows: Rows = []
    for p in r["payload"]["payload"]:
        n = p["rows"]
        ours = p["decode_ms"] + p["encode_ms"]
        fl = p["floor_decode_ms"] + p["floor_encode_ms"]
        per_row = 1000.0 / n
        rows.append((
            "4",
            f"decode + encode, {n:,} rows ({p['request_bytes']:,} B request)",
            f"{p['decode_ms'] * per_row:.2f} + {p['encode_ms'] * per_row:.2f} us/row",
            f"{p['floor_decode_ms'] * per_row:.2f} + {p['floor_encode_ms'] * per_row:.2f} us/row",
            f"{ours / fl:.2f}x",
            "<= 3x" if n == 100_000 else "",
            verdict(ours <= 3 * fl) if n == 100_000 else "",
        ))
    return rows


def _table_memory(r: dict[str, Any]) -> Rows:
    m = r["memory"]
    growth = m["rss_after_mb"] - m["rss_before_mb"]
    return [("5", f"server RSS over {m['requests']:,} requests",
             f"{m['rss_before_mb']:.1f} -> {m['rss_after_mb']:.1f} MB (+{growth:.2f} MB)",
             f"{m['rss_ready_mb']:.1f} MB at SERVING", "", "< 5 MB", verdict(growth < 5))]


def _us(v: float) -> str:
    return f"{v:.0f} us"


def _cost(x: dict[str, Any]) -> str:
    """A paired cost with its 95 % confidence interval."""
    lo, hi = x.get("ci95_us", (float("nan"), float("nan")))
    return f"{_us(x['cost_us'])} (95 % CI {lo:.0f} to {hi:.0f})"


def _shared(shared: dict[str, list[str]]) -> str:
    """The example's values loaded once, by how the plan hands them over."""
    by_ref = sorted(d for d, (mode, _) in shared.items() if mode == "assign")
    copied = sorted(f"{d} ({m})" for d, (m, _) in shared.items() if m not in ("assign", ""))
    immutable = [d for d, (mode, _) in shared.items() if not mode]
    parts = []
    if by_ref:
        parts.append(f"by reference (no node changed it in the trial run): {', '.join(by_ref)}")
    if copied:
        parts.append(f"copied: {', '.join(copied)}")
    if immutable:
        parts.append(f"{len(immutable)} immutable parameters (checked, never copied)")
    return "; ".join(parts)


def _copies(c: dict[str, Any]) -> str:
    """How many values one message copied, and which."""
    if not c["copies"]:
        return f"0 copies ({c['checks']} checks)"
    which = ", ".join(f"{k}{f' x{n}' if n > 1 else ''}" for k, n in sorted(c["by_dataset"].items()))
    return f"{c['copies']}: {which}"


def _table_protection(r: dict[str, Any]) -> Rows:
    """Row 7: what Kedro's copy semantics cost per message (``benchmarks/protection.py``)."""
    rows: Rows = []
    f = r["protection_flights"]
    x = f["request"]
    h, c, cl = x["handlers"], x["calls"], x["call_lists"]
    rows.append(("7", f"copy protection, spaceflights-shaped KRT ({len(f['nodes'])} KRT nodes, "
                 f"{x['rows']}-row request): handlers, protected - all `assign` (paired)",
                 f"{_cost(h)} per message ({_ms(h['protected']['median_ms'])})",
                 f"all-assign KRT {_ms(h['assign']['median_ms'])}", f"{h['ratio']:.2f}x", "",
                 ""))
    rows.append(("7", "  of which the protection itself: the Kedro calls, protected - the same "
                 "calls on inputs deep-copied beforehand (paired, no codec)",
                 _cost(c), f"{_ms(c['fresh']['median_ms'])} (calls, fresh inputs)",
                 f"{c['ratio']:.2f}x", "", ""))
    rows.append(("7", "  the rest: the all-assign KRT's wrong inputs take cheaper paths "
                 "(fresh inputs - all assign, calls)", _us(c["fresh_minus_assign_us"]), "", "",
                 "", ""))
    rows.append(("7", "  the copies alone: CallLists with stubbed functions, protected - "
                 "unprotected (paired)",
                 f"{_cost(cl)}; {_copies(x['copies'])} per message",
                 _ms(cl["bare"]["median_ms"]), f"{cl['ratio']:.1f}x", "", ""))
    big = next((v for k, v in f.items() if k.startswith("request_")), None)
    if big:
        rows.append(("7", f"  same, {big['rows']:,}-row request: handlers / protection itself "
                     "/ copies alone",
                     f"{_us(big['handlers']['cost_us'])} / {_us(big['calls']['cost_us'])} / "
                     f"{_us(big['call_lists']['cost_us'])}",
                     f"all-assign KRT {_ms(big['handlers']['assign']['median_ms'])}",
                     f"{big['handlers']['ratio']:.2f}x", "", ""))
    san = f["sanity"]
    n = len(san["expected"])
    wrong = sum(1 for ok in san["assign_equal_per_request"] if not ok)
    ok = san["protected_equal"] and san["assign_differs"]
    rows.append(("7", f"  replies to {n} requests in a row against Kedro's SequentialRunner "
                 "(sanity): protected / all assign",
                 f"{'equal' if san['protected_equal'] else 'DIFFER'} / differ on {wrong} of {n}",
                 "", "", "equal / differ", verdict(ok)))
    for key, label in (("protection_namespace", "3 nodes"), ("protection_single", "single")):
        e = r.get(key)
        if not e:
            continue
        h, c, cl = e["handlers"], e["calls"], e["call_lists"]
        rows.append(("7", f"copy protection, the example ({label}): values copied per message",
                     _copies(e["copies"]), _shared(e["shared"]), "", "", ""))
        handlers = h["unprotected"]["median_ms"]
        rows.append(("7", f"  the example ({label}): protected - an unprotected CallList, "
                     "CallLists alone (stubbed functions, paired)", _cost(cl),
                     f"unprotected handlers {_ms(handlers)}",
                     f"+{cl['cost_us'] / 10 / handlers:.2f} % of the handlers", "same replies",
                     verdict(bool(e["same_replies"]))))
        rows.append(("7", f"  the example ({label}): the same, handlers / Kedro calls (paired; "
                     "below what a median of ms-long user code resolves)",
                     f"{_cost(h)} / {_cost(c)}", "", "", "", ""))
    return rows


def _table_cold(r: dict[str, Any]) -> Rows:
    rows: Rows = []
    c = r["cold"]
    rows.append(("6", "kedro krt package (3 nodes / single)",
                 f"{c['package_namespace_s']:.2f} s / {c['package_single_s']:.2f} s", "", "", "",
                 ""))
    if "serving_w1_s" in c:
        rows.append(("6", "serve start -> SERVING (workers 1 / 2; single)",
                     f"{c['serving_w1_s']:.2f} s / {c['serving_w2_s']:.2f} s; "
                     f"{c['serving_single_s']:.2f} s", f"echo {c['serving_echo_s']:.2f} s", "",
                     "", ""))
    if "serving_nats_s" in c:
        # The in-process server of the same group, started just before (same machine state).
        w1, triv = c["serving_w1_nats_row_s"], c["serving_trivial_s"]
        rows.append(("6", "serve --nats start -> SERVING (3 nodes; trivial 1 node)",
                     f"{c['serving_nats_s']:.2f} s; {c['serving_trivial_nats_s']:.2f} s",
                     f"in-process {w1:.2f} s; {triv:.2f} s",
                     f"{c['serving_nats_s'] / w1:.2f}x; "
                     f"{c['serving_trivial_nats_s'] / triv:.2f}x", "", ""))
    return rows


def markdown(rows: list[tuple[str, ...]]) -> str:
    """A GitHub table."""
    head = ("row", "measurement", "value", "floor", "ratio", "target", "result")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(info: dict[str, str], rows: list[tuple[str, ...]], raw: dict[str, Any],
                  elapsed: float) -> Path:
    """benchmarks/RESULTS.md: the machine, the table, the raw JSON."""
    env = ", ".join(f"{k} {v}" for k, v in info.items() if k not in ("date", "cpu", "cores"))
    text = f"""# Benchmark results

Generated by `make bench` (`benchmarks/run.sh`) on {info['date']}; the whole run took
{elapsed:.0f} s. How each row is measured and what stands in the way of a missed target:
`benchmarks/README.md`.

- Machine: {info['cpu']}, {info['cores']} cores
- {env}
- Example: `example_project`, workflow `inference` (etl -> model -> output), 1-row request
  unless said otherwise; Kedro logging at WARNING.

{markdown(rows)}

Medians unless said otherwise. "Ratio" is value / floor of that row, measured in the same run.
CPU columns are in cores (1.00 = one core busy for the whole window).

<details><summary>Raw results (JSON)</summary>

```json
{json.dumps(raw, indent=1, sort_keys=True)}
```

</details>
"""
    path = HERE / "RESULTS.md"
    path.write_text(text, encoding="utf-8")
    return path


# -- the run ------------------------------------------------------------------------------------


#: Groups of rows ``--only`` can pick; the default runs them all.
GROUPS = ("inproc", "payload", "serve", "nats", "copies")


def run_all(
    work: Path, memory_requests: int, memory_seconds: float, load_seconds: float,
    only: frozenset[str] = frozenset(GROUPS),
) -> dict[str, Any]:
    """Every measurement (of the groups in ``only``), one server loaded at a time.

    Servers are started one after the other; only the paired rows of ``--nats`` keep two or
    three of them up together, and even there one request is in flight at a time (or, for
    throughput, one server is loaded at a time).
    """
    r: dict[str, Any] = {}
    _progress("preparing the project copy (data, training)")
    project = prepare_project(work)
    _progress("packaging the KRTs")
    krt_ns, t_ns = package(project, "namespace", "--pipeline", "inference")
    krt_single, t_single = package(project, "single", "--env", "single")
    dir_ns = unpack(krt_ns, work / "krt-namespace")
    dir_single = unpack(krt_single, work / "krt-single")
    cold: dict[str, float] = {"package_namespace_s": t_ns, "package_single_s": t_single}

    if "inproc" in only:
        _progress("row 1: handlers and the floor (3 nodes)")
        r["krt_namespace"] = _measure("inproc", "krt", "--krt-dir", str(dir_ns), "--project",
                                      str(project))
        _progress("row 1: handler and the floor (single)")
        r["krt_single"] = _measure("inproc", "krt", "--krt-dir", str(dir_single), "--project",
                                   str(project))
        _progress("row 1: kedro-boot")
        try:
            r["boot"] = _measure("inproc", "boot", "--project", str(project))
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            r["boot"] = {"error": str(exc)[-2000:]}
        _progress("row 1: KedroSession per request")
        r["naive"] = _measure("inproc", "naive", "--project", str(project))

    if "copies" in only:
        copies_rows(r, work, project, dir_ns, dir_single)

    if "payload" in only:
        _progress("row 4: payload scaling")
        r["payload"] = _measure("payload", "--node-dir", str(dir_single / "src" / "inference"))

    # The request bytes, built with the classes compiled from the KRT's public proto.
    from google.protobuf import json_format

    pb2 = compile_public_proto(dir_ns, work / "pb2")
    request = work / "request.bin"
    request.write_bytes(
        json_format.Parse(one_row_request_json(project), pb2.InferenceRequest())
        .SerializeToString()
    )

    if "serve" in only:
        serve_rows(r, cold, work, krt_ns, krt_single, dir_ns, request, memory_requests,
                   memory_seconds, load_seconds)
    if "nats" in only:
        nats_rows(r, cold, work, krt_ns, dir_ns, request, load_seconds)
    r["cold"] = cold
    return r


def copies_rows(
    r: dict[str, Any], work: Path, project: Path, dir_ns: Path, dir_single: Path
) -> None:
    """Row 7: the spaceflights-shaped project packaged as it is and with every dataset in
    ``assign``, Kedro's replies to the same requests, then the example's two KRTs."""
    _progress("row 7: the spaceflights-shaped project, packaged protected and all-assign")
    dirs = {}
    for name, assign in (("flights", False), ("flights-assign", True)):
        proj = write_flights(work / name, assign=assign)
        krt, _ = package(proj, "krt", "--pipeline", "flights")
        dirs[name] = unpack(krt, work / f"krt-{name}")
    expect = work / "flights-expected.json"
    expect.write_text(json.dumps(_measure("protection", "expect", "--project",
                                          str(work / "flights"))), encoding="utf-8")
    _progress("row 7: protected against all-assign (handlers, calls, CallLists)")
    r["protection_flights"] = _measure(
        "protection", "flights", "--protected", str(dirs["flights"]), "--assign",
        str(dirs["flights-assign"]), "--expect", str(expect),
    )
    _progress("row 7: the example (3 nodes, single), protected against an unprotected CallList")
    for key, krt_dir in (("protection_namespace", dir_ns), ("protection_single", dir_single)):
        r[key] = _measure("protection", "example", "--krt-dir", str(krt_dir), "--project",
                          str(project))


def serve_rows(
    r: dict[str, Any], cold: dict[str, float], work: Path, krt_ns: Path, krt_single: Path,
    dir_ns: Path, request: Path, memory_requests: int, memory_seconds: float,
    load_seconds: float,
) -> None:
    """Rows 2, 3, 5 and 6 of the in-process server, and the echo floor."""
    _progress("rows 2, 3, 5, 6: kedro-krt serve --workers 1 (3 nodes)")
    server = start_krt(krt_ns, 1, work, "serve-w1")
    try:
        cold["serving_w1_s"] = server.ready_s
        rss_ready = rss_mb(server.proc.pid)
        r["e2e_namespace"] = latency(server, request)
        r["load_w1"] = load(server, request, seconds=load_seconds)
        rss_before = rss_mb(server.proc.pid)
        mem = load(server, request, seconds=memory_seconds, count=memory_requests)
        r["memory"] = {
            "requests": mem["requests"], "errors": mem["errors"], "rss_ready_mb": rss_ready,
            "rss_before_mb": rss_before, "rss_after_mb": rss_mb(server.proc.pid),
        }
    finally:
        server.stop()

    _progress("row 3: kedro-krt serve --workers 2")
    server = start_krt(krt_ns, 2, work, "serve-w2")
    try:
        cold["serving_w2_s"] = server.ready_s
        r["load_w2"] = load(server, request, seconds=load_seconds)
    finally:
        server.stop()

    _progress("row 2: kedro-krt serve, grouping single")
    server = start_krt(krt_single, 1, work, "serve-single")
    try:
        cold["serving_single_s"] = server.ready_s
        r["e2e_single"] = latency(server, request)
    finally:
        server.stop()

    _progress("row 2: the echo server")
    server = start_echo(dir_ns, work)
    try:
        cold["serving_echo_s"] = server.ready_s
        r["echo_latency"] = latency(server, request)
        r["load_echo"] = load(server, request, seconds=load_seconds)
    finally:
        server.stop()


def _stop_all(servers: dict[str, Server]) -> None:
    for server in servers.values():
        server.stop()


def nats_rows(
    r: dict[str, Any], cold: dict[str, float], work: Path, krt_ns: Path, dir_ns: Path,
    request: Path, load_seconds: float,
) -> None:
    """Rows 2, 3, 5 and 6 of ``serve --nats``: the trivial one-node KRT and the example, each
    against the in-process server and an echo of the same messages, up together and called in
    alternation (``grpc_bench paired``); throughput in alternating windows against
    ``--workers 1``."""
    _progress("rows 2, 6 (--nats): the trivial one-node KRT, echo / in-process / --nats")
    trivial = _measure("trivial", "--dest", str(work / "trivial"))
    triv_dir = Path(trivial["krt_dir"])
    servers: dict[str, Server] = {}
    try:
        servers["echo"] = start_echo(triv_dir, work, "echo-trivial", trivial["response_json"])
        servers["in-process"] = start_krt(triv_dir, 1, work, "serve-trivial")
        servers["nats"] = start_krt(triv_dir, 1, work, "serve-trivial-nats", nats=True)
        cold["serving_trivial_s"] = servers["in-process"].ready_s
        cold["serving_trivial_nats_s"] = servers["nats"].ready_s
        r["nats_trivial"] = paired_latency(servers, Path(trivial["request_file"]), seconds=6)
    finally:
        _stop_all(servers)

    _progress("rows 2, 3, 5, 6 (--nats): the example (3 nodes), echo / --workers 1 / --nats")
    servers = {}
    try:
        servers["echo"] = start_echo(dir_ns, work, "echo-nats-row")
        servers["in-process"] = start_krt(krt_ns, 1, work, "serve-w1-nats-row")
        servers["nats"] = start_krt(krt_ns, 1, work, "serve-nats", nats=True)
        cold["serving_nats_s"] = servers["nats"].ready_s
        cold["serving_w1_nats_row_s"] = servers["in-process"].ready_s
        rss = {"in-process": tree_rss_mb(servers["in-process"].proc.pid),
               "nats": tree_rss_mb(servers["nats"].proc.pid),
               "nats_processes": len(tree_pids(servers["nats"].proc.pid))}
        r["nats_namespace"] = paired_latency(servers, request, seconds=10)
        _progress("row 3 (--nats): throughput c=8, alternating windows")
        r["load_nats"] = alternate_load(
            {"in-process": servers["in-process"], "nats": servers["nats"]}, request,
            seconds=load_seconds,
        )
        r["nats_rss"] = rss
    finally:
        _stop_all(servers)


def main() -> None:
    """Run everything, print the table, write RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: tmp)")
    parser.add_argument("--memory-requests", type=int, default=20_000)
    parser.add_argument("--memory-seconds", type=float, default=330.0, help="cap of row 5")
    parser.add_argument("--load-seconds", type=float, default=5.0)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--only", default=",".join(GROUPS), metavar="GROUPS",
        help=f"comma-separated groups of rows to run, of {', '.join(GROUPS)} (default: all; "
        "anything less prints only, RESULTS.md is written by full runs)",
    )
    args = parser.parse_args()
    only = frozenset(g.strip() for g in args.only.split(",") if g.strip())
    if not only or only - set(GROUPS):
        parser.error(f"--only takes groups among {', '.join(GROUPS)}, got {args.only!r}")
    started = time.perf_counter()
    work = args.work or Path(tempfile.mkdtemp(prefix="kedro-krt-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        raw = run_all(work, args.memory_requests, args.memory_seconds, args.load_seconds, only)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    info = machine()
    rows = build_table(raw)
    print(markdown(rows))
    if only != set(GROUPS):
        print(json.dumps(raw, indent=1, sort_keys=True))
    elif not args.no_write:
        path = write_results(info, rows, raw, time.perf_counter() - started)
        _progress(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
