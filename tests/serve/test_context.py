"""KreContext in-process: KRE's API and its validation, backed by local files."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
from pathlib import Path

import pytest

from kedro_krt.node.runtime.context_base import make_logger
from kedro_krt.node.runtime.context_v1 import KreContext, RequestState


@pytest.fixture
def ctx(tmp_path: Path) -> KreContext:
    return KreContext(
        version="v1", node="etl", workflow="wf", base_path=tmp_path / "krt", state_dir=tmp_path
    )


def test_path_joins_the_krt_base(ctx: KreContext, tmp_path: Path) -> None:
    assert ctx.path("models/m.pkl") == str(tmp_path / "krt" / "models" / "m.pkl")


def test_set_get_and_missing_key(ctx: KreContext) -> None:
    ctx.set("model", [1, 2])
    bound = ctx.for_request(RequestState(None))
    assert bound.get("model") == [1, 2]  # shared with the per-request copies
    bound.set("other", 3)
    assert ctx.get("other") == 3
    with pytest.raises(AttributeError, match="nothing was stored under this key"):
        ctx.get("missing")


def test_db_save_and_find(ctx: KreContext, tmp_path: Path) -> None:
    async def run() -> list[dict]:
        await ctx.db.save("people", {"name": "a", "age": 1, "address": {"city": "x"}})
        await ctx.db.save("people", {"name": "b", "age": 1, "tags": ["t1", "t2"]})
        assert len(await ctx.db.find("people", {"age": 1})) == 2
        assert [d["name"] for d in await ctx.db.find("people", {"address.city": "x"})] == ["a"]
        assert [d["name"] for d in await ctx.db.find("people", {"tags": "t2"})] == ["b"]
        with pytest.raises(Exception, match="must be a nonempty dict"):
            await ctx.db.find("people", {})
        with pytest.raises(Exception, match="must be a nonempty string"):
            await ctx.db.save("", {})
        return await ctx.db.find("people", {"name": "a"})

    found = asyncio.run(run())
    assert found[0]["_id"] and found[0]["age"] == 1
    assert len((tmp_path / "db" / "people.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"predicted_value": "", "true_value": "x"}, "invalid 'predicted_value'=''"),
        ({"predicted_value": 1, "true_value": "x"}, "invalid 'predicted_value'='1'"),
        ({"predicted_value": "x", "true_value": ""}, "invalid 'true_value'=''"),
        ({"error": "oops"}, "should be one of 'missing_values,new_labels'"),
        (
            {"predicted_value": "x", "true_value": "y",
             "utcdate": dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))},
            "Input date must be a UTC datetime",
        ),
    ],
)
def test_prediction_save_validation(ctx: KreContext, kwargs: dict, message: str) -> None:
    with pytest.raises(Exception, match=re.escape(message)):
        asyncio.run(ctx.prediction.save(**kwargs))


def test_prediction_save_writes_kre_document(ctx: KreContext, tmp_path: Path) -> None:
    when = dt.datetime(2024, 1, 2, 3, 4, 5, 600000)
    asyncio.run(ctx.prediction.save("cat", "dog", extra={"k": 1}, utcdate=when))
    asyncio.run(ctx.prediction.save(error="missing_values"))
    docs = [
        json.loads(line)
        for line in (tmp_path / "db" / "classificationMetrics.jsonl").read_text().splitlines()
    ]
    assert docs[0]["date"] == "2024-01-02T03:04:05.600000Z"
    assert {k: docs[0][k] for k in ("predictedValue", "trueValue", "extra", "versionName")} == {
        "predictedValue": "cat", "trueValue": "dog", "extra": {"k": 1}, "versionName": "v1"
    }
    assert docs[1]["error"] == "missing_values"


def test_measurement_adds_the_version_tag(ctx: KreContext, tmp_path: Path) -> None:
    ctx.measurement.save("latency", {"ms": 3.5}, {"node": "etl"})
    point = json.loads((tmp_path / "measurements.jsonl").read_text())
    assert point["tags"] == {"node": "etl", "version": "v1"} and point["fields"] == {"ms": 3.5}


def test_reply_once_and_only_in_a_request(ctx: KreContext) -> None:
    got: list[object] = []

    async def reply(message: object) -> None:
        got.append(message)

    async def run() -> None:
        bound = ctx.for_request(RequestState(reply))
        await bound.early_reply("first")  # type: ignore[arg-type]
        with pytest.raises(Exception, match="replied previously"):
            await bound.reply("second")  # type: ignore[arg-type]
        with pytest.raises(RuntimeError, match="only be called inside handler"):
            await ctx.reply("x")  # type: ignore[arg-type]

    asyncio.run(run())
    assert got == ["first"]


def test_logger_name_and_format(capsys: pytest.CaptureFixture[str]) -> None:
    logger = make_logger("v9", "node-x")
    assert logger.name == "v9-node-x"
    handler = logger.handlers[0]
    record = logging.LogRecord("v9-node-x", logging.INFO, __file__, 1, "hello", None, None)
    line = handler.format(record)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO hello", line)
    make_logger("v9", "node-x")
    assert len(logger.handlers) == 1  # loading a node twice does not double its lines


_KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from kedro_krt.node.runtime.context_base import JsonLines, JsonLinesPoints, ContextMeasurement
folder = Path(sys.argv[1])
measurement = ContextMeasurement(JsonLinesPoints(JsonLines(folder)), "v1")
db = JsonLines(folder / "db")
for n in range(200):
    measurement.save("node_elapsed_time", {"n": n}, {"node": "a"})
    db.append("things", {"n": n})
os.kill(os.getpid(), signal.SIGKILL)  # as a runner killed mid-run: no close, no flush
"""


@pytest.mark.integration
def test_json_lines_keep_every_record_of_a_killed_process(tmp_path: Path) -> None:
    """The stores keep their files open between records (no open per record) and write each
    record at once: a process killed without closing them has lost none."""
    import signal
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(tmp_path)], check=False)
    assert done.returncode == -signal.SIGKILL
    points = [json.loads(x) for x in (tmp_path / "measurements.jsonl").read_text().splitlines()]
    things = [json.loads(x) for x in (tmp_path / "db" / "things.jsonl").read_text().splitlines()]
    assert [p["fields"]["n"] for p in points] == list(range(200))
    assert [t["n"] for t in things] == list(range(200))


def test_json_lines_append_after_close_and_share_a_file(tmp_path: Path) -> None:
    """Two stores on one folder (two processes' workers) append whole lines to one file, a
    record is readable as soon as it is appended, and a closed store opens its file again."""
    from kedro_krt.node.runtime.context_base import JsonLines

    first, second = JsonLines(tmp_path), JsonLines(tmp_path)
    first.append("c", {"n": 1})
    assert second.read("c") == [{"n": 1}]
    second.append("c", {"n": 2})
    first.close()
    first.append("c", {"n": 3})
    first.close()
    second.close()
    assert first.read("c") == [{"n": 1}, {"n": 2}, {"n": 3}]
