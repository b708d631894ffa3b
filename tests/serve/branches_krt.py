"""A small hand-written KRT v2 with two branches joined by the exitpoint, for the engine tests
in-process (tests/serve/test_engine_v2.py) and with --nats (tests/nats/test_nats_branches_v2.py).

    entrypoint -> first -> a ---> exit (joins a and b by request id, as a hand-written node may)
                       \\-> b --/

A request ``{"text", "delay_ms"}``: each branch blocks for ``delay_ms`` and stamps its interval;
the exitpoint answers ``<text>|a[start,end]+<text>|b[start,end]``. Texts that start with
``silent``, ``wrong`` or ``twice`` make the exitpoint send nothing, the wrong type, or two
answers; ``bad`` makes ``first`` refuse the request (InvalidRequest), ``bad-a`` makes branch
``a`` refuse it, and the exitpoint fails on a branch's error as a compiled node does, so the
refusal travels down to the exitpoint's error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kedro_krt.emit.protoc import compile_protos
from kedro_krt.serve.client import call

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
from kedro_krt.node.runtime.errors import InvalidRequest
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
from kedro_krt.node.runtime.errors import InvalidRequest
from public_input_pb2 import Request

async def default_handler(ctx, data):
    request = Request()
    data.Unpack(request)
    if request.text == "bad-a" and NAME == "a":
        raise InvalidRequest("text 'bad-a' is refused by a")
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
    if ctx.is_message_error():
        raise RuntimeError("branch a failed")
    await answer(ctx, joined(ctx, "a", data))

async def from_b(ctx, data):
    if ctx.is_message_error():
        raise RuntimeError("branch b failed")
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


def build_branches_krt(root: Path) -> Path:
    """Write the KRT into ``root`` and compile its proto into every node folder."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "krt.yml").write_text(KRT_YML)
    (root / "public_input.proto").write_text(PROTO)
    codes = {"first": FIRST, "a": BRANCH.replace("NAME", "'a'"),
             "b": BRANCH.replace("NAME", "'b'"), "exit": EXIT}
    for node, code in codes.items():
        (root / "src" / node).mkdir(parents=True)
        (root / "src" / node / "main.py").write_text(code)
        compile_protos({"public_input.proto": PROTO}, root / "src" / node, pyi=False)
    return root


def fork(address: str, text: str, delay_ms: int = 0) -> str:
    reply = call("Fork", json.dumps({"text": text, "delay_ms": delay_ms}), address, timeout=30)
    return str(json.loads(reply)["text"])


def marks(answer: str) -> dict[str, tuple[str, float, float]]:
    """{"a": (text, start, end), "b": ...} from `<text>|a[s,e]+<text>|b[s,e]`."""
    out: dict[str, Any] = {}
    for part in answer.split("+"):
        text, _, rest = part.partition("|")
        name, _, times = rest.partition("[")
        start, end = times.rstrip("]").split(",")
        out[name] = (text, float(start), float(end))
    return out
