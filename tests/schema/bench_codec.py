"""Codec speed: decode + encode of a 12-column table, against pandas building it from lists.

Run: ``.venv/bin/python tests/schema/bench_codec.py`` (not collected by pytest).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kedro_krt.emit.proto import render_proto
from kedro_krt.emit.protoc import compile_protos, import_generated
from kedro_krt.node.schema.codec import MessageCodec
from kedro_krt.node.schema.infer import infer_type
from kedro_krt.node.schema.types import Field, Message


def make_frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    price = rng.random(n) * 100
    price[::7] = np.nan
    rating = pd.array(rng.integers(0, 5, n), dtype="Int64")
    rating[::5] = pd.NA
    return pd.DataFrame(
        {
            "id": np.arange(n, dtype=np.int64),
            "price": price,
            "d_check_complete": rng.random(n) > 0.5,
            "engines": rng.integers(1, 4, n),
            "Engine Type": pd.Series([("Quantum", "Plasma", "Nuclear")[i % 3] for i in range(n)]),
            "company_rating": rng.random(n),
            "review_scores_rating": rng.random(n) * 10,
            "iata_approved": rng.random(n) > 0.2,
            "passenger_capacity": rating,
            "crew": rng.random(n) * 5,
            "moon_clearance": pd.Series([None if i % 4 == 1 else f"c{i}" for i in range(n)]),
            "since": pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(n), unit="s"),
        }
    )


def best(f: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    spec = infer_type(make_frame(100))
    assert spec is not None
    msg = Message("Req", (Field("shuttles", "shuttles", spec, 1),))
    with tempfile.TemporaryDirectory() as tmp:
        compile_protos({"bench.proto": render_proto([msg])}, Path(tmp))
        module = import_generated(Path(tmp) / "bench_pb2.py", "bench_pb2")
    codec = MessageCodec(module.Req, msg.fields)
    print(f"{'rows':>8} {'pandas':>10} {'encode':>10} {'wire':>10} {'decode':>10} {'ratio':>6}")
    for n in (1, 100, 10_000, 100_000):
        df = make_frame(n)
        lists = {c: df[c].tolist() for c in df.columns}
        dtypes = df.dtypes.to_dict()
        repeat = 200 if n <= 100 else (10 if n <= 10_000 else 5)

        pandas_t = best(lambda lists=lists, d=dtypes: pd.DataFrame(lists).astype(d), repeat)
        enc_t = best(lambda df=df: codec.encode({"shuttles": df}), repeat)
        encoded = codec.encode({"shuttles": df})
        data = encoded.SerializeToString()
        wire_t = best(lambda e=encoded: module.Req.FromString(e.SerializeToString()), repeat)
        parsed = module.Req.FromString(data)
        dec_t = best(lambda p=parsed: codec.decode(p), repeat)
        pd.testing.assert_frame_equal(codec.decode(parsed)["shuttles"], df)
        ratio = (enc_t + dec_t) / pandas_t
        print(
            f"{n:>8} {pandas_t * 1e3:>8.3f}ms {enc_t * 1e3:>8.3f}ms {wire_t * 1e3:>8.3f}ms "
            f"{dec_t * 1e3:>8.3f}ms {ratio:>6.2f}"
        )


if __name__ == "__main__":
    sys.exit(main())
