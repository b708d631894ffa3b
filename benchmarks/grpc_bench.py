"""Rows 2, 3 and 5: the echo server (the transport floor) and the clients, one per process.

    python -m benchmarks.grpc_bench echo --krt-dir DIR --port P [--response-json J]
    python -m benchmarks.grpc_bench latency --address A --request-file R
    python -m benchmarks.grpc_bench paired --target NAME=A --target NAME=A ... --request-file R
                                          [--http-target NAME=URL --http-body B] [--reps N]
    python -m benchmarks.grpc_bench load --address A --request-file R --concurrency 8 --seconds 5

The echo server serves ``entrypoint.Entrypoint/Inference`` with grpc.aio and the request and
response classes of that rpc compiled from the KRT's ``public_input.proto``: it parses the
request (as ``kedro-krt serve`` does) and answers a fixed response without work (the example's
1-row quote, or ``--response-json``).

``paired`` calls several servers that are up at the same time one after the other, round by
round (the order alternates), so that they see the same machine: p50/p99 of each, and the median
of the per-round differences between each pair (``common.time_interleaved`` over gRPC). HTTP
targets (kedro-boot's FastAPI app, ``benchmarks/boot_http.py``) join the rounds as JSON POSTs
over a keep-alive httpx connection.

The clients send pre-serialised request bytes through a generic stub (no client-side protobuf
work per call) and report their own CPU time, so that a busy client shows in the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format

from benchmarks.common import (
    METHOD,
    RPC,
    SERVICE,
    Timing,
    compile_public_proto,
    emit,
    paired_overhead_ms,
    tree_cpu_seconds,
)

#: The method the clients call (``--method``; the KRT's rpc unless told otherwise).
_method = METHOD


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the echo server ---------------------------------------------------------------------------


#: The echo's answer to the example's rpc: a 1-row quote, as the KRT answers a 1-row request.
EXAMPLE_RESPONSE = (
    '{"quotes": [{"shuttle_id": "SH-90001", "price": 6412.37, "price_band": "standard", '
    '"currency": "EUR"}]}'
)


async def _serve_echo(krt_dir: Path, port: int, response_json: str) -> None:
    # The module is imported (its descriptors are in the pool) before the folder goes: the
    # echo is stopped by SIGTERM, which runs no clean-up.
    with tempfile.TemporaryDirectory(prefix="krt-echo-") as tmp:
        pb2 = compile_public_proto(krt_dir, Path(tmp))
    method = pb2.DESCRIPTOR.services_by_name[SERVICE.rsplit(".", 1)[1]].methods_by_name[RPC]
    request_cls = getattr(pb2, method.input_type.name)
    response = json_format.Parse(response_json, getattr(pb2, method.output_type.name)())

    async def inference(request: Any, context: grpc.aio.ServicerContext) -> Any:
        return response

    handler = grpc.unary_unary_rpc_method_handler(
        inference,
        request_deserializer=request_cls.FromString,
        response_serializer=type(response).SerializeToString,
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {RPC: handler}),)
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"Serving echo on 127.0.0.1:{port}", flush=True)
    await server.wait_for_termination()


# -- the clients -------------------------------------------------------------------------------


def _wait_ready(channel: grpc.Channel, timeout: float = 30.0) -> None:
    grpc.channel_ready_future(channel).result(timeout=timeout)


def latency(address: str, request: bytes, max_iters: int, max_seconds: float) -> dict[str, Any]:
    """Sequential unary calls from one thread: p50 and p99 of the round trip."""
    with grpc.insecure_channel(address) as channel:
        _wait_ready(channel)
        stub = channel.unary_unary(_method)  # bytes in, bytes out
        for _ in range(100):
            stub(request, timeout=30)
        samples: list[float] = []
        clock = time.perf_counter
        deadline = clock() + max_seconds
        cpu0 = _cpu_seconds()
        started = clock()
        while len(samples) < max_iters:
            t0 = clock()
            stub(request, timeout=30)
            t1 = clock()
            samples.append(t1 - t0)
            if t1 > deadline:
                break
        elapsed = clock() - started
        cpu = _cpu_seconds() - cpu0
    timing = Timing(tuple(samples))
    return {
        "p50_ms": timing.pct_ms(0.5),
        "p99_ms": timing.pct_ms(0.99),
        "n": len(samples),
        "client_cpu": cpu / elapsed,
    }


def paired(
    targets: dict[str, str], request: bytes, max_rounds: int, max_seconds: float,
    http_targets: dict[str, str] | None = None, http_body: bytes = b"", reps: int = 1,
    warmup: int = 100, block: int = 1,
) -> dict[str, Any]:
    """Sequential unary calls to several servers, alternating call by call (or block by block).

    Each round calls every server once (the order reverses every other round); p50/p99 per
    server and, for each pair, the median of the per-round differences (later name - earlier
    name, in the order given). With ``block`` > 1, a round calls each server ``block`` times
    in a row after one untimed call: each server is timed as it runs under steady traffic
    (caches warm), not right after five other processes ran (see ``_paired_rounds``).
    ``http_targets`` (name -> URL) are called with ``http_body`` as a JSON POST over one
    keep-alive httpx connection each (kedro-boot's FastAPI app).
    With ``reps``, the rounds are timed ``reps`` times (``max_seconds`` each): ``runs`` holds
    each one's figures, the top level the first one's (and the answers).
    """
    import httpx

    http_targets = http_targets or {}
    names = list(targets) + list(http_targets)
    channels = {n: grpc.insecure_channel(a) for n, a in targets.items()}
    clients = {n: httpx.Client(headers={"content-type": "application/json"})
               for n in http_targets}
    try:
        for channel in channels.values():
            _wait_ready(channel)
        calls: dict[str, Any] = {}
        for n, c in channels.items():
            stub = c.unary_unary(_method)
            calls[n] = lambda stub=stub: stub(request, timeout=30)
        for n, client in clients.items():
            url = http_targets[n]

            def post(client: httpx.Client = client, url: str = url) -> bytes:
                reply = client.post(url, content=http_body, timeout=30)
                reply.raise_for_status()
                return reply.content

            calls[n] = post
        # What each answers (sanity: the same KRT in two modes must answer the same bytes).
        answers = {n: hashlib.sha256(call()).hexdigest()[:16] for n, call in calls.items()}
        replies = {n: calls[n]().decode("utf-8", "replace")[:400] for n in clients}
        for _ in range(warmup):
            for call in calls.values():
                call()
        runs = [_paired_rounds(names, calls, max_rounds, max_seconds, block)
                for _ in range(reps)]
    finally:
        for channel in channels.values():
            channel.close()
        for client in clients.values():
            client.close()
    out = dict(runs[0])
    out.update({"answers": answers, "http_replies": replies, "runs": runs})
    return out


def _paired_rounds(
    names: list[str], calls: dict[str, Any], max_rounds: int, max_seconds: float,
    block: int = 1,
) -> dict[str, Any]:
    """The timed rounds of :func:`paired`.

    Call by call (``block`` 1), each call finds its server's process cold: the servers called
    since its last call (five, in row 2) have had the two cores and their caches. That costs a
    large process (pandas, three KRT nodes) far more than the small echo: on the light
    pipeline, 0.5 ms more on ``serve`` and 0.07 ms on the echo with five servers against two.
    Row 1's node work, which the goals add to the echo, is timed warm. ``block`` calls in a
    row, after an untimed one, time each server warm too; the k-th calls of each block are the
    pairs of the per-round differences.
    """
    samples: dict[str, list[float]] = {n: [] for n in names}
    clock = time.perf_counter
    deadline = clock() + max_seconds
    rounds = 0
    while rounds < max_rounds:
        for name in names if rounds % 2 == 0 else names[::-1]:
            call = calls[name]
            if block > 1:
                call()  # untimed: the first call after another server's block
            for _ in range(block):
                t0 = clock()
                call()
                samples[name].append(clock() - t0)
        rounds += 1
        if clock() > deadline and rounds >= 3:
            break
    out: dict[str, Any] = {"rounds": rounds, "block": block, "servers": {}, "paired_ms": {}}
    for name in names:
        timing = Timing(tuple(samples[name]))
        out["servers"][name] = {"p50_ms": timing.pct_ms(0.5), "p99_ms": timing.pct_ms(0.99)}
    for i, first in enumerate(names):
        for later in names[i + 1:]:
            diff = paired_overhead_ms(Timing(tuple(samples[later])), Timing(tuple(samples[first])))
            out["paired_ms"][f"{later} - {first}"] = diff
    return out


async def _load(
    address: str, request: bytes, concurrency: int, seconds: float, count: int, warmup: int,
    server_pid: int,
) -> dict[str, Any]:
    # One channel (one HTTP/2 connection) per caller, each with its own subchannel pool:
    # with --workers N the kernel spreads connections over the workers (SO_REUSEPORT), never
    # the requests of one connection, so a single shared channel would reach one worker only.
    local = [("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.aio.insecure_channel(address, options=local) for _ in range(concurrency)]
    try:
        await asyncio.gather(*(c.channel_ready() for c in channels))
        stubs = [c.unary_unary(_method) for c in channels]
        for i in range(warmup):
            await stubs[i % concurrency](request, timeout=30)
        done = 0
        errors = 0
        stop_at = time.perf_counter() + seconds

        async def caller(stub: Any) -> None:
            nonlocal done, errors
            while done < count and time.perf_counter() < stop_at:
                done += 1  # claimed before the await, so the total never exceeds count
                try:
                    await stub(request, timeout=30)
                except grpc.RpcError:
                    errors += 1

        server0 = tree_cpu_seconds(server_pid) if server_pid else 0.0
        cpu0 = _cpu_seconds()
        started = time.perf_counter()
        await asyncio.gather(*(caller(stub) for stub in stubs))
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds() - cpu0
        server = (tree_cpu_seconds(server_pid) - server0) if server_pid else 0.0
    finally:
        await asyncio.gather(*(c.close() for c in channels))
    return {
        "requests": done,
        "errors": errors,
        "seconds": elapsed,
        "rps": done / elapsed,
        "client_cpu": cpu / elapsed,
        "server_cpu": server / elapsed,
    }


def main() -> None:
    """Parse the sub-command and run it; clients print a JSON result."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    echo = sub.add_parser("echo")
    echo.add_argument("--krt-dir", type=Path, required=True)
    echo.add_argument("--port", type=int, required=True)
    echo.add_argument("--response-json", default=EXAMPLE_RESPONSE, help="the fixed answer")
    lat = sub.add_parser("latency")
    lat.add_argument("--address", required=True)
    lat.add_argument("--request-file", type=Path, required=True)
    lat.add_argument("--max-iters", type=int, default=3000)
    lat.add_argument("--max-seconds", type=float, default=4.0)
    pair = sub.add_parser("paired")
    pair.add_argument("--target", action="append", required=True, metavar="NAME=ADDRESS")
    pair.add_argument("--request-file", type=Path, required=True)
    pair.add_argument("--max-rounds", type=int, default=3000)
    pair.add_argument("--max-seconds", type=float, default=8.0)
    pair.add_argument("--http-target", action="append", default=[], metavar="NAME=URL")
    pair.add_argument("--http-body", type=Path, default=None, help="JSON body of HTTP calls")
    pair.add_argument("--reps", type=int, default=1)
    pair.add_argument("--warmup", type=int, default=100, help="rounds before timing")
    pair.add_argument("--block", type=int, default=1,
                      help="calls to each server in a row per round (after an untimed one)")
    load = sub.add_parser("load")
    load.add_argument("--address", required=True)
    load.add_argument("--request-file", type=Path, required=True)
    load.add_argument("--concurrency", type=int, default=8)
    load.add_argument("--seconds", type=float, default=5.0)
    load.add_argument("--count", type=int, default=10**9)
    load.add_argument("--warmup", type=int, default=200)
    load.add_argument("--server-pid", type=int, default=0, help="report its CPU (and children)")
    for client in (lat, pair, load):
        client.add_argument("--method", default=METHOD, help="the full method name to call")
    args = parser.parse_args()
    if args.cmd == "echo":
        asyncio.run(_serve_echo(args.krt_dir, args.port, args.response_json))
        return
    global _method
    _method = args.method
    request = args.request_file.read_bytes()
    if args.cmd == "latency":
        emit(latency(args.address, request, args.max_iters, args.max_seconds))
    elif args.cmd == "paired":
        targets = dict(t.split("=", 1) for t in args.target)
        http = dict(t.split("=", 1) for t in args.http_target)
        body = args.http_body.read_bytes() if args.http_body else b""
        emit(paired(targets, request, args.max_rounds, args.max_seconds, http, body, args.reps,
                    args.warmup, args.block))
    else:
        emit(
            asyncio.run(
                _load(
                    args.address, request, args.concurrency, args.seconds, args.count,
                    args.warmup, args.server_pid,
                )
            )
        )


if __name__ == "__main__":
    main()
