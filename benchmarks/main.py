"""``python -m benchmarks.main``: every row of the benchmark, a table, ``benchmarks/RESULTS.md``.

It prepares a scratch copy of ``example_project`` (generated data, a trained model, a
``grouping: single`` conf env, a bench-only ``boot_inference`` pipeline for kedro-boot, and the
light pipeline of ``benchmarks/light.py`` with its conf envs), packages four KRTs (the example
and the light pipeline, each with 3 nodes and as one node), then runs each measurement in a
process of its own (see ``benchmarks/README.md``). Rows 1, 2 and row 4's 100,000 rows are
measured ``--reps`` times (5) and reported as the median with its spread (``benchmarks/spread.py``).
The end-to-end rows also start kedro-boot's FastAPI app (``benchmarks/boot_http.py``) and build a
trivial one-node KRT by hand (``benchmarks/trivial.py``); the copy-protection rows a
spaceflights-shaped project (``benchmarks/protection.py``); the profile runs py-spy on
``serve --nats`` (``benchmarks/pyspy.py``).
Targets are reported as pass/miss, never asserted. ``--only GROUPS`` runs some rows and prints.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import fronts, hooks, hops, krt_versions, light, spread
from benchmarks.common import compile_public_proto, last_json, one_row_request_json, tree_pids
from benchmarks.processes import (
    BIN,
    REPO,
    Server,
    free_port,
    progress,
    run_command,
    start_krt,
    start_server,
    unpack,
)
from benchmarks.protection import write_flights

HERE = Path(__file__).resolve().parent

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
# bench-only: kedro-boot replaces declared inputs per run, so the request must be declared; a
# pandas dataset, so that its FastAPI path turns the JSON rows into a DataFrame (json_normalize)
inference.shuttles:
  type: pandas.CSVDataset
  filepath: data/01_raw/sample_shuttles.csv
"""

BOOT_PARAMS = """
# bench-only: parameters of the `boot_inference` pipeline (kedro-boot benchmark)
inference:
  clip_negative: true
  markup: 0.1
  currency: EUR
"""


def _measure(module: str, *args: str, timeout: float = 240) -> dict[str, Any]:
    return last_json(
        run_command(
            [sys.executable, "-m", f"benchmarks.{module}", *args], cwd=REPO, timeout=timeout
        )
    )


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
    light.add_to_project(project)
    run_command([sys.executable, "scripts/generate_data.py"], cwd=project)
    run_command([str(BIN / "kedro"), "run", "--pipelines", "training"], cwd=project)
    return project


def package(project: Path, out: str, *extra: str) -> tuple[Path, float]:
    """`kedro krt package` into dist/<out>; the .krt and the wall time."""
    started = time.perf_counter()
    run_command([str(BIN / "kedro"), "krt", "package", *extra, "-o", f"dist/{out}"], cwd=project)
    elapsed = time.perf_counter() - started
    return next((project / "dist" / out).glob("*.krt")), elapsed


# -- servers ------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """VmRSS of a process, in MB (from /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


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


def paired_latency(
    servers: dict[str, Server], request: Path, *, seconds: float, reps: int = 1,
    http: dict[str, str] | None = None, http_body: Path | None = None, warmup: int = 100,
    block: int = 1,
) -> dict[str, Any]:
    """p50/p99 of servers that are up together, called in alternation (one client process),
    ``reps`` times ``seconds``; ``http`` names the servers called over HTTP (name -> path)."""
    http = http or {}
    targets = [a for name, srv in servers.items() if name not in http
               for a in ("--target", f"{name}={srv.address}")]
    for name, path in http.items():
        targets += ["--http-target", f"{name}=http://{servers[name].address}{path}"]
    if http_body is not None:
        targets += ["--http-body", str(http_body)]
    return _measure(
        "grpc_bench", "paired", *targets, "--request-file", str(request),
        "--max-seconds", str(seconds), "--reps", str(reps), "--warmup", str(warmup),
        "--block", str(block),
        timeout=reps * seconds + 180,
    )


def start_boot_http(project: Path, pipeline: str, work: Path, name: str) -> Server:
    """kedro-boot's FastAPI app on the pipeline, under uvicorn (``benchmarks/boot_http.py``)."""
    port = free_port()
    cmd = [sys.executable, "-m", "benchmarks.boot_http", "--project", str(project),
           "--pipeline", pipeline, "--port", str(port)]
    return start_server(cmd, port, work, name)


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
    rows += spread.table_inproc(r)
    rows += spread.table_e2e(r)
    if "hops" in r:
        rows += hops.table(r["hops"])
    if "profile" in r:
        rows += _table_profile(r["profile"])
    if "load_w1" in r:
        rows += _table_load(r)
    rows += spread.table_cpu(r)
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
    if "krt_versions" in r:
        rows += krt_versions.table(r["krt_versions"])
    if "hooks" in r:
        rows += hooks.table(r["hooks"])
    if "fronts" in r:
        rows += fronts.table(r["fronts"])
    return rows


def _table_profile(p: dict[str, Any]) -> Rows:
    """The busiest frames of the ``--nats`` front and runners (py-spy, share of busy samples)."""
    rows: Rows = []
    client = p.get("client", {})
    for name, x in p.items():
        if name == "client":
            continue
        if "self" not in x:
            rows.append(("2", f"profile, serve --nats (light, 3 nodes): {name}",
                         str(x.get("error", "no busy samples")), "", "", "", ""))
            continue
        top = "; ".join(f"{fn} {pct} %" for fn, pct in x["self"][:4])
        rows.append(("2", f"profile, serve --nats (light, 3 nodes), py-spy: {name}, top self "
                     f"frames (% of busy samples; idle {x['idle_pct']} %)", top,
                     "", "", "", ""))
    if client:
        rows.append(("2", "profile: the calls during the profile (sequential, light)",
                     f"{client.get('n')} calls, p50 {client.get('p50_ms', 0):.3f} ms", "", "", "",
                     ""))
    return rows


def _table_load(r: dict[str, Any]) -> Rows:
    rows: Rows = []
    w1, w2, we = r["load_w1"], r["load_w2"], r["load_echo"]
    rows.append(("3", "example: throughput c=8, --workers 1 (3 nodes)", _load_cell(w1),
                 f"echo {_load_cell(we)}", "", "", ""))
    rows.append(("3", "example: throughput c=8, --workers 2 (3 nodes)", _load_cell(w2), "", "",
                 "", ""))
    rows.append(("3", "example: 2 workers / 1 worker", f"{w2['rps'] / w1['rps']:.2f}x", "", "",
                 ">= 1.7x", verdict(w2["rps"] >= 1.7 * w1["rps"])))
    return rows


def _table_nats_load(r: dict[str, Any]) -> Rows:
    """Row 3 of ``serve --nats`` on each pipeline: its throughput against ``--workers 1``,
    measured in alternating windows (``load_nats``, ``load_nats_light``)."""
    rows: Rows = []
    for suffix, label in spread.PIPELINES:
        ln = r.get(f"load_nats{suffix}")
        if not ln:
            continue
        inproc, nats = ln["in-process"], ln["nats"]
        windows = len(nats["windows_rps"])
        errors = inproc["errors"] + nats["errors"]
        ratio = nats["rps"] / inproc["rps"]
        # Issue 24: on the light pipeline (no work to hide the hops) --nats serves at least
        # what one in-process worker serves.
        target, result = (">= 1.0x", verdict(ratio >= 1.0)) if suffix == "_light" else ("", "")
        rows += [
            ("3", f"{label}: throughput c=8, --nats, 3 nodes ({windows} alternating windows)",
             _load_cell(nats), f"--workers 1: {_load_cell(inproc)}", f"{ratio:.2f}x", target,
             result),
            ("3", f"{label}:   per window, --nats / --workers 1 (req/s)",
             f"{' '.join(f'{x:.0f}' for x in nats['windows_rps'])} / "
             f"{' '.join(f'{x:.0f}' for x in inproc['windows_rps'])}; errors {errors}",
             "", "", "", ""),
        ]
    return rows


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
            "", "",
        ))
    return rows + spread.table_payload_bulk(r)


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
    rows.append(("6", "kedro krt package (example 3 nodes / single; light 3 nodes)",
                 f"{c['package_namespace_s']:.2f} s / {c['package_single_s']:.2f} s; "
                 f"{c.get('package_light_s', float('nan')):.2f} s", "", "", "", ""))
    if "serving_w1_s" in c:
        single = c.get("serving_single_s")
        rows.append(("6", "serve start -> SERVING (workers 1 / 2; single)",
                     f"{c['serving_w1_s']:.2f} s / {c['serving_w2_s']:.2f} s; "
                     + (f"{single:.2f} s" if single else "n/a"),
                     f"echo {c['serving_echo_s']:.2f} s", "", "", ""))
    if "serving_boot_http_s" in c:
        rows.append(("6", "kedro-boot FastAPI start -> listening (example; light)",
                     f"{c['serving_boot_http_s']:.2f} s; "
                     f"{c.get('serving_boot_http_light_s', float('nan')):.2f} s", "", "", "", ""))
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


#: Groups of rows ``--only`` can pick; the default runs them all (``profile``: py-spy of
#: ``serve --nats`` under sequential calls; ``versions``: row 8, KRT v1 against KRT v2,
#: ``benchmarks/krt_versions.py``; ``hooks``: row 9, Kedro's hooks per node,
#: ``benchmarks/hooks.py``; ``hops``: row 2's hop floor, bare nats-py forwarders against our
#: runners, ``benchmarks/hops.py``; ``fronts``: row 10, what each shape of gRPC front costs
#: with no work, ``benchmarks/fronts.py``).
GROUPS = (
    "inproc", "payload", "serve", "nats", "hops", "copies", "profile", "versions", "hooks",
    "fronts",
)
OPTIONAL_GROUPS: tuple[str, ...] = ()

#: How many times each ratio is measured (rows 1, 2 and 4's 100,000 rows).
REPS = 5


def run_all(
    work: Path, memory_requests: int, memory_seconds: float, load_seconds: float,
    only: frozenset[str] = frozenset(GROUPS), reps: int = REPS,
) -> dict[str, Any]:
    """Every measurement (of the groups in ``only``), one server loaded at a time.

    Servers are started one after the other; only the paired rows keep several of them up
    together, and even there one request is in flight at a time (or, for throughput, one
    server is loaded at a time).
    """
    r: dict[str, Any] = {}
    progress("preparing the project copy (data, training, the light pipeline)")
    project = prepare_project(work)
    progress("packaging the KRTs (example: 3 nodes, single; light: 3 nodes, single)")
    krt_ns, t_ns = package(project, "namespace", "--pipeline", "inference")
    krt_single, t_single = package(project, "single", "--env", "single")
    krt_light, t_light = package(project, "light", "--env", "light")
    krt_light_single, _ = package(project, "light-single", "--env", "light-single")
    dir_ns = unpack(krt_ns, work / "krt-namespace")
    dir_single = unpack(krt_single, work / "krt-single")
    dir_light = unpack(krt_light, work / "krt-light")
    krts = {"example": (krt_ns, krt_single, dir_ns),
            "light": (krt_light, krt_light_single, dir_light)}
    cold: dict[str, float] = {"package_namespace_s": t_ns, "package_single_s": t_single,
                              "package_light_s": t_light}
    rep_args = ("--reps", str(reps))

    if "inproc" in only:
        # kedro-boot's session.run joins the 3-node loops (--with-boot): each run times the
        # floor, our handlers, our engine and kedro-boot call by call in one process.
        for key, krt_dir, pipe, secs, boot in (
            ("krt_namespace", dir_ns, "inference", 6.0, ("--with-boot",)),
            ("krt_single", dir_single, "inference", 3.0, ()),
            ("krt_namespace_light", dir_light, "light", 2.0, ("--with-boot",)),
        ):
            progress(f"row 1: handlers and the floor ({key}{' and kedro-boot' if boot else ''}, "
                      f"{reps} runs)")
            r[key] = _measure("inproc", "krt", "--krt-dir", str(krt_dir), "--project",
                              str(project), "--pipeline", pipe, *rep_args, "--seconds",
                              str(secs), *boot)
        progress(f"row 1: where the light pipeline's time above the floor goes ({reps} runs)")
        r["breakdown_light"] = _measure("breakdown", "--krt-dir", str(dir_light), "--project",
                                        str(project), "--pipeline", "light", *rep_args,
                                        "--seconds", "2")
        progress("row 1: KedroSession per request")
        r["naive"] = _measure("inproc", "naive", "--project", str(project))

    if "copies" in only:
        copies_rows(r, work, project, dir_ns, dir_single)

    if "payload" in only:
        progress(f"row 4: payload scaling ({reps} runs at 100,000 rows)")
        r["payload"] = _measure("payload", "--node-dir", str(dir_single / "src" / "inference"),
                                *rep_args, timeout=600)
        bulk = {"rows": r["payload"].pop("bulk")}
        columns = columnar_krt(project, work)
        if isinstance(columns, Path):
            progress(f"row 4: 100,000 rows in the columns layout ({reps} runs)")
            bulk["columns"] = _measure("payload", "--node-dir", str(columns / "src" / "inference"),
                                       *rep_args, "--bulk-only", timeout=600)["bulk"]
        else:
            bulk["columns"] = {"unavailable": columns}
        r["payload"]["bulk"] = bulk

    # The request bytes, built with the classes compiled from the KRT's public proto (the
    # light KRTs take the same request message: the example's shuttles table).
    from google.protobuf import json_format

    pb2 = compile_public_proto(dir_ns, work / "pb2")
    request = work / "request.bin"
    request.write_bytes(
        json_format.Parse(one_row_request_json(project), pb2.InferenceRequest())
        .SerializeToString()
    )
    body = work / "request-body.json"
    body.write_text(json.dumps(json.loads(one_row_request_json(project))["shuttles"]),
                    encoding="utf-8")

    if "serve" in only:
        serve_rows(r, cold, work, krt_ns, dir_ns, request, memory_requests,
                   memory_seconds, load_seconds)
        cpu_rows(r, work, krt_light, dir_light, request, load_seconds, reps)
    if "nats" in only:
        nats_rows(r, cold, work, project, krts, request, body, load_seconds, reps)
    if "hops" in only:
        progress(f"row 2: the JetStream hop, bare nats-py forwarders / our runners ({reps} runs)")
        r["hops"] = _measure("hops", "measure", *rep_args, "--seconds", "4", timeout=600)
    if "profile" in only:
        r["profile"] = profile_nats(work, krt_light, request)
    if "versions" in only:
        progress("row 8: KRT v1 against KRT v2 (the example; two branches joined)")
        r["krt_versions"] = _measure(
            "krt_versions", "--project", str(project), "--work", str(work / "krt-versions"),
            timeout=900,
        )
    if "hooks" in only:
        progress(f"row 9: Kedro's hooks per node per message ({reps} runs)")
        r["hooks"] = _measure("hooks", *rep_args, "--seconds", "2")
    if "fronts" in only:
        progress(f"row 10: the shapes of a gRPC front, no work ({reps} runs)")
        trivial = _measure("trivial", "--dest", str(work / "trivial-fronts"))
        r["fronts"] = _measure("fronts", "--work", str(work / "fronts"), *rep_args, "--krt",
                               trivial["krt_dir"], "--request", trivial["request_file"])
    r["cold"] = cold
    return r


def copies_rows(
    r: dict[str, Any], work: Path, project: Path, dir_ns: Path, dir_single: Path
) -> None:
    """Row 7: the spaceflights-shaped project packaged as it is and with every dataset in
    ``assign``, Kedro's replies to the same requests, then the example's two KRTs."""
    progress("row 7: the spaceflights-shaped project, packaged protected and all-assign")
    dirs = {}
    for name, assign in (("flights", False), ("flights-assign", True)):
        proj = write_flights(work / name, assign=assign)
        krt, _ = package(proj, "krt", "--pipeline", "flights")
        dirs[name] = unpack(krt, work / f"krt-{name}")
    expect = work / "flights-expected.json"
    expect.write_text(json.dumps(_measure("protection", "expect", "--project",
                                          str(work / "flights"))), encoding="utf-8")
    progress("row 7: protected against all-assign (handlers, calls, CallLists)")
    r["protection_flights"] = _measure(
        "protection", "flights", "--protected", str(dirs["flights"]), "--assign",
        str(dirs["flights-assign"]), "--expect", str(expect),
    )
    progress("row 7: the example (3 nodes, single), protected against an unprotected CallList")
    for key, krt_dir in (("protection_namespace", dir_ns), ("protection_single", dir_single)):
        r[key] = _measure("protection", "example", "--krt-dir", str(krt_dir), "--project",
                          str(project))


def serve_rows(
    r: dict[str, Any], cold: dict[str, float], work: Path, krt_ns: Path,
    dir_ns: Path, request: Path, memory_requests: int, memory_seconds: float,
    load_seconds: float,
) -> None:
    """Rows 3, 5 and 6 of the in-process server (the example), and the echo's throughput.

    Its latency rows (row 2) are measured paired, with the other servers, in ``nats_rows``.
    """
    progress("rows 3, 5, 6: kedro-krt serve --workers 1 (3 nodes)")
    server = start_krt(krt_ns, 1, work, "serve-w1")
    try:
        cold["serving_w1_s"] = server.ready_s
        rss_ready = rss_mb(server.proc.pid)
        r["load_w1"] = load(server, request, seconds=load_seconds)
        rss_before = rss_mb(server.proc.pid)
        mem = load(server, request, seconds=memory_seconds, count=memory_requests)
        r["memory"] = {
            "requests": mem["requests"], "errors": mem["errors"], "rss_ready_mb": rss_ready,
            "rss_before_mb": rss_before, "rss_after_mb": rss_mb(server.proc.pid),
        }
    finally:
        server.stop()

    progress("row 3: kedro-krt serve --workers 2")
    server = start_krt(krt_ns, 2, work, "serve-w2")
    try:
        cold["serving_w2_s"] = server.ready_s
        r["load_w2"] = load(server, request, seconds=load_seconds)
    finally:
        server.stop()

    progress("row 3: the echo server")
    server = start_echo(dir_ns, work)
    try:
        cold["serving_echo_s"] = server.ready_s
        r["load_echo"] = load(server, request, seconds=load_seconds)
    finally:
        server.stop()


def cpu_rows(
    r: dict[str, Any], work: Path, krt_light: Path, dir_light: Path, request: Path,
    load_seconds: float, reps: int,
) -> None:
    """Row 3, light pipeline: the server's CPU per request at c=8, ``--workers 1`` (3 nodes),
    against an echo of the same messages, in alternating windows (``reps`` pairs, the order
    reversed every other pair); the target adds row 1's node work (``spread.table_cpu``)."""
    progress(f"row 3: the light pipeline, server CPU per request at c=8 against the echo "
             f"({reps} runs)")
    servers: dict[str, Server] = {}
    seconds = min(load_seconds, 3.0)
    try:
        servers["in-process"] = start_krt(krt_light, 1, work, "serve-light-cpu")
        servers["echo"] = start_echo(dir_light, work, "echo-light-cpu", LIGHT_ECHO)
        runs = []
        for i in range(reps):
            names = ("in-process", "echo") if i % 2 == 0 else ("echo", "in-process")
            runs.append({name: load(servers[name], request, seconds=seconds) for name in names})
        r["cpu_light"] = {"runs": runs}
    finally:
        _stop_all(servers)


def _stop_all(servers: dict[str, Server]) -> None:
    for server in servers.values():
        server.stop()


def nats_rows(
    r: dict[str, Any], cold: dict[str, float], work: Path, project: Path,
    krts: dict[str, tuple[Path, Path, Path]], request: Path, body: Path,
    load_seconds: float, reps: int,
) -> None:
    """Row 2 end to end, and rows 3, 5 and 6 of ``serve --nats``.

    The trivial one-node KRT: echo / in-process / ``--nats``. Then each pipeline (the example,
    the light one): an echo of the same messages, ``serve`` and ``serve --nats`` of its 3-node
    and single KRTs, and kedro-boot's FastAPI app, all up together and called in alternation
    (``grpc_bench paired``, ``reps`` runs). Then, on the same servers, each pipeline's
    throughput in alternating windows, ``--nats`` (3 nodes) against ``--workers 1``.
    """
    progress(f"row 2: the trivial one-node KRT, echo / in-process / --nats ({reps} runs)")
    trivial = _measure("trivial", "--dest", str(work / "trivial"))
    triv_dir = Path(trivial["krt_dir"])
    servers: dict[str, Server] = {}
    try:
        servers["echo"] = start_echo(triv_dir, work, "echo-trivial", trivial["response_json"])
        servers["in-process"] = start_krt(triv_dir, 1, work, "serve-trivial")
        servers["nats"] = start_krt(triv_dir, 1, work, "serve-trivial-nats", nats=True)
        cold["serving_trivial_s"] = servers["in-process"].ready_s
        cold["serving_trivial_nats_s"] = servers["nats"].ready_s
        r["nats_trivial"] = paired_latency(servers, Path(trivial["request_file"]), seconds=1.5,
                                           reps=reps, block=E2E_BLOCK)
    finally:
        _stop_all(servers)

    # Both pipelines run the same six servers, so that each gives the per-hop cost of --nats
    # (3 nodes against single, same rounds). The example's rounds are long (its functions take
    # 6 to 19 ms on each of five KRT servers, 100 to 130 ms a round): fewer warm-up rounds,
    # longer runs (45 to 60 rounds each).
    for label, suffix, pipe, echo_json, secs, warmup in (
        ("example", "", "inference", "", 6.0, 5),
        ("light", "_light", "light", LIGHT_ECHO, 2.0, 20),
    ):
        krt, krt_single, krt_dir = krts[label]
        progress(f"row 2: the {label} pipeline: echo / serve (3 nodes, single) / --nats (3 "
                  f"nodes, single) / kedro-boot FastAPI ({reps} runs)")
        servers = {}
        try:
            servers["echo"] = start_echo(krt_dir, work, f"echo{suffix}", echo_json)
            servers["in-process"] = start_krt(krt, 1, work, f"serve{suffix}")
            servers["in-process-single"] = start_krt(krt_single, 1, work, f"serve-single{suffix}")
            servers["nats"] = start_krt(krt, 1, work, f"serve-nats{suffix}", nats=True)
            servers["nats-single"] = start_krt(krt_single, 1, work,
                                               f"serve-nats-single{suffix}", nats=True)
            servers["boot-http"] = start_boot_http(project, pipe, work, f"boot-http{suffix}")
            cold[f"serving_nats{suffix}_s"] = servers["nats"].ready_s
            cold[f"serving_nats_single{suffix}_s"] = servers["nats-single"].ready_s
            cold[f"serving_w1_nats_row{suffix}_s"] = servers["in-process"].ready_s
            cold[f"serving_single{suffix}_s"] = servers["in-process-single"].ready_s
            cold[f"serving_boot_http{suffix}_s"] = servers["boot-http"].ready_s
            if not suffix:
                r["nats_rss"] = {
                    "in-process": tree_rss_mb(servers["in-process"].proc.pid),
                    "nats": tree_rss_mb(servers["nats"].proc.pid),
                    "nats_processes": len(tree_pids(servers["nats"].proc.pid)),
                    "boot-http": rss_mb(servers["boot-http"].proc.pid),
                }
            r[f"e2e{suffix}"] = paired_latency(
                servers, request, seconds=secs, reps=reps,
                http={"boot-http": f"/{BOOT_NAMESPACE[pipe]}"}, http_body=body, warmup=warmup,
                block=E2E_BLOCK,
            )
            if suffix:
                # The same servers called call by call, as row 2 was timed before blocks: what
                # a cold process costs each (reported beside, judged nowhere).
                r[f"e2e{suffix}_cold"] = paired_latency(
                    servers, request, seconds=secs, reps=reps,
                    http={"boot-http": f"/{BOOT_NAMESPACE[pipe]}"}, http_body=body, warmup=20,
                )
            # Only the loaded server works; the others of the group are up and idle.
            progress(f"row 3 (--nats): the {label} pipeline, throughput c=8, alternating "
                      "windows")
            r[f"load_nats{suffix}"] = alternate_load(
                {"in-process": servers["in-process"], "nats": servers["nats"]}, request,
                seconds=load_seconds,
            )
        finally:
            _stop_all(servers)


#: Row 2's servers are called in blocks of this many calls each (after an untimed one), round
#: after round: each is timed warm, as under steady traffic and as row 1 times the node work
#: that the goals add to the echo (``grpc_bench._paired_rounds``).
E2E_BLOCK = 20

#: The echo's answer on the light pipeline: the light KRT's 1-row reply.
LIGHT_ECHO = '{"quotes": [{"price": 1.5}]}'

#: kedro-boot's namespace (the FastAPI route) per pipeline (``benchmarks/boot_http.py``).
BOOT_NAMESPACE = {"inference": "inference", "light": "light"}

#: conf/columns/krt.yml: the single-node KRT with both tables in the columns layout.
COLUMNS_KRT_YML = """\
workflows:
  - name: inference
    pipeline: inference
    grouping: single
layout:
  etl.shuttles: columns
  output.quotes: columns
"""


def columnar_krt(project: Path, work: Path) -> Path | str:
    """The example's single-node KRT with ``layout: columns`` on its tables, unpacked; or why
    not (the layout is checked in ``kedro_krt/compiler/config.py``: a kedro-krt without it
    refuses the key)."""
    from kedro_krt.compiler import config

    if "layout" not in getattr(config, "__dict__", {}) and "layout" not in Path(
        config.__file__
    ).read_text(encoding="utf-8"):
        return "this kedro-krt has no `layout:` key in krt.yml"
    env = project / "conf" / "columns"
    env.mkdir(exist_ok=True)
    (env / "krt.yml").write_text(COLUMNS_KRT_YML, encoding="utf-8")
    (env / "README.md").write_text("Bench-only conf env: tables in the columns layout.\n",
                                   encoding="utf-8")
    try:
        krt, _ = package(project, "columns", "--env", "columns")
    except RuntimeError as exc:
        return f"kedro krt package --env columns failed: {str(exc).splitlines()[-1][:200]}"
    return unpack(krt, work / "krt-columns")


def profile_nats(work: Path, krt: Path, request: Path, seconds: float = 8.0) -> dict[str, Any]:
    """py-spy of ``serve --nats`` (the light KRT, 3 nodes) under sequential calls: the front
    and each runner, sampled for ``seconds``; the busiest frames of each (``benchmarks/pyspy.py``).
    """
    from benchmarks.pyspy import record, summarise

    progress("profile: py-spy of serve --nats (light, 3 nodes): the front and the runners")
    server = start_krt(krt, 1, work, "serve-nats-profile", nats=True)
    out: dict[str, Any] = {}
    try:
        procs = record(server.proc.pid, work / "pyspy", seconds, BIN / "py-spy")
        client = _measure("grpc_bench", "latency", "--address", server.address,
                          "--request-file", str(request), "--max-seconds", str(seconds + 2),
                          "--max-iters", "1000000", timeout=seconds + 120)
        for name, (proc, path) in procs.items():
            proc.wait(timeout=seconds + 60)
            out[name] = summarise(path)
        out["client"] = client
    finally:
        server.stop()
    return out


def main() -> None:
    """Run everything, print the table, write RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: tmp)")
    parser.add_argument("--memory-requests", type=int, default=20_000)
    parser.add_argument("--memory-seconds", type=float, default=330.0, help="cap of row 5")
    parser.add_argument("--load-seconds", type=float, default=5.0)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--reps", type=int, default=REPS, help="runs of each ratio")
    parser.add_argument(
        "--only", default=",".join(GROUPS), metavar="GROUPS",
        help=f"comma-separated groups of rows to run, of {', '.join(GROUPS)} (default: all; "
        "anything less prints only, RESULTS.md is written by full runs)",
    )
    args = parser.parse_args()
    only = frozenset(g.strip() for g in args.only.split(",") if g.strip())
    if not only or only - set(GROUPS) - set(OPTIONAL_GROUPS):
        parser.error(f"--only takes groups among {', '.join(GROUPS + OPTIONAL_GROUPS)}, got "
                     f"{args.only!r}")
    started = time.perf_counter()
    work = args.work or Path(tempfile.mkdtemp(prefix="kedro-krt-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        raw = run_all(work, args.memory_requests, args.memory_seconds, args.load_seconds, only,
                      args.reps)
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
        progress(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
