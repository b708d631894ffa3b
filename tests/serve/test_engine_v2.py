"""The in-process engine on a KRT v2 (tests/serve/branches_krt.py), over real gRPC: branches,
joins, interleaved requests and the answers KRE's entrypoint gives (kre-entrypoint 3.3.6:
``src/kre_entrypoint.py``, the first exitpoint message of a request answers; an ``error`` in it
is INTERNAL)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from kedro_krt.serve.client import CallError
from tests.serve.branches_krt import build_branches_krt, fork, marks
from tests.serve.serve_helpers import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = build_branches_krt(tmp_path_factory.mktemp("branches") / "krt")
    proc = ServerProcess(root, tmp_path_factory.mktemp("branches-run"), "--timeout", "20")
    proc.wait_status("SERVING", timeout=60)
    yield proc
    proc.kill()


def test_the_exitpoint_joins_both_branches_which_overlap(server: Any) -> None:
    got = marks(fork(server.address, "hello", delay_ms=400))
    assert got["a"][0] == got["b"][0] == "hello"
    # each branch node runs on its own thread: the two blocking handlers overlap in time
    assert max(got["a"][1], got["b"][1]) < min(got["a"][2], got["b"][2]), got


def test_interleaved_requests_are_not_mixed(server: Any) -> None:
    answers: dict[str, str] = {}

    def one(index: int) -> None:
        answers[f"r{index}"] = fork(server.address, f"r{index}", delay_ms=(index * 37) % 120)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(answers) == sorted(f"r{i}" for i in range(8))
    for text, answer in answers.items():
        got = marks(answer)
        assert got["a"][0] == got["b"][0] == text, answer


def test_the_first_exitpoint_message_answers(server: Any) -> None:
    assert fork(server.address, "twice") == "one"


def test_an_exitpoint_that_sends_nothing_fails_at_once(server: Any) -> None:
    with pytest.raises(CallError) as caught:
        fork(server.address, "silent")
    assert caught.value.code == "INTERNAL"
    assert "finished without a message from its exitpoint 'exit'" in caught.value.details


def test_the_wrong_response_type_is_named(server: Any) -> None:
    with pytest.raises(CallError) as caught:
        fork(server.address, "wrong")
    assert caught.value.code == "INTERNAL"
    assert "sent entrypoint.Request, expected entrypoint.Response" in caught.value.details


def test_a_refused_request_is_invalid_argument(server: Any) -> None:
    with pytest.raises(CallError) as caught:
        fork(server.address, "bad")
    assert caught.value.code == "INVALID_ARGUMENT"
    assert "text 'bad' is refused" in caught.value.details


def test_a_refusal_after_the_first_node_travels_down_to_the_exitpoint(server: Any) -> None:
    """Branch ``a`` refuses; the exitpoint fails on a's error (as a compiled node does). The
    caller gets the refusal, INVALID_ARGUMENT, as under --nats (tests/nats/test_nats_branches_v2.py)
    where our runners carry it after KRE's error envelope."""
    with pytest.raises(CallError) as caught:
        fork(server.address, "bad-a")
    assert (caught.value.code, caught.value.details) == (
        "INVALID_ARGUMENT", "text 'bad-a' is refused by a"
    )
