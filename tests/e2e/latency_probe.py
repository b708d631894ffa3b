"""p50 latency of a 1-row `Inference` request over gRPC on loopback against `kedro-krt serve`.

Standalone (not a test). The server runs in its own process (`kedro-krt serve X.krt`); this
process is the client: one channel, the request serialised once, 50 warm-up calls, then 500 timed
calls one after another, each timed from send to decoded reply.

    cd example_project && kedro krt package --pipeline inference && cd ..
    KEDRO_DISABLE_TELEMETRY=true .venv/bin/python tests/e2e/latency_probe.py \\
        --krt example_project/dist/shuttle-prices.krt

or against a server already running: `--address 127.0.0.1:9000`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_helpers import ReflectedRpc, ServedKrt

REPO = Path(__file__).resolve().parents[2]


def probe(address: str, warmup: int, count: int) -> list[float]:
    """Milliseconds per call for `count` sequential 1-row calls after `warmup` calls."""
    rpc = ReflectedRpc(address, "Inference")
    body = json.loads((REPO / "example_project" / "requests" / "inference.json").read_text())
    body["shuttles"] = body["shuttles"][:1]
    from google.protobuf import json_format

    data = json_format.ParseDict(body, rpc.request_cls()).SerializeToString()
    for _ in range(warmup):
        rpc.response_cls.FromString(rpc.call_bytes(data))
    times = []
    for _ in range(count):
        start = time.perf_counter_ns()
        rpc.response_cls.FromString(rpc.call_bytes(data))
        times.append((time.perf_counter_ns() - start) / 1e6)
    rpc.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--krt", type=Path, help="serve this .krt (or KRT folder) for the probe")
    parser.add_argument("--address", help="probe a server already running here instead")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args()
    if bool(args.krt) == bool(args.address):
        parser.error("give either --krt or --address")
    server = None
    with tempfile.TemporaryDirectory(prefix="krt-latency-") as tmp:
        try:
            if args.krt:
                server = ServedKrt(args.krt.resolve(), Path(tmp)).wait_serving()
            address = args.address or server.address  # type: ignore[union-attr]
            times = sorted(probe(address, args.warmup, args.count))
        finally:
            if server is not None:
                server.stop()

    def pct(p: float) -> float:
        return times[min(len(times) - 1, int(p / 100 * len(times)))]

    print(
        f"{len(times)} calls of 1 row after {args.warmup} warm-up, {address}: "
        f"p50 {statistics.median(times):.3f} ms, p90 {pct(90):.3f} ms, "
        f"p99 {pct(99):.3f} ms, min {times[0]:.3f} ms, max {times[-1]:.3f} ms"
    )


if __name__ == "__main__":
    main()
