"""Row 1: per message inside the node, 1-row request. One mode per process.

    python -m benchmarks.inproc krt   --krt-dir DIR --project P   # handlers chained + the floor
                                      [--profile OUT.txt]         # + pyinstrument of the chain
    python -m benchmarks.inproc boot  --project P                 # kedro-boot session.run
    python -m benchmarks.inproc naive --project P                 # KedroSession.create().run()

``krt`` imports the unpacked KRT's nodes as the local server does (``load_nodes`` + ``run_inits``)
and chains their async ``handler``s as KRE does: an ``Any`` in, each node's output packed into
the next ``Any``, the last output packed too. The coroutine is driven by hand (one ``send``),
so no event loop cost is counted: a KRE runner pays its own loop and NATS on top.
The floor is the raw node functions on the already-decoded request DataFrame, with the artifacts
and parameters loaded once.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import (
    RPC,
    emit,
    one_row_request_json,
    paired_overhead_ms,
    quiet_logging,
    time_interleaved,
    time_loop,
)


def _drive(coro: Any) -> Any:
    """Run a coroutine that never awaits anything pending (our handler) to its result."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("the handler awaited something: drive it with an event loop instead")


def _floor(project_root: Path, df: Any) -> Any:
    """The raw node functions on the decoded request (artifacts and parameters preloaded)."""
    from kedro_krt.runtime.engine import boot_project

    runtime = boot_project(project_root, "base")
    shared = runtime.load(
        ["price_model", "params:price_bands", "params:model.clip_negative", "params:output.markup",
         "params:output.currency"]
    )
    from shuttle_prices.features import make_features
    from shuttle_prices.pipelines.inference.nodes import make_quotes, predict_price

    model = shared["price_model"]
    clip = shared["params:model.clip_negative"]
    markup = shared["params:output.markup"]
    currency = shared["params:output.currency"]
    bands = shared["params:price_bands"]

    def raw() -> Any:
        features = make_features(df)
        predictions = predict_price(features, model, clip)
        return make_quotes(df, predictions, markup, currency, bands)

    return raw


def _profile(fn: Any, out: Path, seconds: float = 5.0) -> None:
    """pyinstrument over repeated calls of ``fn`` (benchmarks/.venv has it); text to ``out``."""
    import time

    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0002)
    deadline = time.perf_counter() + seconds
    with profiler:
        while time.perf_counter() < deadline:
            fn()
    out.write_text(profiler.output_text(unicode=False, color=False, show_all=False))


def run_krt(krt_dir: Path, project: Path, profile: Path | None = None) -> dict[str, Any]:
    """Handlers chained (Any in -> Any out) and the raw-function floor, in one process."""
    from google.protobuf import any_pb2, json_format

    from kedro_krt.serve.loader import load_nodes, prepare_krt, run_inits

    work = Path(tempfile.mkdtemp(prefix="krt-bench-"))
    prepared = prepare_krt(krt_dir, work_dir=work, validate=False)
    workflows = load_nodes(prepared, state_dir=work)
    asyncio.run(run_inits(workflows))
    quiet_logging()
    wf = workflows[RPC]
    request = json_format.Parse(one_row_request_json(project), wf.request_cls())
    payload = any_pb2.Any(
        type_url="type.googleapis.com/" + wf.request_type, value=request.SerializeToString()
    )
    nodes = [(n.handler, n.ctx) for n in wf.nodes]

    def chain() -> Any:
        data = payload
        for handler, ctx in nodes:
            out = _drive(handler(ctx, data))
            data = any_pb2.Any()
            data.Pack(out)
        return data

    packed = chain()
    response = wf.response_cls()
    packed.Unpack(response)
    if profile is not None:
        _profile(chain, profile)

    # The decoded request, as the first node's codec gives it to the Kedro nodes.
    first = wf.nodes[0].module._node  # the KrtNode the generated main.py built
    from kedro_krt.schema.codec import MessageCodec

    decoder = MessageCodec(first.input_cls, first.plan.input.fields)
    msg = first.input_cls()
    payload.Unpack(msg)
    df = decoder.decode(msg)["etl.shuttles"]
    raw = _floor(prepared.root, df)
    quotes = raw()
    # The engine alone, DataFrames in and out (what kedro-boot's session.run does): KrtSession
    # on the same booted project, no protobuf.
    from kedro_krt.runtime.session import KrtSession

    session = KrtSession(prepared.root, pipeline="inference")

    def engine() -> Any:
        return session.run({"etl.shuttles": df})

    timed = time_interleaved(
        {"handlers": chain, "floor": raw, "engine": engine}, max_iters=3000, max_seconds=10.0
    )
    handlers, floor = timed["handlers"], timed["floor"]
    return {
        "handlers": handlers.as_dict(),
        "floor": floor.as_dict(),
        "engine": timed["engine"].as_dict(),
        "overhead_ms": paired_overhead_ms(handlers, floor),
        "engine_overhead_ms": paired_overhead_ms(timed["engine"], floor),
        "nodes": [n.name for n in wf.nodes],
        "response": json_format.MessageToDict(response, preserving_proto_field_name=True),
        "floor_price": float(quotes["price"].iloc[0]),
    }


def _request_frame(project: Path) -> Any:
    """The 1-row request as a DataFrame with the dtypes the KRT's decoder gives."""
    import json

    import pandas as pd

    row = json.loads(one_row_request_json(project))["shuttles"]
    df = pd.DataFrame(row)
    df["launched_at"] = pd.to_datetime(df["launched_at"])
    return df


def run_boot(project: Path) -> dict[str, Any]:
    """kedro-boot 0.3.0: KedroBootSession over the bench-only ``boot_inference`` pipeline.

    kedro-boot runs one namespace per ``session.run`` and matches it exactly, so the bench copy
    of the project registers the same three node functions under one namespace ``inference``.
    """
    quiet_logging()
    from kedro_boot.app.booter import boot_project
    from kedro_boot.framework.compiler.specs import CompilationSpec

    session = boot_project(
        project,
        kedro_args={"pipeline": "boot_inference"},
        compilation_specs=[
            CompilationSpec(
                namespace="inference",
                inputs=["shuttles"],
                outputs=["quotes"],
                parameters=["clip_negative", "markup", "currency"],
            )
        ],
    )
    quiet_logging()
    df = _request_frame(project)
    params = {"clip_negative": True, "markup": 0.1, "currency": "EUR"}

    def run() -> Any:
        # Parameters passed as a caller would (kedro-boot warns on every run without them).
        return session.run(namespace="inference", inputs={"shuttles": df}, parameters=params)

    quotes = run()
    # Its own floor in this process, timed call by call with it (paired differences).
    raw = _floor(project, df)
    timed = time_interleaved({"boot": run, "floor": raw}, max_iters=2000, max_seconds=8.0)
    return {
        "boot": timed["boot"].as_dict(),
        "floor": timed["floor"].as_dict(),
        "overhead_ms": paired_overhead_ms(timed["boot"], timed["floor"]),
        "price": float(quotes["price"].iloc[0]),
    }


def run_naive(project: Path) -> dict[str, Any]:
    """``KedroSession.create().run()`` per request; the request goes in through the CSV.

    The request DataFrame is written to ``data/01_raw/sample_shuttles.csv`` (the catalog's
    ``etl.shuttles``) and ``output.quotes`` read back from its CSV: how a batch project is run.
    """
    quiet_logging()
    import pandas as pd
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    quiet_logging()
    df = _request_frame(project)
    request_csv = project / "data" / "01_raw" / "sample_shuttles.csv"
    quotes_csv = project / "data" / "07_model_output" / "quotes.csv"
    original = request_csv.read_bytes()

    def run() -> Any:
        df.to_csv(request_csv, index=False)
        with KedroSession.create(project_path=project, env="base") as session:
            session.run(pipeline_name="inference")
        return pd.read_csv(quotes_csv)

    try:
        quotes = run()
        quiet_logging()
        timing = time_loop(run, max_iters=40, max_seconds=6.0, warmup=2)
    finally:
        request_csv.write_bytes(original)
    return {"naive": timing.as_dict(), "price": float(quotes["price"].iloc[0])}


def main() -> None:
    """Parse the mode, measure, print the JSON result."""
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["krt", "boot", "naive"])
    parser.add_argument("--krt-dir", type=Path)
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--profile", type=Path, default=None, help="krt: pyinstrument text here")
    args = parser.parse_args()
    if args.mode == "krt":
        emit(run_krt(args.krt_dir, args.project, args.profile))
    elif args.mode == "boot":
        emit(run_boot(args.project))
    else:
        emit(run_naive(args.project))


if __name__ == "__main__":
    main()
