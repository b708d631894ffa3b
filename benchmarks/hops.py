"""The JetStream hop of ``serve --nats`` against its floor (issue 24).

One nats-server (JetStream, 127.0.0.1) and two chains of three processes each, up together:

- **the floor**: three bare nats-py forwarders (``python -m benchmarks.hops forward``): a
  JetStream push consumer with the runner's settings (durable, queue group, deliver new,
  explicit ack, ack wait 22 h); per message: ack, then a JetStream publish of the same bytes to
  the next subject. No envelope, no handler, no tracking, no measurement, no log;
- **ours**: three ``python -m kedro_krt.node.runner`` processes (KRT v1), each running a node
  whose handler unpacks its ``Any`` and returns the message (the least a node does), with the
  environment KRE gives a node pod. Its elapsed-time points go to InfluxDB's write API over
  HTTP, answered here by a sink that accepts every write (``--stores kre``, the default), or to
  the local JSON-lines files of ``serve --nats`` (``--stores local``).

``--runner-path DIR`` adds a third chain: the same runners imported from another checkout
(``PYTHONPATH=DIR``), for an A/B of runner code in one run. The two runner chains swap roles
halfway: for the first half of the runs ours is started first, on the stream ``hops-runner1``,
and the other on ``hops-runner2``; then both are stopped, their streams deleted, and they are
started again the other way round for the second half (``--reps`` rounded up to even), so
nothing that goes with a chain's place (start order, stream, subjects, consumers) can favour
one runner's code.

The client publishes a ``KreNatsMessage`` (with the entrypoint's tracking entry) to each
chain's first subject in turn, one message in flight, and waits for it on the chain's
``entrypoint`` subject: 4 hops (client -> 1 -> 2 -> 3 -> client). Every round starts with the
floor, then the runner chains, whose order is reversed every other round (:func:`round_orders`):
so no chain is ever called twice in a row, and in an A/B each runner chain follows the floor in
half of the rounds and the other runner chain in the other half. A chain called right after
itself finds its three processes hot and costs less: 15 to 20 % off the hop, and less CPU. The
order reversed whole every other round, as before, gave that to the chains at both ends of the
order and never to the one in the middle, so an A/A of two identical runner chains came out
about 0.04 ms of CPU per node message and 1.02x per hop against the middle one.

Per run: each chain's median round trip / 4 (the hop), the median of the per-round ratios to
the floor (and, in an A/B, of ours to the ``--runner-path`` chain), and each chain's CPU per
node message (``/proc/<pid>/stat`` of its three processes over the run, divided by 3 x the
messages).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
NODES = 3
HOPS = NODES + 1
#: Calls to each chain in a row per round (after an untimed one), as row 2 times its servers.
BLOCK = 10
ACK_WAIT_S = 22 * 3600
#: The node every runner of the chain runs: unpack, return (as the trivial KRT's echo).
MAIN_PY = '''\
from google.protobuf import wrappers_pb2


async def handler(ctx, data):
    msg = wrappers_pb2.StringValue()
    if not data.Unpack(msg):
        raise ValueError("not a StringValue")
    return msg
'''


# -- the floor: a bare forwarder ------------------------------------------------------------------


async def forward(url: str, stream: str, subject_in: str, subject_out: str, name: str) -> None:
    """Consume ``subject_in``, ack, publish the same bytes to ``subject_out``; until killed."""
    import nats
    from nats.js.api import ConsumerConfig, DeliverPolicy

    nc = await nats.connect(url, name=name)
    js = nc.jetstream()

    async def on_message(msg: Any) -> None:
        await msg.ack()
        await js.publish(subject_out, msg.data, stream=stream)

    await js.subscribe(
        subject_in, stream=stream, queue=name, durable=name, cb=on_message, manual_ack=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW, ack_wait=ACK_WAIT_S),
    )
    print("subscribed", flush=True)
    await asyncio.Event().wait()


# -- an InfluxDB write API that accepts everything -------------------------------------------------


class _InfluxSink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as InfluxDB answers
    points = 0

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        _InfluxSink.points += body.count(b"\n") + 1 if body else 0
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def influx_sink() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _InfluxSink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# -- the chains ----------------------------------------------------------------------------------


def cpu_s(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


class Chain:
    """Three processes between ``<stream>.n1`` and ``<stream>.entrypoint``."""

    def __init__(self, name: str, kind: str, pythonpath: str = "") -> None:
        self.name = name
        self.kind = kind  # "bare" or "runner"
        self.pythonpath = pythonpath
        self.stream = f"hops-{name}"
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def first(self) -> str:
        return f"{self.stream}.n1"

    @property
    def answers(self) -> str:
        return f"{self.stream}.entrypoint"

    def start(self, url: str, work: Path, krt: Path, stores: dict[str, str]) -> None:
        host_port = url.removeprefix("nats://")
        for i in range(1, NODES + 1):
            out = self.answers if i == NODES else f"{self.stream}.n{i + 1}"
            env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true",
                   "PYTHONDONTWRITEBYTECODE": "1"}
            if self.pythonpath:
                env["PYTHONPATH"] = self.pythonpath
            if self.kind == "bare":
                env["PYTHONPATH"] = str(REPO)
                cmd = [sys.executable, "-m", "benchmarks.hops", "forward", "--url", url,
                       "--stream", self.stream, "--input", f"{self.stream}.n{i}", "--output",
                       out, "--name", f"{self.name}-n{i}"]
            else:
                cmd = [sys.executable, "-m", "kedro_krt.node.runner"]
                env.update({
                    "KRT_VERSION": "hops", "KRT_VERSION_ID": "hops", "KRT_RUNTIME_ID": "local",
                    "KRT_WORKFLOW_NAME": "w", "KRT_NODE_NAME": f"n{i}",
                    "KRT_BASE_PATH": str(krt), "KRT_HANDLER_PATH": "src/echo/main.py",
                    "KRT_NATS_SERVER": host_port, "KRT_NATS_STREAM": self.stream,
                    "KRT_NATS_INPUT": f"{self.stream}.n{i}", "KRT_NATS_OUTPUT": out,
                    "KRT_NATS_ENTRYPOINT_SUBJECT": self.answers,
                    "KRT_NATS_MONGO_WRITER": "mongo_writer_data.local",
                    "KRT_IS_LAST_NODE": "true" if i == NODES else "false",
                    **stores,
                })
            log = (work / f"{self.name}-n{i}.log").open("ab")
            self.procs.append(subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(work),
                start_new_session=True,
            ))

    def cpu(self) -> tuple[float, float]:
        """User and system CPU seconds of the chain's processes so far."""
        times = [cpu_s(p.pid) for p in self.procs]
        return sum(t[0] for t in times), sum(t[1] for t in times)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []


async def _add_streams(js: Any, chains: list[Chain]) -> None:
    from nats.js.api import RetentionPolicy, StreamConfig

    for chain in chains:
        await js.add_stream(StreamConfig(
            name=chain.stream, subjects=[f"{chain.stream}.*"],
            retention=RetentionPolicy.INTEREST,
        ))


async def _wait_bound(js: Any, chains: list[Chain], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    for chain in chains:
        while True:
            infos = await js.consumers_info(chain.stream)
            if len(infos) >= NODES:
                break
            for p in chain.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{chain.name}: a process exited ({p.returncode})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{chain.name}: not subscribed within {timeout} s")
            await asyncio.sleep(0.1)


def request_bytes() -> bytes:
    from google.protobuf import wrappers_pb2

    from kedro_krt.node.runner.envelope_v1 import KreNatsMessage
    from kedro_krt.node.runner.node_base import utcnow

    msg = KreNatsMessage(tracking_id="t", reply="r")
    now = utcnow().isoformat()
    msg.tracking.add(node_name="entrypoint", start=now, end=now)
    msg.payload.Pack(wrappers_pb2.StringValue(value="ping"))
    return bytes(msg.SerializeToString())


def round_orders(chains: list[Chain]) -> tuple[list[Chain], list[Chain]]:
    """The call orders of even and odd rounds: the floor first, then the runner chains, their
    order reversed in odd rounds.

    No chain is called twice in a row (the last of a round is a runner chain, the first of the
    next is the floor), and with two runner chains each follows the floor in one of the two
    orders and the other runner chain in the other.
    """
    return chains, chains[:1] + chains[:0:-1]


async def measure(
    url: str, chains: list[Chain], *, reps: int, seconds: float, warmup: int, block: int = 1,
) -> list[dict[str, Any]]:
    """``reps`` runs of ``seconds``: rounds of calls (:func:`round_orders`), each chain called
    ``block`` times in a row per round, after an untimed call when ``block`` > 1 (then each
    chain is timed warm, as a runner that takes message after message; call by call, each call
    found its chain's processes cold after the other chain's, which costs our larger runner
    more than the bare forwarder)."""
    import nats
    from nats.js.api import ConsumerConfig, DeliverPolicy

    nc = await nats.connect(url, name="hops-client")
    js = nc.jetstream()
    waiting: dict[str, asyncio.Future[bytes]] = {}

    def on_answer(chain: Chain) -> Any:
        async def cb(msg: Any) -> None:
            await msg.ack()
            fut = waiting.pop(chain.name, None)
            if fut is not None and not fut.done():
                fut.set_result(msg.data)
        return cb

    for chain in chains:
        await js.subscribe(
            chain.answers, stream=chain.stream, durable=f"{chain.stream}-client",
            cb=on_answer(chain), manual_ack=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW, ack_wait=ACK_WAIT_S),
        )
    data = request_bytes()
    loop = asyncio.get_running_loop()

    async def call(chain: Chain) -> float:
        fut: asyncio.Future[bytes] = loop.create_future()
        waiting[chain.name] = fut
        t0 = time.perf_counter()
        await js.publish(chain.first, data, stream=chain.stream)
        await asyncio.wait_for(fut, 10)
        return time.perf_counter() - t0

    orders = round_orders(chains)
    for rnd in range(warmup):
        for chain in orders[rnd % 2]:
            await call(chain)
    runs = []
    for _ in range(reps):
        rtts: dict[str, list[float]] = {c.name: [] for c in chains}
        untimed = dict.fromkeys(rtts, 0)
        cpu0 = {c.name: c.cpu() for c in chains}
        end = time.monotonic() + seconds
        rnd = 0
        while time.monotonic() < end:
            for chain in orders[rnd % 2]:
                if block > 1:
                    await call(chain)
                    untimed[chain.name] += 1
                for _ in range(block):
                    rtts[chain.name].append(await call(chain))
            rnd += 1
        cpu1 = {c.name: c.cpu() for c in chains}
        run: dict[str, Any] = {"rounds": rnd, "block": block}
        for chain in chains:
            n = len(rtts[chain.name])
            messages = n + untimed[chain.name]
            user = cpu1[chain.name][0] - cpu0[chain.name][0]
            system = cpu1[chain.name][1] - cpu0[chain.name][1]
            run[chain.name] = {
                "hop_ms": statistics.median(rtts[chain.name]) * 1000 / HOPS,
                "p99_ms": sorted(rtts[chain.name])[int(n * 0.99)] * 1000 / HOPS,
                "cpu_per_node_msg_ms": (user + system) * 1000 / (messages * NODES),
                "sys_per_node_msg_ms": system * 1000 / (messages * NODES),
            }
            if chain.name != "bare":
                run[chain.name]["ratio_paired"] = statistics.median(
                    a / b for a, b in zip(rtts[chain.name], rtts["bare"], strict=True)
                )
        if "base" in rtts:
            run["ours"]["ratio_to_base"] = statistics.median(
                a / b for a, b in zip(rtts["ours"], rtts["base"], strict=True)
            )
        runs.append(run)
    for chain in chains:
        await js.delete_consumer(chain.stream, f"{chain.stream}-client")
    await nc.close()
    return runs


async def run(
    work: Path, *, reps: int, seconds: float, warmup: int, stores: str, runner_path: str,
    block: int = 1,
) -> dict[str, Any]:
    from kedro_krt.serve.nats import NatsServer

    krt = work / "krt"
    (krt / "src" / "echo").mkdir(parents=True, exist_ok=True)
    (krt / "src" / "echo" / "main.py").write_text(MAIN_PY, encoding="utf-8")
    sink = influx_sink() if stores == "kre" else None
    state = work / "state"
    state.mkdir(exist_ok=True)
    store_env = {
        "KRT_MONGO_URI": "mongodb://127.0.0.1:1" if sink else state.as_uri(),
        "KRT_INFLUX_URI": f"http://127.0.0.1:{sink.server_address[1]}" if sink
        else state.as_uri(),
    }
    bare = Chain("bare", "bare")
    runners = [Chain("ours", "runner")]
    if runner_path:
        runners.append(Chain("base", "runner", runner_path))
    # An A/B swaps the runner chains' roles halfway: each is started first, on the first slot's
    # stream and right behind the floor in even rounds, for half of the runs (reps rounded up).
    roles = [runners, runners[::-1]] if len(runners) > 1 else [runners]
    reps_per_role = -(-reps // len(roles))
    server = NatsServer(work / "jetstream")
    await server.start()
    runs: list[dict[str, Any]] = []
    try:
        import nats

        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await _add_streams(js, [bare])
        bare.start(server.url, work, krt, store_env)
        for swapped, role in enumerate(roles):
            for slot, chain in enumerate(role, 1):
                chain.stream = f"hops-runner{slot}"
            await _add_streams(js, role)
            for chain in role:
                chain.start(server.url, work, krt, store_env)
            chains = [bare, *role]
            await _wait_bound(js, chains)
            for r in await measure(
                server.url, chains, reps=reps_per_role, seconds=seconds, warmup=warmup,
                block=block,
            ):
                runs.append({**r, "roles_swapped": bool(swapped)})
            for chain in role:
                chain.stop()
                await js.delete_stream(chain.stream)  # and its consumers
        await nc.close()
    finally:
        for chain in [bare, *runners]:
            chain.stop()
        await server.stop()
        if sink is not None:
            sink.shutdown()
    return {"stores": stores, "runs": runs,
            "influx_points": _InfluxSink.points if sink else None}


#: Issue 24's targets: per hop <= 1.3x the bare forwarder's; runner CPU per node message <=
#: the bare forwarder's + 0.1 ms.
HOP_RATIO_TARGET = 1.3
CPU_ABOVE_TARGET_MS = 0.1


def table(r: dict[str, Any]) -> list[tuple[str, ...]]:
    """Rows of ``benchmarks/RESULTS.md`` (row 2): what, value, floor, ratio, target, result."""
    from benchmarks.spread import spread, stats

    runs = r["runs"]

    def ms(v: float) -> str:
        return f"{v:.3f} ms"

    def times(v: float) -> str:
        return f"{v:.2f}x"

    where = f"3-process chain, {len(runs)} runs, stores: {r['stores']}"
    bare_hop = stats([x["bare"]["hop_ms"] for x in runs])[0]
    bare_cpu = stats([x["bare"]["cpu_per_node_msg_ms"] for x in runs])[0]
    ratios = [x["ours"]["ratio_paired"] for x in runs]
    above = [x["ours"]["cpu_per_node_msg_ms"] - x["bare"]["cpu_per_node_msg_ms"] for x in runs]
    rows: list[tuple[str, ...]] = [
        ("2", f"--nats hop floor: bare nats-py forwarder, per hop ({where})",
         spread([x["bare"]["hop_ms"] for x in runs], ms),
         f"CPU per node message {ms(bare_cpu)}", "", "", ""),
        ("2", f"--nats hop: our runner, per hop ({where})",
         spread([x["ours"]["hop_ms"] for x in runs], ms), f"bare forwarder {ms(bare_hop)}",
         spread(ratios, times), f"<= {HOP_RATIO_TARGET}x",
         "pass" if stats(ratios)[0] <= HOP_RATIO_TARGET else "**MISS**"),
        ("2", f"--nats runner CPU per node message, above the bare forwarder's ({where})",
         spread(above, ms), f"bare forwarder {ms(bare_cpu)}",
         f"{(bare_cpu + stats(above)[0]) / bare_cpu:.2f}x", f"<= +{CPU_ABOVE_TARGET_MS} ms",
         "pass" if stats(above)[0] <= CPU_ABOVE_TARGET_MS else "**MISS**"),
    ]
    if "base" in runs[0]:  # --runner-path: the A/B of runner code (~1.00x and ~0 ms for A/A)
        base_hop = stats([x["base"]["hop_ms"] for x in runs])[0]
        base_cpu = stats([x["base"]["cpu_per_node_msg_ms"] for x in runs])[0]
        rows += [
            ("2", f"--nats hop A/B: our runner / the --runner-path runner, per hop ({where})",
             spread([x["ours"]["hop_ms"] for x in runs], ms), f"--runner-path {ms(base_hop)}",
             spread([x["ours"]["ratio_to_base"] for x in runs], times), "", ""),
            ("2", f"--nats runner CPU per node message A/B: ours - the --runner-path runner's "
             f"({where})",
             spread([x["ours"]["cpu_per_node_msg_ms"] - x["base"]["cpu_per_node_msg_ms"]
                     for x in runs], ms), f"--runner-path {ms(base_cpu)}", "", "", ""),
        ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fw = sub.add_parser("forward", help="one bare forwarder (a process of the floor's chain)")
    for opt in ("--url", "--stream", "--input", "--output", "--name"):
        fw.add_argument(opt, required=True)
    ms = sub.add_parser("measure", help="both chains, interleaved; prints JSON")
    ms.add_argument("--work", default="")
    ms.add_argument("--reps", type=int, default=5)
    ms.add_argument("--seconds", type=float, default=3.0)
    ms.add_argument("--warmup", type=int, default=200)
    ms.add_argument("--block", type=int, default=BLOCK,
                    help="calls to each chain in a row per round, after an untimed one")
    ms.add_argument("--stores", choices=("kre", "local"), default="kre")
    ms.add_argument("--runner-path", default="",
                    help="a third chain: the runner imported from this checkout")
    args = parser.parse_args()
    if args.command == "forward":
        asyncio.run(forward(args.url, args.stream, args.input, args.output, args.name))
        return
    with tempfile.TemporaryDirectory(prefix="kedro-krt-hops-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(run(
            work, reps=args.reps, seconds=args.seconds, warmup=args.warmup,
            stores=args.stores, runner_path=args.runner_path, block=args.block,
        ))
    if args.runner_path:  # the A/B's rows, for the reader; stdout stays the JSON
        for row in table(result)[-2:]:
            print(" | ".join(row[1:5]), file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
