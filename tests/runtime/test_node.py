"""`KrtNode` driven by hand on an extracted .krt, the way KRE's Python runner drives it.

Each `src/<node>/main.py` is imported as a module named `worker` with its folder appended to
sys.path (kre-py's contract), `init(None)` runs once, and `await handler(ctx, any)` runs per
message; the test passes each node's output, packed in an Any, to the next node as KRE does.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest
from google.protobuf import any_pb2, json_format
from google.protobuf.message import Message

from kedro_krt.formats.archive import extract_krt
from kedro_krt.node.runtime.context_v1 import KreContext
from kedro_krt.node.runtime.errors import InvalidRequest
from tests.e2e.e2e_helpers import (
    as_parsed,
    assert_same_quotes,
    kedro_reference,
    quotes_frame,
    request_json,
)

NODES = ("etl", "model", "output")


def _load_worker(krt: Path, node: str) -> ModuleType:
    """Import src/<node>/main.py as kre-py does: module `worker`, its folder appended."""
    folder = krt / "src" / node
    sys.path.append(str(folder))
    spec = importlib.util.spec_from_file_location("worker", folder / "main.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def krt(example_krt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return extract_krt(example_krt, tmp_path_factory.mktemp("node") / "krt")


@pytest.fixture(scope="module")
def workers(krt: Path) -> Iterator[dict[str, ModuleType]]:
    before = list(sys.path)
    loaded = {node: _load_worker(krt, node) for node in NODES}
    for module in loaded.values():
        module.init(None)
    yield loaded
    sys.path[:] = before


@pytest.fixture(scope="module")
def ctxs(krt: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, KreContext]:
    state = tmp_path_factory.mktemp("state")
    return {
        node: KreContext(
            version="shuttle-prices", node=node, workflow="inference", base_path=krt,
            state_dir=state,
        )
        for node in NODES
    }


@pytest.fixture(scope="module")
def sample(trained_project: Path) -> pd.DataFrame:
    return as_parsed(pd.read_csv(trained_project / "data" / "01_raw" / "sample_shuttles.csv"))


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _request(workers: dict[str, ModuleType], body: dict[str, Any]) -> Message:
    cls = workers["etl"]._node.input_cls
    return json_format.ParseDict(body, cls())


def _through(
    workers: dict[str, ModuleType], ctxs: dict[str, KreContext], request: Message
) -> Message:
    """The request through etl -> model -> output, each output packed for the next node."""
    message = request
    for node in NODES:
        message = asyncio.run(workers[node].handler(ctxs[node], _pack(message)))
    return message


def test_three_nodes_by_hand_equal_kedro(
    workers: dict[str, ModuleType], ctxs: dict[str, KreContext], sample: pd.DataFrame,
    trained_project: Path,
) -> None:
    reply = _through(workers, ctxs, _request(workers, request_json(sample)))
    assert reply.DESCRIPTOR.full_name == "entrypoint.InferenceResponse"
    assert_same_quotes(quotes_frame(reply), kedro_reference(trained_project, sample))


def test_parameters_travel_to_the_node_that_reads_them(
    workers: dict[str, ModuleType], ctxs: dict[str, KreContext], sample: pd.DataFrame,
    trained_project: Path,
) -> None:
    params = {"output": {"markup": 0.0, "currency": ""}, "model": {"clip_negative": False}}
    reply = _through(workers, ctxs, _request(workers, request_json(sample, params)))
    assert_same_quotes(quotes_frame(reply), kedro_reference(trained_project, sample, params))
    assert set(quotes_frame(reply)["currency"]) == {""}


def test_unpacking_into_the_wrong_class_is_refused(
    workers: dict[str, ModuleType], ctxs: dict[str, KreContext], sample: pd.DataFrame
) -> None:
    request = _request(workers, request_json(sample))
    # The model node expects InferenceEtlOutput: an InferenceRequest must not decode as empty.
    with pytest.raises(InvalidRequest, match=r"InferenceEtlOutput.*InferenceRequest"):
        asyncio.run(workers["model"].handler(ctxs["model"], _pack(request)))
    with pytest.raises(InvalidRequest, match="empty Any"):
        asyncio.run(workers["etl"].handler(ctxs["etl"], any_pb2.Any()))


def test_bytes_of_another_type_under_the_right_type_url_are_refused(
    workers: dict[str, ModuleType], ctxs: dict[str, KreContext], sample: pd.DataFrame
) -> None:
    reply = _through(workers, ctxs, _request(workers, request_json(sample)))
    forged = any_pb2.Any(
        type_url="type.googleapis.com/entrypoint.InferenceRequest",
        value=reply.SerializeToString(),
    )
    with pytest.raises(InvalidRequest, match=r"shuttles\[0\].*another message type"):
        asyncio.run(workers["etl"].handler(ctxs["etl"], forged))


def test_missing_timestamp_is_an_invalid_request(
    workers: dict[str, ModuleType], ctxs: dict[str, KreContext], sample: pd.DataFrame
) -> None:
    body = request_json(sample)
    del body["shuttles"][0]["launched_at"]
    with pytest.raises(InvalidRequest, match="row 0 has no 'launched_at'"):
        asyncio.run(workers["etl"].handler(ctxs["etl"], _pack(_request(workers, body))))


#: (seconds, nanos, what the refusal says) of launched_at values no node can decode.
BAD = {
    "seconds 2**63-1": (2**63 - 1, 0, "Seconds 9223372036854775807 must be in range"),
    "year 10000": (253_402_300_800, 0, "must be in range [-62135596800, 253402300799]"),
    "nanos -1": (1_600_000_000, -1, "Nanos -1 must be in range [0, 999999999]"),
    "nanos 10**9": (1_600_000_000, 10**9, "Nanos 1000000000 must be in range [0, 999999999]"),
    "year 1500": (-14_831_769_600, 0, "outside the range of pandas' nanosecond timestamps"),
}


def test_out_of_range_launched_at_is_an_invalid_request_and_leaves_nothing_behind(
    workers: dict[str, ModuleType], ctxs: dict[str, KreContext], sample: pd.DataFrame
) -> None:
    # Before, seconds = 2**63-1 crashed the etl node ("Python int too large to convert to C
    # long": INTERNAL) and year 10000 or nanos = -1 went through silently.
    valid = _request(workers, request_json(sample))
    before = _through(workers, ctxs, valid).SerializeToString()
    for case, (seconds, nanos, says) in BAD.items():
        request = _request(workers, request_json(sample))
        request.shuttles[1].launched_at.seconds = seconds
        request.shuttles[1].launched_at.nanos = nanos
        with pytest.raises(InvalidRequest) as info:
            asyncio.run(workers["etl"].handler(ctxs["etl"], _pack(request)))
        text = str(info.value)
        assert "InferenceRequest.shuttles: row 1, column 'launched_at'," in text, (case, text)
        assert says in text, (case, text)
    # The valid sample still answers, byte for byte as before.
    assert _through(workers, ctxs, valid).SerializeToString() == before


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            stat = path.stat()
            out[str(path.relative_to(folder))] = (stat.st_mtime_ns, stat.st_size)
    return out


def test_no_file_written_and_no_artifact_copied_per_message(
    workers: dict[str, ModuleType], ctxs: dict[str, KreContext], krt: Path,
    sample: pd.DataFrame, monkeypatch: pytest.MonkeyPatch,
) -> None:
    request = _request(workers, request_json(sample, {"output": {"markup": 0.2}}))
    _through(workers, ctxs, request)  # warm: lazy imports may write __pycache__ once
    before = _listing(krt)

    model = workers["model"]._node._session._shared["price_model"]
    seen: list[int] = []
    original = type(model).predict

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(id(self))
        return original.__get__(self, type(self))(*args, **kwargs)

    monkeypatch.setattr(type(model), "predict", spy)
    replies = [_through(workers, ctxs, request).SerializeToString() for _ in range(20)]

    assert _listing(krt) == before
    assert seen == [id(model)] * 20, "the model passed to predict_price is not the shared one"
    assert len(set(replies)) == 1


def test_init_with_a_kre_context_finds_the_project_by_ctx_path(
    krt: Path, ctxs: dict[str, KreContext], sample: pd.DataFrame,
    workers: dict[str, ModuleType],
) -> None:
    # A second worker of the same node, started with KRE's ctx (ctx.path("") is the KRT root).
    worker = _load_worker(krt, "etl")
    try:
        worker.init(ctxs["etl"])
        request = _request(workers, request_json(sample))
        out = asyncio.run(worker.handler(ctxs["etl"], _pack(request)))
        expected = asyncio.run(workers["etl"].handler(ctxs["etl"], _pack(request)))
        assert out == expected
    finally:
        sys.path.remove(str(krt / "src" / "etl"))


def test_a_node_decodes_only_what_its_kedro_nodes_read(workers: dict[str, ModuleType]) -> None:
    # `model` reads the features; the request rows and the parameters only pass through it to
    # `output`: they are relayed as bytes, never turned into a DataFrame and encoded again.
    model = workers["model"]._node
    decoded = {f.original for f in model._decoder.fields}
    relayed = {name for name, _, _ in model._relay.fields}
    assert decoded == {"etl.features", "parameters"}  # parameters: clip_negative is read here
    assert relayed == {"shuttles", "parameters"}
    etl = workers["etl"]._node
    assert {name for name, _, _ in etl._relay.fields} == {"shuttles", "parameters"}
    assert {f.original for f in etl._encoder.fields} == {"etl.features"}
