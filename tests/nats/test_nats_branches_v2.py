"""`serve --nats` of a KRT v2 with two branches (tests/serve/branches_krt.py): what the
in-process engine does (tests/serve/test_engine_v2.py) on KRE 8's topology, one runner process
per node; and what only differs there, as in KRE (kre-entrypoint 3.3.6 waits for the exitpoint
until its timeout).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from kedro_krt.serve.client import CallError
from tests.serve.branches_krt import build_branches_krt, fork, marks

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path, start_nats_server: Any) -> Any:
    root = build_branches_krt(tmp_path / "krt")
    return start_nats_server(root, "--timeout", "4")


def test_branches_joins_and_answers_under_nats(server: Any) -> None:
    # the two branches are processes: their blocking handlers overlap in time
    got = marks(fork(server.address, "hello", delay_ms=400))
    assert got["a"][0] == got["b"][0] == "hello"
    assert max(got["a"][1], got["b"][1]) < min(got["a"][2], got["b"][2]), got

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

    assert fork(server.address, "twice") == "one"
    # A branch's refusal travels down with the errors (our runners add it after KRE's error
    # envelope) to the exitpoint's error: INVALID_ARGUMENT, as in-process.
    with pytest.raises(CallError) as caught:
        fork(server.address, "bad-a")
    assert (caught.value.code, caught.value.details) == (
        "INVALID_ARGUMENT", "text 'bad-a' is refused by a"
    )
    with pytest.raises(CallError) as caught:
        fork(server.address, "wrong")
    assert caught.value.code == "INTERNAL"
    assert "sent entrypoint.Request, expected entrypoint.Response" in caught.value.details

    # KRE's caller waits for an exitpoint that sends nothing; the timeout names where the
    # request was: the nodes subscribed to the last subject it reached.
    with pytest.raises(CallError) as caught:
        fork(server.address, "silent")
    assert caught.value.code == "DEADLINE_EXCEEDED"
    assert "(node 'exit' was running)" in caught.value.details
