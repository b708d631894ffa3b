"""The in-process engine on a KRT v2, over real gRPC: branches, joins, interleaved requests and
the answers KRE's entrypoint gives (kre-entrypoint 3.3.6: ``src/kre_entrypoint.py``, the first
exitpoint message of a request answers; an ``error`` in it is INTERNAL).

    entrypoint -> first -> a ---> exit (joins a and b by request id, as a hand-written node may)
                       \\-> b --/
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from serve_helpers import ServerProcess

from kedro_krt.schema.protoc import compile_protos
from kedro_krt.serve.client import CallError, call

pytestmark = pytest.mark.slow

KRT_YML = """\
version: branches
krtVersion: v2
description: two branches joined by the exitpoint
entrypoint:
  proto: public_input.proto
  image: konstellation/kre-entrypoint:3.3.6
workflows:
  - name: fork
    entrypoint: Fork
    exitpoint: exit
    nodes:
      - name: first
        image: konstellation/kre-py:3.4.1
        src: src/first/main.py
        subscriptions: [entrypoint]
      - name: a
        image: konstellation/kre-py:3.4.1
        src: src/a/main.py
        subscriptions: [first]
      - name: b
        image: konstellation/kre-py:3.4.1
        src: src/b/main.py
        subscriptions: [first]
      - name: exit
        image: konstellation/kre-py:3.4.1
        src: src/exit/main.py
        subscriptions: [a, b]
"""

PROTO = """\
syntax = "proto3";
package entrypoint;
message Request { string text = 1; int32 delay_ms = 2; }
message Response { string text = 1; }
service Entrypoint { rpc Fork (Request) returns (Response) {}; }
"""

FIRST = """
from kedro_krt.runtime.errors import InvalidRequest
from public_input_pb2 import Request

async def default_handler(ctx, data):
    request = Request()
    data.Unpack(request)
    if request.text == "bad":
        raise InvalidRequest("text 'bad' is refused")
    await ctx.send_output(request)
"""

BRANCH = """
import time
from public_input_pb2 import Request

async def default_handler(ctx, data):
    request = Request()
    data.Unpack(request)
    start = time.time()
    time.sleep(request.delay_ms / 1000)  # blocking, as CPU-bound node code is
    mark = f"{request.text}|{NAME}[{start:.4f},{time.time():.4f}]"
    await ctx.send_output(Request(text=mark))
"""

EXIT = """
from public_input_pb2 import Request, Response

def init(ctx):
    ctx.set("pending", {})

def joined(ctx, origin, data):
    request = Request()
    data.Unpack(request)
    pending = ctx.get("pending").setdefault(ctx.get_request_id(), {})
    pending[origin] = request.text
    if len(pending) < 2:
        return None
    del ctx.get("pending")[ctx.get_request_id()]
    return pending["a"] + "+" + pending["b"]

async def from_a(ctx, data):
    await answer(ctx, joined(ctx, "a", data))

async def from_b(ctx, data):
    await answer(ctx, joined(ctx, "b", data))

async def answer(ctx, text):
    if text is None:
        return
    if text.startswith("silent"):
        return
    if text.startswith("wrong"):
        await ctx.send_output(Request(text="not a response"))
        return
    if text.startswith("twice"):
        await ctx.send_output(Response(text="one"))
        await ctx.send_output(Response(text="two"))
        return
    await ctx.send_output(Response(text=text))

custom_handlers = {"a": from_a, "b": from_b}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("branches")
    (root / "krt.yml").write_text(KRT_YML)
    (root / "public_input.proto").write_text(PROTO)
    codes = {"first": FIRST, "a": BRANCH.replace("NAME", "'a'"),
             "b": BRANCH.replace("NAME", "'b'"), "exit": EXIT}
    for node, code in codes.items():
        (root / "src" / node).mkdir(parents=True)
        (root / "src" / node / "main.py").write_text(code)
        compile_protos({"public_input.proto": PROTO}, root / "src" / node, pyi=False)
    proc = ServerProcess(root, tmp_path_factory.mktemp("branches-run"), "--timeout", "20")
    proc.wait_status("SERVING", timeout=60)
    yield proc
    proc.kill()


def fork(server: Any, text: str, delay_ms: int = 0) -> str:
    reply = call(
        "Fork", json.dumps({"text": text, "delay_ms": delay_ms}), server.address, timeout=30
    )
    return str(json.loads(reply)["text"])


def marks(answer: str) -> dict[str, tuple[str, float, float]]:
    """{"a": (text, start, end), "b": ...} from `<text>|a[s,e]+<text>|b[s,e]`."""
    out = {}
    for part in answer.split("+"):
        text, _, rest = part.partition("|")
        name, _, times = rest.partition("[")
        start, end = times.rstrip("]").split(",")
        out[name] = (text, float(start), float(end))
    return out


def test_the_exitpoint_joins_both_branches_which_overlap(server: Any) -> None:
    got = marks(fork(server, "hello", delay_ms=400))
    assert got["a"][0] == got["b"][0] == "hello"
    # each branch node runs on its own thread: the two blocking handlers overlap in time
    assert max(got["a"][1], got["b"][1]) < min(got["a"][2], got["b"][2]), got


def test_interleaved_requests_are_not_mixed(server: Any) -> None:
    answers: dict[str, str] = {}

    def one(index: int) -> None:
        answers[f"r{index}"] = fork(server, f"r{index}", delay_ms=(index * 37) % 120)

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
    assert fork(server, "twice") == "one"


def test_an_exitpoint_that_sends_nothing_fails_at_once(server: Any) -> None:
    with pytest.raises(CallError) as caught:
        fork(server, "silent")
    assert caught.value.code == "INTERNAL"
    assert "finished without a message from its exitpoint 'exit'" in caught.value.details


def test_the_wrong_response_type_is_named(server: Any) -> None:
    with pytest.raises(CallError) as caught:
        fork(server, "wrong")
    assert caught.value.code == "INTERNAL"
    assert "sent entrypoint.Request, expected entrypoint.Response" in caught.value.details


def test_a_refused_request_is_invalid_argument(server: Any) -> None:
    with pytest.raises(CallError) as caught:
        fork(server, "bad")
    assert caught.value.code == "INVALID_ARGUMENT"
    assert "text 'bad' is refused" in caught.value.details
