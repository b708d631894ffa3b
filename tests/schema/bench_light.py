"""Codec speed on the light request: what one message of the bench's light pipeline costs.

The example's one-row request table (11 columns, ``scripts/generate_data.py``) decoded, the
one-row reply table (``price``) encoded, and a one-row float Series (what the light
pipeline's nodes hand on) encoded and decoded. Each figure is the best of several batches, in
microseconds per call. Run with any installed pandas / protobuf (not collected by pytest)::

    .venv/bin/python tests/schema/bench_light.py
    .venv-lowest/bin/python tests/schema/bench_light.py   # the declared floors (make test-lowest)
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import google.protobuf
import numpy as np
import pandas as pd

from kedro_krt.emit.proto import render_proto
from kedro_krt.emit.protoc import compile_protos, import_generated
from kedro_krt.node.schema.codec import MessageCodec
from kedro_krt.node.schema.infer import infer_type
from kedro_krt.node.schema.types import Field, Message

REPO = Path(__file__).resolve().parents[2]


def request_frame() -> pd.DataFrame:
    """The example project's one-row request, as its data script makes it (price dropped)."""
    path = REPO / "example_project" / "scripts" / "generate_data.py"
    spec = importlib.util.spec_from_file_location("_generate_data", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_shuttles(1, 0).drop(columns="price")


def per_call(f: Callable[[], Any], calls: int = 1000, batches: int = 25) -> float:
    """Best batch's time per call, in microseconds."""
    best = float("inf")
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(calls):
            f()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best * 1e6


def main() -> None:
    df = request_frame()
    reply = pd.Series([1234.5]).round(2).to_frame("price")
    seats = pd.Series([7.0], name="seats")
    req_t, reply_t = infer_type(df), infer_type(reply)
    seats_t = infer_type(seats)
    assert req_t is not None and reply_t is not None and seats_t is not None
    req = Message("Req", (Field("shuttles", "shuttles", req_t, 1),))
    rep = Message("Rep", (Field("quotes", "quotes", reply_t, 1),))
    hop = Message("Hop", (Field("seats", "seats", seats_t, 1),))
    with tempfile.TemporaryDirectory() as tmp:
        compile_protos({"light.proto": render_proto([req, rep, hop])}, Path(tmp))
        module = import_generated(Path(tmp) / "light_pb2.py", "light_pb2")
    req_c = MessageCodec(module.Req, req.fields)
    rep_c = MessageCodec(module.Rep, rep.fields)
    hop_c = MessageCodec(module.Hop, hop.fields)
    req_msg = req_c.encode({"shuttles": df})
    pd.testing.assert_frame_equal(req_c.decode(req_msg)["shuttles"], df)
    hop_msg = hop_c.encode({"seats": seats})
    pd.testing.assert_series_equal(hop_c.decode(hop_msg)["seats"], seats)

    rows = {
        "request decode (1 row, 11 columns)": per_call(lambda: req_c.decode(req_msg)),
        "reply encode (1 row, price)": per_call(lambda: rep_c.encode({"quotes": reply})),
        "Series encode (1 value)": per_call(lambda: hop_c.encode({"seats": seats})),
        "Series decode (1 value)": per_call(lambda: hop_c.decode(hop_msg)),
    }
    print(
        f"python {sys.version.split()[0]}, pandas {pd.__version__}, numpy {np.__version__}, "
        f"protobuf {google.protobuf.__version__}"
    )
    for what, us in rows.items():
        print(f"{what:<38} {us:8.1f} us")


if __name__ == "__main__":
    main()
