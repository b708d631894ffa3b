"""KRT v2 runners on a real nats-server, driven as KRE 8's entrypoint drives them (no gRPC).

`TopologyV2.start()` starts nats-server with JetStream, creates the workflow's stream as KRE
8.2's nats-manager does (`<runtime>_<version>_<rpc>`, subjects `<stream>.<node>`,
`<stream>.<node>.*` and `<stream>.entrypoint`, interest retention) and its key-value and object
stores, starts `replicas` runner processes per node with KRE 8.2's pod environment
(kedro_krt.serve.topology_v2), and waits until every durable consumer is bound.
`request()` publishes a kre-py 3 KreNatsMessage to `<stream>.entrypoint` (from_node
`entrypoint`, type OK, as kre-entrypoint 3.3.6 does) and returns the first message for that
request on the exitpoint's subject. Every message on the stream is recorded in `seen`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from google.protobuf.message import Message

from kedro_krt.node.runner.envelope_v2 import OK, KreNatsMessageV2, decode_v2
from kedro_krt.serve.nats import NatsServer
from kedro_krt.serve.topology_v2 import NodeV2, WorkflowTopologyV2, topology_v2
from tests.nats.nats_harness import stop_topology


class TopologyV2:
    """One v2 workflow's nats-server, stream, stores and runner processes."""

    def __init__(
        self,
        root: Path,
        work: Path,
        *,
        version: str,
        rpc: str,
        exitpoint: str,
        nodes: Sequence[NodeV2],
        command: Sequence[str],
        env_override: Mapping[str, Mapping[str, str | None]] | None = None,
    ) -> None:
        self.root = root
        self.work = work
        self.version = version
        self.rpc = rpc
        self.exitpoint = exitpoint
        self.nodes = list(nodes)
        self.command = list(command)
        self.env_override = dict(env_override or {})
        self.server = NatsServer(work / "jetstream")
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.topology: WorkflowTopologyV2 | None = None
        self.nc: Any = None
        self.js: Any = None
        self.seen: list[tuple[str, Any]] = []
        self._answers: dict[str, asyncio.Future[Any]] = {}

    async def start(self, timeout: float = 120.0, wait: bool = True) -> TopologyV2:
        try:
            return await self._start(timeout, wait)
        except BaseException:
            await self.stop()
            raise

    async def _start(self, timeout: float, wait: bool) -> TopologyV2:
        import nats
        from nats.js.api import KeyValueConfig, ObjectStoreConfig, RetentionPolicy, StreamConfig

        await self.server.start()
        state = (self.work / "state").resolve()
        state.mkdir(parents=True, exist_ok=True)
        (self.topology,) = topology_v2(
            version=self.version,
            workflows=[("wf", self.rpc, self.exitpoint, self.nodes)],
            runtime_id="test",
            nats_server=f"127.0.0.1:{self.server.port}",  # as KRE gives it: no scheme
            base_path=str(self.root),
            mongo_uri=state.as_uri(),
            influx_uri=state.as_uri(),
        )
        topo = self.topology
        self.nc = await nats.connect(self.server.url)
        self.js = self.nc.jetstream()
        await self.js.add_stream(
            StreamConfig(
                name=topo.stream, subjects=topo.subjects, retention=RetentionPolicy.INTEREST
            )
        )
        for bucket in topo.kv_stores:
            await self.js.create_key_value(KeyValueConfig(bucket=bucket))
        for bucket in topo.object_stores:
            await self.js.create_object_store(bucket, ObjectStoreConfig(bucket=bucket))

        async def on_any(msg: Any) -> None:
            message = decode_v2(msg.data)
            self.seen.append((msg.subject, message))
            if msg.subject == topo.exitpoint_subject:
                future = self._answers.get(message.request_id)
                if future is not None and not future.done():
                    future.set_result(message)

        await self.nc.subscribe(f"{topo.stream}.>", cb=on_any)
        for pod in topo.pods:
            env = {**os.environ, **pod.environ}
            for name, value in self.env_override.get(pod.node, {}).items():
                if value is None:
                    env.pop(name, None)
                else:
                    env[name] = value
            for replica in range(pod.replicas):
                key = pod.node if replica == 0 else f"{pod.node}#{replica}"
                log = open(self.work / f"{key}.log", "wb")  # noqa: SIM115 - closed with the proc
                self.procs[key] = subprocess.Popen(
                    self.command, env=env, cwd=self.work, stdout=log, stderr=subprocess.STDOUT
                )
        if wait:
            await self.wait_bound(timeout)
        return self

    async def wait_bound(self, timeout: float) -> None:
        """Every durable consumer bound, and every process (each replica) listening."""
        assert self.topology is not None
        deadline = time.monotonic() + timeout
        for key in self.procs:
            inputs = next(
                p for p in self.topology.pods if p.node == key.split("#")[0]
            ).environ["KRT_NATS_INPUTS"].split(",")
            while self.log(key).count("Listening to '") < len(inputs):
                if self.procs[key].poll() is not None:
                    raise AssertionError(f"runner {key} exited:\n{self.log(key)}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"runner {key} never subscribed:\n{self.log(key)}")
                await asyncio.sleep(0.1)
        for pod in self.topology.pods:
            for queue in pod.queues:
                while True:
                    dead = [k for k, p in self.procs.items() if p.poll() is not None]
                    if dead:
                        raise AssertionError(f"runner {dead[0]} exited:\n{self.log(dead[0])}")
                    try:
                        info = await self.js.consumer_info(self.topology.stream, queue)
                        if info.push_bound:
                            break
                    except Exception:
                        pass
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{queue} never bound:\n{self.log(pod.node)}")
                    await asyncio.sleep(0.1)

    def log(self, key: str) -> str:
        return (self.work / f"{key}.log").read_text(errors="replace")

    async def request(self, payload: Message, timeout: float = 30.0) -> Any:
        """Publish ``payload`` as kre-entrypoint 3 does; the exitpoint's first message for it."""
        assert self.topology is not None
        request_id = str(uuid.uuid4())
        message = KreNatsMessageV2(request_id=request_id, from_node="entrypoint", message_type=OK)
        message.payload.Pack(payload)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._answers[request_id] = future
        await self.js.publish(
            self.topology.entrypoint_subject, message.SerializeToString(),
            stream=self.topology.stream,
        )
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._answers.pop(request_id, None)

    def messages(self, request_id: str) -> list[tuple[str, Any]]:
        """(subject, message) of every message seen for one request, in arrival order."""
        return [(s, m) for s, m in self.seen if m.request_id == request_id]

    async def stop(self) -> dict[str, int]:
        """SIGTERM every runner; their exit codes."""
        return await stop_topology(self.procs, self.nc, self.server)
