"""What the ``ctx`` of every KRT format has (kre-py 2.1 and 3.4 alike), and its local stores.

A KRT node receives ``ctx`` in ``init(ctx)`` and in its handlers. Under KRE the stores behind
it are MongoDB (``db``, ``prediction``) and InfluxDB (``measurement``); here they are JSON-lines
files in a state folder, so that a node written for KRE runs unchanged on one machine. What
differs by format (v1's early reply, v2's sends and configuration) is in
:mod:`~kedro_krt.node.runtime.context_v1` and :mod:`~kedro_krt.node.runtime.context_v2`.

This module knows nothing of click, Kedro or gRPC: the engine that drives it hands in callbacks.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple, Protocol

#: KRE's log line format; the timestamps are UTC (the ``Z`` says so).
LOG_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(message)s"
LOG_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"

#: The Mongo collection KRE writes ``ctx.prediction.save`` documents to.
PREDICTION_COLLECTION = "classificationMetrics"
PREDICTION_ERRORS = ("missing_values", "new_labels")

class _UTCFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime(datefmt or LOG_DATE_FORMAT, time.gmtime(record.created))


def make_logger(version: str, node: str, level: int = logging.INFO) -> logging.Logger:
    """Return the logger KRE gives a node: named ``<version>-<node>``, KRE's format, UTC.

    The handler is added once per name, so that loading the same node twice does not print
    every line twice.
    """
    logger = logging.getLogger(f"{version}-{node}")
    if not any(getattr(h, "_kedro_krt", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(_UTCFormatter(LOG_FORMAT, LOG_DATE_FORMAT))
        handler._kedro_krt = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(level)
    # The root logger of the host process must not print the line a second time.
    logger.propagate = False
    return logger


def node_environ(
    *,
    version: str,
    node: str,
    workflow: str,
    base_path: Path | str,
    handler_path: str,
    version_id: str = "",
) -> dict[str, str]:
    """The ``KRT_*`` environment variables a KRE node pod sees, for one node."""
    return {
        "KRT_VERSION": version,
        "KRT_VERSION_ID": version_id or version,
        "KRT_NODE_NAME": node,
        "KRT_WORKFLOW_NAME": workflow,
        "KRT_BASE_PATH": str(base_path),
        "KRT_HANDLER_PATH": handler_path,
        # No NATS here: the subjects are named as KRE would name them, for code that logs them.
        "KRT_NATS_SERVER": "",
        "KRT_NATS_INPUT": f"{workflow}-{node}-in",
        "KRT_NATS_OUTPUT": f"{workflow}-{node}-out",
    }


class JsonLines:
    """Append-only JSON-lines files, one per collection, safe across threads of one process.

    Processes (server workers, runners) share the folder: each line is written with one
    ``write`` call on a file opened in append mode, which POSIX keeps whole for lines this
    small. A collection's file is opened once, on its first record, and kept open until
    :meth:`close`: the descriptor is unbuffered, so each record is in the file (the kernel's)
    when :meth:`append` returns, and a process killed at any point loses none it wrote. (It
    used to create the folder and open the file for every record: a few percent of a runner's
    busy time under ``serve --nats``.) A file removed while it is open is not created again.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._fds: dict[str, int] = {}

    def file(self, name: str) -> Path:
        return self.folder / f"{name}.jsonl"

    def append(self, name: str, record: Mapping[str, Any]) -> None:
        self.append_many(name, (record,))

    def append_many(self, name: str, records: Iterable[Mapping[str, Any]]) -> None:
        """Append records as lines, all in one ``write``."""
        line = "".join(
            json.dumps(record, default=_json_default, separators=(",", ":")) + "\n"
            for record in records
        ).encode()
        if not line:
            return
        with self._lock:
            fd = self._fds.get(name)
            if fd is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                fd = os.open(
                    self.file(name), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666
                )
                self._fds[name] = fd
            written = os.write(fd, line)
            while written < len(line):  # a regular file takes it whole, short of a full disk
                written += os.write(fd, line[written:])

    def close(self) -> None:
        """Close the open files (each record is already written); a later append reopens."""
        with self._lock:
            fds, self._fds = self._fds, {}
        for fd in fds.values():
            os.close(fd)

    def read(self, name: str) -> list[dict[str, Any]]:
        path = self.file(name)
        if not path.is_file():
            return []
        with self._lock, open(path, encoding="utf-8") as stream:
            return [json.loads(line) for line in stream if line.strip()]


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def _lookup(doc: Any, dotted: str) -> tuple[bool, Any]:
    """Mongo's dotted-path lookup (``"a.b"``), enough for equality queries."""
    current = doc
    for part in dotted.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        else:
            return False, None
    return True, current


def _matches(doc: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    for key, expected in query.items():
        found, value = _lookup(doc, key)
        if not found:
            return False
        # Mongo matches a scalar against an array field when the array holds it.
        if value != expected and not (isinstance(value, list) and expected in value):
            return False
    return True


class ContextDB:
    """``ctx.db``: KRE's Mongo data store, here one JSON-lines file per collection."""

    def __init__(self, store: JsonLines, logger: logging.Logger) -> None:
        self._store = store
        self._logger = logger

    async def save(self, coll: str, doc: Mapping[str, Any]) -> None:
        """Store ``doc`` in collection ``coll`` (as KRE: ``coll`` must be a non-empty string)."""
        if not isinstance(coll, str) or coll == "":
            raise Exception(
                f"[ctx.db.save] invalid 'collection'='{coll}', must be a nonempty string"
            )
        # KRE sends the document as JSON to a writer that inserts it: the caller's dict is untouched
        # and Mongo adds an ``_id``.
        record = {"_id": uuid.uuid4().hex, **json.loads(json.dumps(doc, default=_json_default))}
        self._store.append(coll, record)

    async def find(self, coll: str, query: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Documents of ``coll`` whose fields equal every ``query`` item (dotted paths allowed)."""
        if not isinstance(coll, str) or coll == "":
            raise Exception(
                f"[ctx.db.find] invalid 'collection'='{coll}', must be a nonempty string"
            )
        if not isinstance(query, dict) or not query:
            raise Exception(f"[ctx.db.find] invalid 'query'='{query}', must be a nonempty dict")
        return [doc for doc in self._store.read(coll) if _matches(doc, query)]


class Point(NamedTuple):
    """One ``ctx.measurement`` point, with the tags KRE adds."""

    measurement: str
    fields: Mapping[str, Any]
    tags: Mapping[str, Any]
    time: dt.datetime
    precision: str


class PointSink(Protocol):
    """Where the points go: a JSON-lines file here, InfluxDB under the runner."""

    def write(self, point: Point) -> None: ...

    def close(self) -> None: ...


class JsonLinesPoints:
    """The local store of points: one JSON line each in ``measurements.jsonl``."""

    def __init__(self, store: JsonLines) -> None:
        self._store = store

    def write(self, point: Point) -> None:
        self.write_many((point,))

    def write_many(self, points: Iterable[Point]) -> None:
        """Several points in one ``write`` (the runner batches them)."""
        self._store.append_many(
            "measurements",
            (
                {
                    "measurement": point.measurement,
                    "fields": dict(point.fields),
                    "tags": {k: str(v) for k, v in point.tags.items()},
                    "time": point.time.isoformat(),
                    "precision": point.precision,
                }
                for point in points
            ),
        )

    def close(self) -> None:
        """Nothing is batched (each line is written at once): close the file."""
        self._store.close()


class ContextMeasurement:
    """``ctx.measurement``: KRE's InfluxDB points, written to ``sink``.

    KRE adds the ``version`` tag to every point; kre-py 3 (KRT v2) adds ``workflow`` and
    ``node`` too, given here as ``tags``.
    """

    PRECISION_S = "s"
    PRECISION_MS = "ms"
    PRECISION_US = "us"
    PRECISION_NS = "ns"

    def __init__(
        self, sink: PointSink, version: str, tags: Mapping[str, str] | None = None
    ) -> None:
        self._sink = sink
        self._version = version
        self._tags = dict(tags or {})

    def save(
        self,
        measurement: str,
        fields: Mapping[str, Any],
        tags: Mapping[str, Any],
        time: dt.datetime | None = None,
        precision: str = "ns",
    ) -> None:
        """Record one point (sync, as kre-py), with the tags KRE adds."""
        when = time or dt.datetime.now(dt.timezone.utc)
        tags = {**tags, **self._tags, "version": self._version}
        self._sink.write(Point(measurement, fields, tags, when, precision))

    def close(self) -> None:
        """Flush what is batched (at shutdown)."""
        self._sink.close()


def _utc_rfc3339(when: dt.datetime) -> str:
    offset = when.utcoffset()
    if offset and offset.total_seconds() != 0:
        raise Exception("Input date must be a UTC datetime")
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ContextPrediction:
    """``ctx.prediction``: classification metrics, validated as KRE validates them.

    ``sink`` stores the finished document: a local file here, KRE's mongo-writer under the
    runner.
    """

    ERR_MISSING_VALUES = PREDICTION_ERRORS[0]
    ERR_NEW_LABELS = PREDICTION_ERRORS[1]

    def __init__(
        self, version: str, version_id: str, sink: Callable[[dict[str, Any]], Awaitable[None]]
    ) -> None:
        self._sink = sink
        self._version = version
        self._version_id = version_id

    async def save(
        self,
        predicted_value: str = "",
        true_value: str = "",
        extra: dict[str, Any] | None = None,
        utcdate: dt.datetime | None = None,
        error: str = "",
    ) -> None:
        """Store one prediction in ``classificationMetrics``.

        Raises exactly when KRE raises: ``error`` not one of KRE's two names, or (without an
        error) a predicted or true value that is not a non-empty string, or a non-UTC date.
        """
        doc = prediction_document(
            predicted_value, true_value, extra, utcdate, error,
            version=self._version, version_id=self._version_id,
        )
        await self._sink(doc)


def prediction_document(
    predicted_value: str,
    true_value: str,
    extra: dict[str, Any] | None,
    utcdate: dt.datetime | None,
    error: str,
    *,
    version: str,
    version_id: str,
) -> dict[str, Any]:
    """The ``classificationMetrics`` document of ``ctx.prediction.save``, checked as KRE checks.

    Raises exactly when kre-py 2.1 raises (``src/context_prediction.py``): ``error`` not one
    of KRE's two names, or (without an error) a predicted or true value that is not a
    non-empty string, or a non-UTC date.
    """
    if error != "":
        if error not in PREDICTION_ERRORS:
            raise Exception(
                f"[ctx.prediction.save] invalid value for metric error {error} "
                f"should be one of '{','.join(PREDICTION_ERRORS)}'"
            )
    else:
        if not isinstance(predicted_value, str) or predicted_value == "":
            raise Exception(
                f"[ctx.prediction.save] invalid 'predicted_value'='{predicted_value}',"
                " must be a nonempty string"
            )
        if not isinstance(true_value, str) or true_value == "":
            raise Exception(
                f"[ctx.prediction.save] invalid 'true_value'='{true_value}',"
                " must be a nonempty string"
            )
    when = utcdate if utcdate is not None else dt.datetime.now(dt.timezone.utc)
    return {
        "date": _utc_rfc3339(when),
        "error": error,
        "predictedValue": predicted_value,
        "trueValue": true_value,
        "extra": extra,
        "versionId": version_id,
        "versionName": version,
    }


class Stores(NamedTuple):
    """What backs a ctx's ``db``, ``prediction`` and ``measurement``: local files, or (under
    the runner) KRE's mongo-writer, MongoDB and InfluxDB."""

    db: Any
    prediction: ContextPrediction
    measurement: ContextMeasurement


def local_stores(
    state_dir: Path | str,
    *,
    version: str,
    version_id: str,
    logger: logging.Logger,
    tags: Mapping[str, str] | None = None,
) -> Stores:
    """The local server's stores: JSON-lines files in ``state_dir`` (``db/`` for the data and
    the predictions, ``measurements.jsonl`` for the points)."""
    state = Path(state_dir)
    store = JsonLines(state / "db")

    async def keep(doc: dict[str, Any]) -> None:
        store.append(PREDICTION_COLLECTION, {"_id": uuid.uuid4().hex, **doc})

    return Stores(
        db=ContextDB(store, logger),
        prediction=ContextPrediction(version, version_id or version, keep),
        measurement=ContextMeasurement(JsonLinesPoints(JsonLines(state)), version, tags),
    )


class NodeContext:
    """What every ``ctx`` has, KRT v1 (kre-py 2.1) and v2 (kre-py 3.4) alike, whatever stores
    back it: ``logger``, ``path``, ``set`` / ``get``, ``db``, ``prediction`` and
    ``measurement``, bound to one message at a time.

    One instance per node lives as long as the node (``set`` values are shared by all its
    messages, as in KRE); :meth:`_bound` makes the shallow copy a message's handler gets (kre-py
    3: ``copy.copy(handler_ctx)`` and ``set_request_msg``).
    """

    #: What a call that needs the message says when made in ``init``.
    _OUTSIDE_HANDLER = "ctx.{what}() can only be called inside handler, not in init"

    def __init__(
        self,
        *,
        node: str,
        base_path: Path | str,
        logger: logging.Logger,
        stores: Stores | None = None,
    ) -> None:
        self.node = node
        self.base_path = str(base_path)
        self.logger = logger
        self._data: dict[str, Any] = {}
        self._request: Any = None  # the message bound (runtime/node_v2.py reads it)
        if stores is not None:
            self.db, self.prediction, self.measurement = stores

    def path(self, relative_path: str) -> str:
        """The absolute path of a file inside the KRT (the working directory is not the KRT)."""
        return os.path.join(self.base_path, relative_path)

    def set(self, key: str, value: Any) -> None:
        """Keep a value for this node, shared by every message (e.g. a model loaded in init)."""
        self._data[key] = value

    def get(self, key: str) -> Any:
        """A value stored with :meth:`set`; an unknown key raises AttributeError as in KRE."""
        try:
            return self._data[key]
        except KeyError:
            raise AttributeError(
                f"ctx.get({key!r}): nothing was stored under this key in node '{self.node}'; "
                "call ctx.set first (usually in init)"
            ) from None

    def _bound(self, message: Any) -> Any:
        # copy.copy's shallow copy without its __reduce_ex__ round trip (a few us a message).
        bound = object.__new__(type(self))
        bound.__dict__.update(self.__dict__)
        bound._request = message
        return bound

    def _require(self, what: str) -> Any:
        if self._request is None:
            raise RuntimeError(self._OUTSIDE_HANDLER.format(what=what))
        return self._request


class LocalContext(NodeContext):
    """A ``ctx`` of the local server, v1 or v2: its stores are files in ``state_dir``
    (:func:`local_stores`). Mixed in before ``ContextV1Base`` or ``ContextV2Base``, which
    receive ``base`` (v2: ``publish``)."""

    #: kre-py 3 (KRT v2) adds the ``workflow`` and ``node`` tags to every point.
    TAG_POINTS = False

    def __init__(
        self,
        *,
        version: str,
        node: str,
        workflow: str,
        base_path: Path | str,
        state_dir: Path | str,
        version_id: str = "",
        logger: logging.Logger | None = None,
        **base: Any,
    ) -> None:
        logger = logger or make_logger(version, node)
        tags = {"workflow": workflow, "node": node} if self.TAG_POINTS else None
        stores = local_stores(
            state_dir, version=version, version_id=version_id, logger=logger, tags=tags
        )
        super().__init__(node=node, base_path=base_path, logger=logger, stores=stores, **base)
        self.version = version
        self.workflow = workflow
        self.state_dir = Path(state_dir)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(version={self.version!r}, node={self.node!r})"
