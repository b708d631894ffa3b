"""A trivial one-node KRT, written by hand, to price the serving paths without user work.

    python -m benchmarks.trivial --dest DIR

writes ``DIR/krt`` (``krt.yml``, ``public_input.proto`` with a tiny ``Request``/``Response`` and
rpc ``Inference``, ``src/echo/main.py`` whose async handler unpacks the ``Any`` and answers a
``Response`` with the same text, the proto compiled into the node folder with
:func:`kedro_krt.emit.protoc.compile_protos`, as KRT authors do) and ``DIR/request.bin``
(the serialised request), and prints ``{"krt_dir": ..., "request_file": ..., "response_json":
...}``. A process of its own: the trivial ``public_input.proto`` must not meet the example's in
one descriptor pool.

``kedro-krt serve DIR/krt`` serves it (a folder is accepted), in process or with ``--nats``; the
echo server gets ``--krt-dir DIR/krt --response-json ...`` and answers the same bytes the node
does, so the three paths differ only in what carries the request.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.common import emit

NODE = "echo"
TEXT = "ping"

KRT_YML = f"""\
# Bench-only: one node that answers its request, nothing else.
version: trivial-v1
description: One-node KRT without user work (kedro-krt benchmarks)
entrypoint:
  proto: public_input.proto
  image: konstellation/kre-entrypoint:1.8.1
nodes:
  - name: {NODE}
    image: konstellation/kre-py:2.1.5
    src: src/{NODE}/main.py
workflows:
  - name: trivial
    entrypoint: Inference
    sequential: [{NODE}]
"""

PROTO = """\
syntax = "proto3";

package entrypoint;

message Request {
  string text = 1;
}

message Response {
  string text = 1;
}

service Entrypoint {
  rpc Inference (Request) returns (Response) {};
}
"""

MAIN_PY = '''\
"""The only node of the trivial KRT: unpack the request, answer its text."""

from public_input_pb2 import Request, Response


async def handler(ctx, data):
    req = Request()
    data.Unpack(req)
    return Response(text=req.text)
'''


def build(dest: Path) -> dict[str, str]:
    """Write the KRT folder and the request; what the bench needs to use them."""
    from kedro_krt.emit.protoc import compile_protos, import_generated

    root = dest / "krt"
    node = root / "src" / NODE
    node.mkdir(parents=True, exist_ok=True)
    (root / "krt.yml").write_text(KRT_YML, encoding="utf-8")
    (root / "public_input.proto").write_text(PROTO, encoding="utf-8")
    (node / "main.py").write_text(MAIN_PY, encoding="utf-8")
    compile_protos({"public_input.proto": PROTO}, node, pyi=False)
    pb2 = import_generated(node / "public_input_pb2.py")
    request = dest / "request.bin"
    request.write_bytes(pb2.Request(text=TEXT).SerializeToString())
    return {
        "krt_dir": str(root),
        "request_file": str(request),
        "response_json": json.dumps({"text": TEXT}),
    }


def main() -> None:
    """Build the trivial KRT under ``--dest``; print where it is as JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--dest", type=Path, required=True)
    args = parser.parse_args()
    emit(build(args.dest))


if __name__ == "__main__":
    main()
