"""The stores behind a node's ``ctx`` under the runner, every KRT format alike (kre-py 3 kept
kre-py 2.1.5's): ``db``, ``prediction`` and ``measurement`` on KRE's services.

(konstellation-io/kre-runners @ kre-py-v2.1.5: ``src/context.py``, ``context_data.py``,
``context_prediction.py``, ``context_measurement.py``.)

- ``await ctx.db.save(coll, doc)``: a core-NATS request to KRE's mongo-writer
  (``KRT_NATS_MONGO_WRITER``), JSON ``{"coll", "doc"}``, 60 s; a refusal or a timeout is logged.
- ``await ctx.prediction.save(...)``: the same request, collection ``classificationMetrics``, 1 s.
- ``await ctx.db.find(coll, query)``: MongoDB at ``KRT_MONGO_URI``, database ``data``.
- ``ctx.measurement.save(...)``: InfluxDB at ``KRT_INFLUX_URI``, bucket ``KRT_RUNTIME_ID``,
  batched, with the ``version`` tag.

A ``file://`` URI in ``KRT_MONGO_URI`` or ``KRT_INFLUX_URI`` selects the local JSON-lines
stores of ``kedro-krt serve`` instead (``serve --nats`` sets them, and answers the mongo-writer
subject into the same folder), so a node runs unchanged without MongoDB or InfluxDB.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from kedro_krt.node.runner.config_base import NodeSettings
from kedro_krt.node.runner.envelope_base import compress_if_needed
from kedro_krt.node.runner.line_protocol import line
from kedro_krt.node.runtime.context_base import (
    PREDICTION_COLLECTION,
    ContextDB,
    ContextMeasurement,
    ContextPrediction,
    JsonLines,
    JsonLinesPoints,
    Point,
    PointSink,
    Stores,
)

__all__ = ["Request", "local_folder", "runner_stores"]

#: kre-py's timeouts for the mongo-writer requests, in seconds.
DB_SAVE_TIMEOUT_S = 60.0
PREDICTION_SAVE_TIMEOUT_S = 1.0
#: kre-py's database for ``ctx.db.find`` (the mongo-writer writes to ``<runtime>-data``: a
#: mismatch of KRE 7 that we keep, and document).
MONGO_DATA_DB = "data"

Request = Callable[[str, bytes, float], Awaitable[bytes]]
_points_log = logging.getLogger("kedro_krt.node.runner.points")


def local_folder(uri: str) -> Path | None:
    """The folder of a ``file://`` URI, or ``None`` for any other URI."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return Path(unquote(parsed.path))


async def writer_request(
    request: Request, subject: str, payload: bytes, timeout: float, logger: logging.Logger,
    what: str,
) -> None:
    try:
        answer = await request(subject, payload, timeout)
    except asyncio.TimeoutError:
        logger.error("Error saving %s: request timed out", what)
        return
    if not json.loads(answer.decode() or "{}").get("success"):
        logger.error("Unexpected error saving %s", "data" if what == "data" else "metric")


class RunnerDB:
    """``ctx.db``: save through KRE's mongo-writer, find in MongoDB (or the local store)."""

    def __init__(self, config: NodeSettings, request: Request, logger: logging.Logger) -> None:
        self._config = config
        self._request = request
        self._logger = logger
        folder = local_folder(config.mongo_uri)
        self._local = ContextDB(JsonLines(folder / "db"), logger) if folder else None
        self._mongo: Any = None

    async def save(self, coll: str, data: Any) -> None:
        """Send ``{"coll", "doc"}`` to the mongo-writer; a refusal is logged, not raised."""
        if not isinstance(coll, str) or coll == "":
            raise Exception(
                f"[ctx.db.save] invalid 'collection'='{coll}', must be a nonempty string"
            )
        payload = json.dumps({"coll": coll, "doc": data}).encode()
        await writer_request(
            self._request, self._config.nats_mongo_writer, compress_if_needed(payload),
            DB_SAVE_TIMEOUT_S, self._logger, "data",
        )

    async def find(self, coll: str, query: Mapping[str, Any]) -> list[Any]:
        """The documents of ``coll`` matching ``query`` (a non-empty dict)."""
        if self._local is not None:
            return await self._local.find(coll, query)
        if not isinstance(coll, str) or coll == "":
            raise Exception(
                f"[ctx.db.find] invalid 'collection'='{coll}', must be a nonempty string"
            )
        if not isinstance(query, dict) or not query:
            raise Exception(f"[ctx.db.find] invalid 'query'='{query}', must be a nonempty dict")
        try:
            return await asyncio.to_thread(self._find, coll, query)
        except Exception as err:
            raise Exception(f"[ctx.db.find] error getting data from MongoDB: {err}") from err

    def _find(self, coll: str, query: Mapping[str, Any]) -> list[Any]:
        if self._mongo is None:
            import pymongo

            self._mongo = pymongo.MongoClient(
                self._config.mongo_uri, socketTimeoutMS=10000, connectTimeoutMS=10000
            )
        return list(self._mongo[MONGO_DATA_DB][coll].find(query))


class BatchedPoints:
    """The runner's ``ctx.measurement`` sink: points batched off the message's path.

    kre-py hands each point to influxdb-client's batching writer (1,000 points or 1 s), a
    reactivex pipeline whose threads wake for every point: 8 to 12 % of a runner's busy time
    under load. This batches the same way with less: :meth:`write` appends the point to a deque
    (nothing else on the message's path); one daemon thread, started with the first point,
    hands what waits to ``send`` every second, or as soon as 1,000 points wait, and at
    :meth:`close`. A batch ``send`` fails is logged and kept for the next flush (up to
    :data:`MAX_PENDING` points, then the oldest go). Errors never reach the node, as in kre-py.
    """

    #: kre-py's ``WriteOptions(batch_size=1_000, flush_interval=1_000)``.
    BATCH_SIZE = 1_000
    FLUSH_INTERVAL_S = 1.0
    #: Points kept while the store does not take them.
    MAX_PENDING = 100_000

    def __init__(
        self, send: Callable[[list[Point]], None], close: Callable[[], None], where: str
    ) -> None:
        self._send = send
        self._close = close
        self._where = where
        self._pending: collections.deque[Point] = collections.deque(maxlen=self.MAX_PENDING)
        self._wake = threading.Event()
        self._closing = False
        self._flushing = threading.Lock()
        self._thread: threading.Thread | None = None

    def write(self, point: Point) -> None:
        self._pending.append(point)
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="kedro-krt-points", daemon=True
            )
            self._thread.start()
        elif len(self._pending) >= self.BATCH_SIZE:
            self._wake.set()

    def _run(self) -> None:
        while not self._closing:
            self._wake.wait(self.FLUSH_INTERVAL_S)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        """Send what waits, in batches of :data:`BATCH_SIZE`; a failed batch waits again."""
        with self._flushing:
            while self._pending:
                batch: list[Point] = []
                while self._pending and len(batch) < self.BATCH_SIZE:
                    batch.append(self._pending.popleft())
                try:
                    self._send(batch)
                except Exception as err:
                    _points_log.error(
                        "Error writing %d points to %s: %s", len(batch), self._where, err
                    )
                    self._pending.extendleft(reversed(batch))
                    return

    def close(self) -> None:
        """Flush what is batched (at shutdown)."""
        self._closing = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.FLUSH_INTERVAL_S * 5)
        self.flush()
        self._close()


def influx_point(point: Point) -> Any:
    """influxdb-client's ``Point`` of a point (what kre-py hands its writer)."""
    from influxdb_client import Point as InfluxPoint

    influx = InfluxPoint(point.measurement)
    for key, value in point.fields.items():
        influx.field(key, value)
    for key, value in point.tags.items():
        influx.tag(key, value)
    influx.time(point.time, point.precision)
    return influx


class InfluxPoints:
    """Points to InfluxDB at ``KRT_INFLUX_URI``, bucket ``KRT_RUNTIME_ID``, with
    influxdb-client's synchronous writer (the HTTP write API and line protocol kre-py's
    batching writer uses), a batch at a time."""

    def __init__(self, config: NodeSettings) -> None:
        # The client now, as the runner starts (it connects on the first write only): imported
        # on the first flush instead, influxdb-client's import held the GIL on the writer thread
        # for a fraction of a second while the first messages were being handled.
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self._config = config
        self._client: Any = InfluxDBClient(url=config.influx_uri, token="")
        self._write_api: Any = self._client.write_api(write_options=SYNCHRONOUS)

    def send(self, batch: list[Point]) -> None:
        """One write per precision, as influxdb-client groups its ``Point``s; each point's line
        made by :func:`~kedro_krt.node.runner.line_protocol.line` (influxdb-client's own bytes),
        or by influxdb-client's ``Point`` for the values that function leaves to it."""
        by_precision: dict[str, list[Any]] = {}
        for point in batch:
            record: Any = line(
                point.measurement, point.fields, point.tags, point.time, point.precision
            )
            if record is None:
                record = influx_point(point)
            by_precision.setdefault(point.precision, []).append(record)
        for precision, records in by_precision.items():
            self._write_api.write(
                self._config.runtime_id, "", records, write_precision=precision
            )

    def close(self) -> None:
        self._client.close()


def measurement_sink(config: NodeSettings) -> PointSink:
    """InfluxDB, or the local JSON-lines file for a ``file://`` ``KRT_INFLUX_URI``; batched
    (:class:`BatchedPoints`) either way."""
    folder = local_folder(config.influx_uri)
    if folder:
        local = JsonLinesPoints(JsonLines(folder))
        return BatchedPoints(local.write_many, local.close, f"{folder}/measurements.jsonl")
    influx = InfluxPoints(config)
    return BatchedPoints(influx.send, influx.close, "InfluxDB")


def runner_stores(
    config: NodeSettings,
    request: Request,
    logger: logging.Logger,
    tags: Mapping[str, str] | None = None,
) -> Stores:
    """A node's stores under the runner (v1 and v2 alike, kre-py 3 kept kre-py 2's): ``db``
    and ``prediction`` through KRE's mongo-writer, ``measurement`` to InfluxDB, with ``tags``
    added to every point."""

    async def send(doc: dict[str, Any]) -> None:
        payload = json.dumps({"coll": PREDICTION_COLLECTION, "doc": doc}).encode()
        await writer_request(
            request, config.nats_mongo_writer, payload, PREDICTION_SAVE_TIMEOUT_S, logger,
            "metric",
        )

    return Stores(
        db=RunnerDB(config, request, logger),
        prediction=ContextPrediction(config.version, config.version_id, send),
        measurement=ContextMeasurement(measurement_sink(config), config.version, tags),
    )
