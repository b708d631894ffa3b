"""Runners on a real nats-server, driven as KRE's entrypoint drives them (no gRPC, no serve).

`Topology.start()` starts nats-server with JetStream, creates each workflow's stream as
kre-entrypoint 1.8.1 does (`<runtime>-<version>-<rpc>`, subjects `<stream>.*`, interest
retention), starts one runner process per node with KRE's pod environment
(kedro_krt.serve.topology_v1), and waits until each one's durable consumer is bound.
`request()` publishes a KreNatsMessage to the first node and returns what arrives on
`<stream>.entrypoint` for it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from google.protobuf import any_pb2
from google.protobuf.message import Message

from kedro_krt.node.runner.envelope_v1 import KreNatsMessage, decode
from kedro_krt.serve.nats import NatsServer
from kedro_krt.serve.topology_v1 import WorkflowTopology, topology


class Topology:
    """One workflow's nats-server, stream and runner processes."""

    def __init__(
        self,
        root: Path,
        work: Path,
        *,
        version: str,
        rpc: str,
        nodes: Sequence[tuple[str, str]],
        command: Sequence[str],
        env: Mapping[str, str] | None = None,
        variables: Mapping[str, str] | None = None,
        influx_uri: str | None = None,
        node_commands: Mapping[str, Sequence[str]] | None = None,
        node_env: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        """``command`` runs every node but those of ``node_commands`` (another runner, such as
        the real kre-py); ``node_env`` is laid over a node's pod environment."""
        self.influx_uri = influx_uri
        self.node_commands = {n: list(c) for n, c in (node_commands or {}).items()}
        self.node_env = {n: dict(e) for n, e in (node_env or {}).items()}
        self.root = root
        self.work = work
        self.version = version
        self.command = list(command)
        self.env = dict(env or {})
        self.server = NatsServer(work / "jetstream")
        self.nodes = list(nodes)
        self.rpc = rpc
        self.variables = dict(variables or {})
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.topology: WorkflowTopology | None = None
        self.nc: Any = None
        self.js: Any = None
        self.answers: asyncio.Queue[Any] = asyncio.Queue()
        self.last_sent: Any = None

    async def start(self, timeout: float = 120.0) -> Topology:
        """Start everything; on a failure, stop what was started, then raise."""
        try:
            return await self._start(timeout)
        except BaseException:
            await self.stop()
            raise

    async def _start(self, timeout: float) -> Topology:
        import nats
        from nats.js.api import DeliverPolicy, RetentionPolicy, StreamConfig

        await self.server.start()
        state = (self.work / "state").resolve()
        state.mkdir(parents=True, exist_ok=True)
        (self.topology,) = topology(
            version=self.version,
            workflows=[("wf", self.rpc, self.nodes)],
            runtime_id="test",
            nats_server=f"127.0.0.1:{self.server.port}",  # as KRE gives it: no scheme
            base_path=str(self.root),
            mongo_uri=state.as_uri(),
            influx_uri=self.influx_uri or state.as_uri(),
            variables=self.variables,
        )
        self.nc = await nats.connect(self.server.url)
        self.js = self.nc.jetstream()
        stream = self.topology.stream
        await self.js.add_stream(
            StreamConfig(name=stream, subjects=[f"{stream}.*"], retention=RetentionPolicy.INTEREST)
        )

        async def on_answer(msg: Any) -> None:
            await msg.ack()
            await self.answers.put(decode(msg.data))

        await self.js.subscribe(
            self.topology.entrypoint_subject, stream=stream, cb=on_answer, manual_ack=True,
            deliver_policy=DeliverPolicy.NEW,
        )
        for pod in self.topology.pods:
            log = open(self.work / f"{pod.node}.log", "wb")  # noqa: SIM115 - closed with the proc
            self.procs[pod.node] = subprocess.Popen(
                self.node_commands.get(pod.node, self.command),
                env={**os.environ, **self.env, **pod.environ, **self.node_env.get(pod.node, {})},
                cwd=self.work,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        for pod in self.topology.pods:
            while True:
                proc = self.procs[pod.node]
                if proc.poll() is not None:
                    raise AssertionError(f"runner {pod.node} exited:\n{self.log(pod.node)}")
                try:
                    info = await self.js.consumer_info(stream, f"{self.version}-{pod.node}")
                    if info.push_bound:
                        break
                except Exception:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"runner {pod.node} never subscribed:\n{self.log(pod.node)}"
                    )
                await asyncio.sleep(0.1)
        return self

    def log(self, node: str) -> str:
        return (self.work / f"{node}.log").read_text(errors="replace")

    async def request(
        self, payload: Message, timeout: float = 30.0, when: str = "2024-01-01T00:00:00"
    ) -> Any:
        """Publish ``payload`` as the entrypoint does (tracking time ``when``); the answer."""
        assert self.topology is not None
        reply = str(uuid.uuid4())
        message = KreNatsMessage(tracking_id=uuid.uuid4().hex, reply=reply)
        message.payload.Pack(payload)
        message.tracking.add(node_name="entrypoint", start=when, end=when)
        await self.js.publish(
            self.topology.first_subject, message.SerializeToString(), stream=self.topology.stream
        )
        while True:
            answer = await asyncio.wait_for(self.answers.get(), timeout)
            if answer.reply == reply:
                self.last_sent = message
                return answer

    async def stop(self) -> dict[str, int]:
        """SIGTERM every runner; their exit codes."""
        return await stop_topology(self.procs, self.nc, self.server)


async def stop_topology(
    procs: Mapping[Any, subprocess.Popen], nc: Any, server: Any
) -> dict[Any, int]:
    """SIGTERM every runner process (killed after 20 s), close the client, stop nats-server;
    the runners' exit codes (v1 and v2 harnesses alike)."""
    codes = {}
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for key, proc in procs.items():
        try:
            codes[key] = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            codes[key] = proc.wait()
    if nc is not None and not nc.is_closed:
        await nc.close()
    await server.stop()
    return codes


def unpack(answer: Any, cls: type[Message]) -> Message:
    out = cls()
    payload = any_pb2.Any(type_url=answer.payload.type_url, value=answer.payload.value)
    assert payload.Unpack(out), answer.payload.type_url
    return out
