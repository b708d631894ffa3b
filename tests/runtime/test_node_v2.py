"""KRT v2 nodes of the example, driven by hand as kre-py 3 drives them, and their joins.

The join (kedro_krt/node/runtime/join.py) is tested alone on real protobuf messages. Then the
example compiled with ``--krt-version v2`` is extracted and its four nodes are driven in a
process of their own by :mod:`v2_bus` (why a process of their own, and how kre-py 3.4.1's
contract is kept, is said there): interleaved requests, an upstream error, a message of the
wrong type. The replies are compared with Kedro's own run here, and with v1's over gRPC in
tests/e2e/test_krt_v2_acceptance.py.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing as mp
import random
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from google.protobuf import any_pb2, wrappers_pb2

from kedro_krt.formats.archive import extract_krt
from kedro_krt.node.runtime.context_v2 import ERROR, OK
from kedro_krt.node.runtime.join import RequestJoin, join_settings
from tests.e2e.e2e_helpers import as_parsed, assert_same_quotes, kedro_reference, request_json
from tests.runtime import v2_bus


def _any(value: str) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(wrappers_pb2.StringValue(value=value))
    return packed


# -- the join alone --------------------------------------------------------------------------


def test_interleaved_requests_are_joined_each_with_its_own_messages() -> None:
    join = RequestJoin(["entrypoint", "left", "right"], node="join")
    arrivals = [
        (f"r{i}", source, _any(f"{source}-of-r{i}"))
        for i in range(40)
        for source in ("entrypoint", "left", "right")
    ]
    random.Random(7).shuffle(arrivals)
    done: dict[str, dict[str, Any]] = {}
    for request_id, source, message in arrivals:
        joined = join.add(request_id, source, message)
        if joined is not None:
            assert request_id not in done, "a request was completed twice"
            done[request_id] = joined
    assert sorted(done) == sorted(f"r{i}" for i in range(40))
    for request_id, joined in done.items():
        assert list(joined) == ["entrypoint", "left", "right"]
        for source, message in joined.items():
            value = wrappers_pb2.StringValue()
            assert message.Unpack(value)
            assert value.value == f"{source}-of-{request_id}"
    assert len(join) == 0


def test_at_most_max_pending_requests_wait_and_the_oldest_goes_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    join = RequestJoin(["a", "b"], node="n", max_pending=3)
    with caplog.at_level(logging.WARNING):
        for i in range(5):
            assert join.add(f"r{i}", "a", _any("x")) is None
    assert join.pending() == ["r2", "r3", "r4"]
    assert join.evicted == 2
    assert "node 'n' dropped request r0 (more than 3 requests waiting)" in caplog.text
    assert "it had messages from a, none from b" in caplog.text
    # A late message of an evicted request starts over; the others still join.
    assert join.add("r4", "b", _any("y")) is not None


def test_a_request_waits_no_longer_than_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    join = RequestJoin(["a", "b"], node="n", timeout=0.2)
    join.add("old", "a", _any("x"))
    time.sleep(0.3)
    with caplog.at_level(logging.WARNING):
        assert join.add("new", "a", _any("x")) is None  # every arrival expires the old ones
    assert join.pending() == ["new"]
    assert "dropped request old (waited more than 0.2 s)" in caplog.text
    time.sleep(0.3)
    assert join.expire() == 1 and len(join) == 0


def test_redelivery_keeps_the_later_message_and_unknown_sources_are_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    join = RequestJoin(["a", "b"], node="n")
    join.add("r", "a", _any("first"))
    with caplog.at_level(logging.WARNING):
        join.add("r", "a", _any("second"))
    assert "a second message from 'a' for request r" in caplog.text
    joined = join.add("r", "b", _any("b"))
    assert joined is not None
    value = wrappers_pb2.StringValue()
    joined["a"].Unpack(value)
    assert value.value == "second"
    with pytest.raises(ValueError, match="does not subscribe to"):
        join.add("r", "c", _any("c"))
    assert join.discard("nothing", "test") is False


def test_join_settings_come_from_the_environment() -> None:
    assert join_settings({}) == (1000, 60.0)
    env = {"KEDRO_KRT_JOIN_MAX_PENDING": "10", "KEDRO_KRT_JOIN_TIMEOUT": "2.5"}
    assert join_settings(env) == (10, 2.5)
    with pytest.raises(ValueError, match="KEDRO_KRT_JOIN_TIMEOUT='soon'"):
        join_settings({"KEDRO_KRT_JOIN_TIMEOUT": "soon"})


# -- the compiled example as v2 (in a process of its own, see v2_bus.py) ----------------------


@pytest.fixture(scope="module")
def sample(trained_project: Path) -> pd.DataFrame:
    return as_parsed(pd.read_csv(trained_project / "data" / "01_raw" / "sample_shuttles.csv"))


CASES: dict[str, tuple[Any, dict[str, Any] | None]] = {
    "plain": (None, None),
    "params": (None, {"output": {"markup": 0.5}, "model": {"clip_negative": False}}),
    "head": (3, None),
    "tail": (-4, {"output": {"currency": "EUR"}}),
}


def _rows(sample: pd.DataFrame, cut: Any) -> pd.DataFrame:
    if cut is None:
        return sample
    rows = sample.head(cut) if cut > 0 else sample.tail(-cut)
    return rows.reset_index(drop=True)


@pytest.fixture(scope="module")
def scenarios(
    example_krt_v2: Path, tmp_path_factory: pytest.TempPathFactory, sample: pd.DataFrame
) -> dict[str, Any]:
    krt = extract_krt(example_krt_v2, tmp_path_factory.mktemp("node-v2") / "krt")
    requests = {rid: request_json(_rows(sample, cut), p) for rid, (cut, p) in CASES.items()}
    bad = request_json(sample)
    del bad["shuttles"][0]["launched_at"]  # etl refuses it
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(v2_bus.run_scenarios, str(krt), requests, bad).result(timeout=600)


def test_the_compiled_nodes_keep_kre_py_3s_contract(scenarios: dict[str, Any]) -> None:
    contract = scenarios["contract"]
    assert set(contract) == {"etl", "model", "output", "exitpoint"}
    assert contract["etl"]["custom"] == ["entrypoint"]
    assert contract["model"]["custom"] == ["entrypoint", "etl"]
    assert contract["output"]["custom"] == ["entrypoint", "model"]
    assert contract["exitpoint"]["custom"] == ["output"]
    # The exitpoint copies the response's table from output's message as bytes, undecoded.
    assert contract["exitpoint"]["relayed"] == ["quotes"]
    assert contract["model"]["relayed"] == []
    for node in contract.values():
        assert node["init"] and node["default_is_async"]
        assert not node["has_v1_handler"]  # kre-py 3 calls no v1 handler


def test_interleaved_requests_each_answer_as_kedro_runs_them(
    scenarios: dict[str, Any], sample: pd.DataFrame, trained_project: Path
) -> None:
    answers = scenarios["interleaved"]
    assert sorted(answers) == sorted(CASES)
    for rid, (cut, params) in CASES.items():
        answer = answers[rid]
        assert answer["type"] == OK and not answer["error"], answer["error"]
        assert_same_quotes(
            _quotes(answer["reply"]), kedro_reference(trained_project, _rows(sample, cut), params)
        )
    assert set(scenarios["pending_after"].values()) == {0}, "a node kept a request"


def test_an_upstream_error_reaches_the_exitpoint_and_frees_the_joins(
    scenarios: dict[str, Any],
) -> None:
    bad, good = scenarios["errors"]["bad"], scenarios["errors"]["good"]
    assert bad["type"] == ERROR
    assert bad["error"].startswith("Error in node 'exitpoint' executing handler for node 'output'")
    assert "row 0 has no 'launched_at'" in bad["error"]
    assert good["type"] == OK
    assert set(scenarios["pending_after_errors"].values()) == {0}, "a node kept the failed one"


def test_a_message_of_the_wrong_type_from_an_upstream_is_refused(
    scenarios: dict[str, Any],
) -> None:
    error = scenarios["wrong_type"]["odd"]["error"]
    assert "expects a entrypoint.InferenceRequest from 'entrypoint'" in error


def _quotes(reply: dict[str, Any]) -> pd.DataFrame:
    """The quotes of a reply as proto3 JSON (every field printed), as quotes_frame gives them."""
    columns = ["shuttle_id", "price", "price_band", "currency"]
    return pd.DataFrame(reply.get("quotes", []), columns=columns)
