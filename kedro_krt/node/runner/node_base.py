"""What the node runner does for every KRT format: load the node file, connect to NATS, run
``init``, subscribe, handle messages until stopped, drain.

kre-py 2.1.5 (KRT v1) and kre-py 3.4.1 (KRT v2) keep one lifecycle; what each format does with
a message is in :mod:`~kedro_krt.node.runner.node_v1` and :mod:`~kedro_krt.node.runner.node_v2`,
picked by :mod:`kedro_krt.node.runner.formats`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import importlib.util
import inspect
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from kedro_krt.node.errors import KrtError
from kedro_krt.node.logs import LOG_DATE_FORMAT, LOG_FORMAT, own_logging
from kedro_krt.node.runner.config_base import NodeSettings
from kedro_krt.node.runtime.errors import InvalidRequest

__all__ = [
    "ACK_WAIT_S",
    "NodeRunnerBase",
    "WorkerLoadError",
    "load_worker",
    "refusal_of",
    "setup_logging",
    "utcnow",
]

#: Where a KRE node pod's fluent-bit sidecar tails the logs (an emptyDir in the pod).
APP_LOG = Path("/var/log/app/app.log")
#: Set by ``serve --nats``: the runner stops when that process is gone.
PARENT_PID_ENV = "KEDRO_KRT_PARENT_PID"
#: How long a stopping runner waits for the messages already delivered to it.
DRAIN_TIMEOUT_S = 5
#: kre-py's ack wait: 22 hours.
ACK_WAIT_S = 22 * 3600


class WorkerLoadError(KrtError):
    """The node file cannot be imported, or has no ``handler``."""


def _no_trailing_newline(record: logging.LogRecord) -> bool:
    """A warning's record without the empty line ``warnings.formatwarning`` ends it with."""
    if isinstance(record.msg, str):  # logging logs the formatted warning as the message
        record.msg = record.msg.rstrip("\n")
    return True


class _KreFormatter(logging.Formatter):
    """kre-py's line format in UTC; the date part is formatted once per second, not per line
    (``time.strftime`` is a quarter of a line's formatting, and the runner logs every message).
    """

    _second = -1
    _date = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._date = time.strftime(datefmt or LOG_DATE_FORMAT, time.gmtime(second))
            self._second = second
        return self._date


def setup_logging(config: NodeSettings) -> logging.Logger:
    """kre-py's logging: INFO, its format in UTC, WARN for WARNING; stdout and the app log.

    Every line of the process keeps that format, which KRE's log sidecar reads: Kedro, once a
    node imports it, is given a configuration that touches no handler
    (:func:`~kedro_krt.node.logs.own_logging`; a project's ``conf/logging.yml`` gives levels
    only), and Python's warnings are logged (``WARN``) rather than printed to stderr. The node's
    logger (``ctx.logger``, named ``<version>-<node>``) has these handlers of its own and does
    not propagate, so that its lines survive whatever a node's code does to the root logger.
    """
    own_logging()
    # No record asks multiprocessing for the process's name (a third of a record's making):
    # the runner's one line format does not show it, and a runner is one process.
    logging.logMultiprocessing = False
    formatter = _KreFormatter(LOG_FORMAT, LOG_DATE_FORMAT)
    logging.addLevelName(logging.WARNING, "WARN")
    logging.addLevelName(logging.CRITICAL, "ERROR")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if APP_LOG.parent.is_dir() and os.access(APP_LOG.parent, os.W_OK):
        handlers.append(logging.FileHandler(APP_LOG))
    for handler in handlers:
        handler.setFormatter(formatter)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in handlers:
        root.addHandler(handler)
    logging.captureWarnings(True)
    warned = logging.getLogger("py.warnings")
    if _no_trailing_newline not in warned.filters:
        warned.addFilter(_no_trailing_newline)
    logger = logging.getLogger(config.runner_name)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for handler in handlers:
        logger.addHandler(handler)
    return logger


def load_worker(config: NodeSettings, check: Callable[[ModuleType, str], None]) -> ModuleType:
    """Import the node file as kre-py 2 and 3 do: module ``worker``, its folder appended to
    sys.path; then ``check`` what it defines (each format's handlers).

    Raises:
        WorkerLoadError: with kre-py's wording and what to change.
    """
    path = os.path.join(config.base_path, config.handler_path)
    if not os.path.isfile(path):
        raise WorkerLoadError(
            f"Error loading handler script {config.handler_path}: no such file {path} "
            "(KRT_BASE_PATH + KRT_HANDLER_PATH, the node's src in krt.yml)"
        )
    sys.path.append(os.path.dirname(path))
    spec = importlib.util.spec_from_file_location("worker", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        raise WorkerLoadError(
            f"Error loading handler script {config.handler_path}: {err}\n\n"
            f"{traceback.format_exc()}"
        ) from err
    check(module, path)
    return module


def refusal_of(err: BaseException) -> str:
    """What the caller is told when a handler refused the request (it raised
    :class:`~kedro_krt.node.runtime.errors.InvalidRequest`); "" for any other failure."""
    if not isinstance(err, InvalidRequest):
        return ""
    # A KRT's own vendored runtime may predate ``refusal``: its message is the refusal.
    return str(getattr(err, "refusal", None) or err)


def utcnow() -> dt.datetime:
    """Now, as kre-py writes it: naive UTC (``datetime.utcnow()``)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class NodeRunnerBase:
    """What a v1 and a v2 node's runner do alike (kre-py 2.1.5 and 3.4.1 keep one lifecycle):
    load the node file, connect, run ``init``, subscribe, handle messages until SIGTERM/SIGINT
    (or, under ``serve --nats``, until the server is gone), drain; :meth:`run` returns the exit
    code. Subclasses make the ctx (:meth:`_make_ctx`), subscribe (:meth:`_subscribe_inputs`)
    and handle the messages.
    """

    #: kre-py 3 logs its start-up steps ("Connecting to NATS ...", "Executing handler init...");
    #: kre-py 2.1.5 does not.
    STEP_LOGS = False
    ctx: Any

    def __init__(
        self,
        config: NodeSettings,
        logger: logging.Logger | None,
        check: Callable[[ModuleType, str], None],
    ) -> None:
        self.config = config
        self.logger = logger or logging.getLogger(config.runner_name)
        if self.STEP_LOGS:
            self.logger.info("Loading handler script %s...", config.handler_path)
        self.module = load_worker(config, check)
        self.init = getattr(self.module, "init", None)
        self._nc: Any = None
        self._js: Any = None
        self._stop = asyncio.Event()
        #: The input subscriptions, drained first when stopping (see :meth:`_drain_inputs`).
        self._inputs: list[Any] = []

    async def run(self) -> int:
        """Connect, init, subscribe, handle messages until stopped, drain; 0 on a clean stop."""
        import nats

        config = self.config
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        parent = os.environ.get(PARENT_PID_ENV)
        watch = loop.create_task(self._watch_parent(int(parent))) if parent else None
        if self.STEP_LOGS:
            self.logger.info("Connecting to NATS %s...", config.nats_server)
        # A drain that cannot reach the server (it is stopping too) gives up after a few
        # seconds instead of nats-py's 30.
        self._nc = await nats.connect(
            config.nats_url, name=config.runner_name, max_reconnect_attempts=-1,
            drain_timeout=DRAIN_TIMEOUT_S,
        )
        self._js = self._nc.jetstream(**self._jetstream_options())
        try:
            ctx = await self._make_ctx()
            if self.init is not None:
                if self.STEP_LOGS:
                    self.logger.info("Executing handler init...")
                if inspect.iscoroutinefunction(self.init):
                    await self.init(ctx)
                else:
                    self.init(ctx)
            gc.collect()
            gc.freeze()
            await self._subscribe_inputs()
            await self._stop.wait()
            self.logger.info("stopping: handling the messages already delivered, then exiting")
            await self._drain_inputs()
            await self._nc.drain()
        finally:
            if watch is not None:
                watch.cancel()
            if self.ctx is not None:
                self.ctx.measurement.close()
            if not self._nc.is_closed:
                await self._nc.close()
        return 0

    async def _drain_inputs(self) -> None:
        """Stop the deliveries and let the handlers of the messages already delivered finish,
        while the connection is whole.

        ``nc.drain()`` drains every subscription at once, the inbox that JetStream's publish
        acknowledgements come back on included: a handler still running (a node's slow work
        after an early reply) would publish its result after that inbox is gone, wait for an
        acknowledgement that cannot come, and the drain would end on its timeout with the
        result lost. Draining the inputs first keeps the inbox until they are done.
        """
        if not self._inputs:
            return
        drains = asyncio.gather(*(sub.drain() for sub in self._inputs), return_exceptions=True)
        try:
            await asyncio.wait_for(drains, DRAIN_TIMEOUT_S)
        except asyncio.TimeoutError:
            self.logger.warning("stopping: a handler still runs after %s s", DRAIN_TIMEOUT_S)

    def _jetstream_options(self) -> dict[str, Any]:
        """nats-py's ``jetstream(...)`` options (its defaults unless a subclass says)."""
        return {}

    async def _make_ctx(self) -> Any:
        """The node's ``ctx`` (connected: ``self._nc`` and ``self._js`` are set)."""
        raise NotImplementedError

    async def _subscribe_inputs(self) -> None:
        """Bind the node's durable consumers (after ``init``)."""
        raise NotImplementedError

    async def _watch_parent(self, parent: int) -> None:
        """Under ``serve --nats``: stop when the server that started us is gone."""
        while not self._stop.is_set():
            if os.getppid() != parent:
                self.logger.info("the serving process %d is gone: stopping", parent)
                self._stop.set()
                return
            await asyncio.sleep(1.0)

    async def _request(self, subject: str, payload: bytes, timeout: float) -> bytes:
        """A core-NATS request (``ctx.db`` and ``ctx.prediction`` to KRE's mongo-writer)."""
        answer = await self._nc.request(subject, payload, timeout=timeout)
        return bytes(answer.data)
