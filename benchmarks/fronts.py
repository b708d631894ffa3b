"""Row 10: what the shape of a gRPC front costs, with no work behind it (issue 24).

    python -m benchmarks.fronts [--reps N] [--seconds S] [--load-seconds S]

Four servers of one method (bytes in, the same bytes out, no protobuf), each a process of its
own, up together:

- **aio**: grpc.aio, the handler answers on the server's loop: the echo of row 2, the floor;
- **aio + engine thread**: grpc.aio, the handler hands a coroutine to another thread's event
  loop and awaits its outcome (a ``call_soon_threadsafe`` each way, as ``kedro-krt serve``'s
  engine does for a KRT v1 chain): the shape ``serve`` has, so that a synchronous node cannot
  block health checks and timeouts;
- **sync**: ``grpc.server`` with a thread pool, the pool thread answers;
- **sync, inline**: ``grpc.server``, the pool thread runs the handler coroutine itself (no
  second crossing; a node that blocks holds only its pool thread, but an answer can only leave
  when the node returns: the server's own timeout could not answer for it through grpc's
  public API);
- **sync, callback**: the same, the method registered as a response-streaming handler marked
  ``experimental_non_blocking`` (an attribute grpc's sync server reads, undocumented): the
  answer leaves through a send callback that any thread may call, so a watchdog could answer
  DEADLINE_EXCEEDED (``set_code``, ``set_details``, then the callback with ``None``) while the
  node still runs on its pool thread, and the node's late answer be dropped. Measured without
  the watchdog: each send waits until grpc's completion-queue thread has sent it, a crossing of
  its own, and the message and the status go in two batches (a unary handler's return sends
  them in one).

The client calls them in alternation, in blocks as row 2 does (``grpc_bench._paired_rounds``),
``--reps`` runs; then each is loaded at c=8 in turn (``grpc_bench load``) for its CPU per
request. Reported: each one's p50 / the aio echo's, and CPU per request.

``--krt DIR --request FILE`` (the trivial one-node KRT of row 2) adds **the serving path
without gRPC**, in one process (``path``): ``kedro-krt serve``'s own ``Worker._call`` on the
loaded KRT (the request checked and packed, the chain on the workflow's engine thread, the
answer back), the bare crossing (an empty coroutine handed to that thread and back), and the
chain run inline on the loop, timed call by call in alternation: what of a served call is the
crossing, the node, and the rest of our code.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import statistics
import sys
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import grpc

from benchmarks.common import emit, last_json
from benchmarks.processes import REPO, Server, free_port, run_command, start_server

SERVICE = "bench.Front"
METHOD = f"/{SERVICE}/Call"
KINDS = ("aio", "aio-thread", "sync", "sync-inline", "sync-callback")
LABELS = {
    "aio": "grpc.aio, answered on the loop (the echo)",
    "aio-thread": "grpc.aio, handed to an engine thread's loop and back (serve's shape)",
    "sync": "grpc.server, answered on the pool thread",
    "sync-inline": "grpc.server, the handler coroutine run on the pool thread",
    "sync-callback": "grpc.server, the same, answered through a send callback",
}


async def _handler(data: bytes) -> bytes:
    return data


def _engine_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="engine", daemon=True).start()
    return loop


def _drive(coro: Coroutine[Any, Any, bytes]) -> bytes:
    """Run a coroutine that never suspends (the handler above) to its end, without a loop."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    raise RuntimeError("the handler suspended")


def _register(server: Any, behaviour: Callable[..., Any], streaming: bool = False) -> None:
    if streaming:
        handler = grpc.unary_stream_rpc_method_handler(behaviour)
    else:
        handler = grpc.unary_unary_rpc_method_handler(behaviour)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"Call": handler}),)
    )


async def _serve_aio(kind: str, port: int) -> None:
    server = grpc.aio.server()
    if kind == "aio":
        async def behaviour(request: bytes, context: Any) -> bytes:
            return request
    else:
        engine = _engine_loop()
        caller = asyncio.get_running_loop()

        def start(coro: Coroutine[Any, Any, bytes], answer: asyncio.Future[bytes]) -> None:
            task = engine.create_task(coro)
            task.add_done_callback(
                lambda t: caller.call_soon_threadsafe(answer.set_result, t.result())
            )

        async def behaviour(request: bytes, context: Any) -> bytes:
            answer: asyncio.Future[bytes] = caller.create_future()
            engine.call_soon_threadsafe(start, _handler(request), answer)
            return await answer

    _register(server, behaviour)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"Serving {kind} on 127.0.0.1:{port}", flush=True)
    await server.wait_for_termination()


def _serve_sync(kind: str, port: int) -> None:
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(8))
    if kind == "sync":
        def behaviour(request: bytes, context: Any) -> bytes:
            return request
    elif kind == "sync-inline":
        def behaviour(request: bytes, context: Any) -> bytes:
            return _drive(_handler(request))
    else:
        def callback(request: bytes, context: Any, send: Callable[[Any], None]) -> None:
            lock = threading.Lock()
            answered = False
            result = _drive(_handler(request))
            with lock:  # the watchdog's claim would take the same lock
                if answered:
                    return
                answered = True
            send(result)
            send(None)

        callback.experimental_non_blocking = True  # type: ignore[attr-defined]
        _register(server, callback, streaming=True)
        server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()
        print(f"Serving {kind} on 127.0.0.1:{port}", flush=True)
        server.wait_for_termination()
        return

    _register(server, behaviour)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print(f"Serving {kind} on 127.0.0.1:{port}", flush=True)
    server.wait_for_termination()


def serve(kind: str, port: int) -> None:
    """One front, until killed."""
    if kind.startswith("aio"):
        asyncio.run(_serve_aio(kind, port))
    else:
        _serve_sync(kind, port)


def _bench(*args: str, timeout: float) -> dict[str, Any]:
    return last_json(run_command([sys.executable, "-m", "benchmarks.grpc_bench", *args],
                                 cwd=REPO, timeout=timeout))


def measure(work: Path, reps: int, seconds: float, load_seconds: float,
            krt: Path | None = None, request_file: Path | None = None) -> dict[str, Any]:
    """The four fronts up together: paired p50s (blocks of 20), then CPU per request."""
    request = work / "fronts-request.bin"
    request.write_bytes(b"x" * 40)
    servers: dict[str, Server] = {}
    try:
        for kind in KINDS:
            port = free_port()
            servers[kind] = start_server(
                [sys.executable, "-m", "benchmarks.fronts", "serve", kind, str(port)], port,
                work, f"front-{kind}",
            )
        targets = [x for k, s in servers.items() for x in ("--target", f"{k}={s.address}")]
        lat = _bench("paired", *targets, "--request-file", str(request), "--method", METHOD,
                     "--max-seconds", str(seconds), "--reps", str(reps), "--warmup", "50",
                     "--block", "20", timeout=reps * seconds + 180)
        load: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
        for i in range(2):
            for kind in KINDS if i % 2 == 0 else KINDS[::-1]:
                load[kind].append(_bench(
                    "load", "--address", servers[kind].address, "--request-file", str(request),
                    "--method", METHOD, "--concurrency", "8", "--seconds", str(load_seconds),
                    "--server-pid", str(servers[kind].proc.pid), timeout=load_seconds + 120))
    finally:
        for server in servers.values():
            server.stop()
    out: dict[str, Any] = {"runs": lat["runs"], "load": {}}
    for kind, windows in load.items():
        reqs = sum(w["requests"] for w in windows)
        cpu = sum(w["server_cpu"] * w["seconds"] for w in windows)
        out["load"][kind] = {"cpu_ms_per_request": 1000 * cpu / max(1, reqs),
                             "rps": reqs / sum(w["seconds"] for w in windows)}
    if krt is not None and request_file is not None:
        out["path"] = asyncio.run(_path(krt, request_file, reps, seconds))
    return out


async def _path(krt: Path, request: Path, reps: int, seconds: float) -> dict[str, Any]:
    import gc
    import tempfile
    import time

    from google.protobuf import any_pb2

    from kedro_krt.node.runtime.context_v1 import RequestState
    from kedro_krt.serve.engine import Envelope
    from kedro_krt.serve.loader import prepare_krt
    from kedro_krt.serve.options import ServeOptions
    from kedro_krt.serve.worker import Worker

    with tempfile.TemporaryDirectory(prefix="krt-path-") as tmp:
        work = Path(tmp)
        worker = Worker(prepare_krt(krt, work_dir=work), ServeOptions(port=0, web_port=None),
                        work, reuse_port=False)
        await worker._load_in_process()
        worker.ready = True
        gc.collect()
        gc.freeze()
        engine: Any = worker.engine
        rpc = next(iter(engine.workflows))
        wf = engine.workflows[rpc]
        data = request.read_bytes()
        thread = engine.thread(wf.nodes[0])
        payload = any_pb2.Any(type_url="type.googleapis.com/" + wf.request_type, value=data)

        async def empty() -> None:
            return None

        async def call() -> Any:
            return await worker._call(rpc, data, None)  # type: ignore[arg-type]

        async def crossing() -> Any:
            return await thread.submit(empty())

        async def inline() -> Any:
            envelope = Envelope(tracking_id="bench", payload=payload)
            return await wf._chain(engine, thread, RequestState(None, "bench"), envelope)

        paths = {"call": call, "crossing": crossing, "inline": inline}
        runs = []
        clock = time.perf_counter
        for rep in range(reps + 1):  # the first is the warm-up
            samples: dict[str, list[float]] = {k: [] for k in paths}
            deadline = clock() + seconds
            while clock() < deadline:
                for name, fn in paths.items():
                    t0 = clock()
                    await fn()
                    samples[name].append(clock() - t0)
            if rep:
                runs.append({k: 1e3 * statistics.median(v) for k, v in samples.items()})
        engine.close()
    return {"runs": runs}


def table(r: dict[str, Any]) -> list[tuple[str, ...]]:
    """Rows of ``benchmarks/RESULTS.md``: what, value, floor, ratio, target, result."""
    from benchmarks.spread import ms, spread, times

    runs = r["runs"]
    rows: list[tuple[str, ...]] = []
    echo = [x["servers"]["aio"]["p50_ms"] for x in runs]
    echo_cpu = r["load"]["aio"]["cpu_ms_per_request"]
    for kind in KINDS:
        p50 = [x["servers"][kind]["p50_ms"] for x in runs]
        cpu = r["load"][kind]["cpu_ms_per_request"]
        ratio = [a / b for a, b in zip(p50, echo, strict=True)]
        rows.append((
            "10",
            f"front shape, no work: {LABELS[kind]}: p50; CPU per request at c=8 "
            f"({len(runs)} runs)",
            f"{spread(p50, ms)}; {cpu:.3f} ms",
            "" if kind == "aio" else f"aio echo {statistics.median(echo):.3f} ms; "
            f"{echo_cpu:.3f} ms",
            "" if kind == "aio" else f"{spread(ratio, times)}; {cpu - echo_cpu:+.3f} ms",
            "", "",
        ))
    path = r.get("path")
    if path:
        runs = path["runs"]
        call = [x["call"] for x in runs]
        crossing = [x["crossing"] for x in runs]
        inline = [x["inline"] for x in runs]
        rest = [x["call"] - x["crossing"] - x["inline"] for x in runs]
        rows.append((
            "10",
            f"the serving path without gRPC, trivial 1-node KRT: Worker._call / the bare "
            f"crossing / the chain inline / the rest ({len(runs)} runs)",
            f"{spread(call, ms)} / {spread(crossing, ms)} / {spread(inline, ms)} / "
            f"{spread(rest, ms)}", "", "", "", "",
        ))
    return rows


def main() -> None:
    """``serve KIND PORT`` (one front) or the measurement (prints JSON)."""
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.5)
    parser.add_argument("--load-seconds", type=float, default=2.0)
    parser.add_argument("--krt", type=Path, default=None, help="the trivial KRT's folder")
    parser.add_argument("--request", type=Path, default=None, help="its request's bytes")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    emit(measure(args.work, args.reps, args.seconds, args.load_seconds, args.krt,
                 args.request))


if __name__ == "__main__":
    main()
