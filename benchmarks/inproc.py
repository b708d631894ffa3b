"""Row 1: per message inside the node, 1-row request. One mode per process.

    python -m benchmarks.inproc krt   --krt-dir DIR --project P   # handlers chained + the floor
                                      [--profile OUT.txt]         # + pyinstrument of the chain
    python -m benchmarks.inproc boot  --project P                 # kedro-boot session.run
    python -m benchmarks.inproc naive --project P                 # KedroSession.create().run()

``--pipeline light`` (krt, boot) measures the light pipeline (``benchmarks/light.py``) instead of
the example's ``inference``; ``--reps N`` times N interleaved loops of ``--seconds`` each in the
process, and reports each (``runs``) with the median of each figure at the top level.

``krt`` imports the unpacked KRT's nodes as the local server does (``load_nodes`` + ``run_inits``)
and chains their async ``handler``s as KRE does: an ``Any`` in, each node's output packed into
the next ``Any``, the last output packed too. The coroutine is driven by hand (one ``send``),
so no event loop cost is counted: a KRE runner pays its own loop and NATS on top.
The floor is the raw node functions on the already-decoded request DataFrame, with the artifacts
and parameters loaded once.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, cast

from benchmarks.common import (
    LoadedKrt,
    emit,
    one_row_request_json,
    paired_overhead_ms,
    quiet_logging,
    time_interleaved,
    time_loop,
)


def _floor(project_root: Path, df: Any) -> Any:
    """The raw node functions on the decoded request (artifacts and parameters preloaded)."""
    from kedro_krt.node.runtime.engine import boot_project

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


#: Per pipeline: the request's dataset (what the first node decodes), the registered pipeline,
#: and kedro-boot's pipeline, namespace and per-run parameters.
PIPELINES: dict[str, dict[str, Any]] = {
    "inference": {
        "request": "etl.shuttles", "pipeline": "inference", "boot_pipeline": "boot_inference",
        "boot_namespace": "inference",
        "boot_params": {"clip_negative": True, "markup": 0.1, "currency": "EUR"},
    },
    "light": {
        "request": "prep.shuttles", "pipeline": "light", "boot_pipeline": "boot_light",
        "boot_namespace": "light", "boot_params": {"weight": 0.25},
    },
}


def _pipeline_floor(pipeline: str, project_root: Path, df: Any) -> Any:
    if pipeline == "light":
        from benchmarks.light import floor

        return floor(project_root, df)
    return _floor(project_root, df)


def _reps(
    fns: dict[str, Any], reps: int, seconds: float, max_iters: int = 3000
) -> list[dict[str, Any]]:
    """``reps`` interleaved loops of the paths; each one's timings (the first one warms up)."""
    out = []
    for i in range(reps):
        timed = time_interleaved(fns, max_iters=max_iters, max_seconds=seconds,
                                 warmup=20 if i == 0 else 5)
        out.append(timed)
    return out


def _median_of(runs: list[dict[str, Any]], key: str) -> float:
    import statistics

    return statistics.median(r[key] for r in runs)


def _boot_session(project: Path, pipeline: str) -> Any:
    """kedro-boot's session over the bench copy, and a call of its ``session.run``."""
    from kedro_boot.app.booter import boot_project
    from kedro_boot.framework.compiler.specs import CompilationSpec

    spec = PIPELINES[pipeline]
    params = spec["boot_params"]
    namespace = spec["boot_namespace"]
    session = boot_project(
        project,
        kedro_args={"pipeline": spec["boot_pipeline"]},
        compilation_specs=[
            CompilationSpec(
                namespace=namespace,
                inputs=["shuttles"],
                outputs=["quotes"],
                parameters=list(params),
            )
        ],
    )
    quiet_logging()
    df = _request_frame(project)

    def run() -> Any:
        # Parameters passed as a caller would (kedro-boot warns on every run without them).
        return session.run(namespace=namespace, inputs={"shuttles": df}, parameters=params)

    return run


def run_krt(
    krt_dir: Path, project: Path, profile: Path | None = None, pipeline: str = "inference",
    reps: int = 1, seconds: float = 10.0, with_boot: bool = False,
) -> dict[str, Any]:
    """Handlers chained (Any in -> Any out) and the raw-function floor, in one process.

    ``with_boot``: kedro-boot's ``session.run`` on the bench project (``project``) joins the
    same interleaved loop, so each run gives its time above the same floor as ours.
    """
    from google.protobuf import json_format

    loaded = LoadedKrt(krt_dir)
    quiet_logging()
    prepared, wf = loaded.prepared, loaded.wf
    payload = loaded.payload(one_row_request_json(project))

    def chain() -> Any:
        return loaded.chain(payload)

    packed = chain()
    response = wf.response_cls()
    packed.Unpack(response)
    if profile is not None:
        _profile(chain, profile)

    # The decoded request, as the first node's codec gives it to the Kedro nodes.
    first = loaded.krt_nodes[0]
    from kedro_krt.node.schema.codec import MessageCodec

    decoder = MessageCodec(first.input_cls, first.plan.input.fields)
    msg = first.input_cls()
    payload.Unpack(msg)
    spec = PIPELINES[pipeline]
    df = decoder.decode(msg)[spec["request"]]
    raw = _pipeline_floor(pipeline, prepared.root, df)
    quotes = raw()
    # The engine alone, DataFrames in and out (what kedro-boot's session.run does): KrtSession
    # on the same booted project, no protobuf.
    from kedro_krt.node.runtime.session import KrtSession

    session = KrtSession(prepared.root, pipeline=spec["pipeline"])

    def engine() -> Any:
        return session.run({spec["request"]: df})

    paths = {"handlers": chain, "floor": raw, "engine": engine}
    boot_price = None
    if with_boot:
        # After our nodes' init: kedro-boot bootstraps the bench copy of the same project (the
        # same package, already imported), which the loaded KRT nodes no longer consult.
        paths["boot"] = _boot_session(project, pipeline)
        boot_price = float(paths["boot"]()["price"].iloc[0])
    runs = []
    for timed in _reps(paths, reps, seconds):
        handlers, floor = timed["handlers"], timed["floor"]
        run = {
            "handlers_ms": handlers.median_ms,
            "floor_ms": floor.median_ms,
            "engine_ms": timed["engine"].median_ms,
            "n": len(floor.samples),
            "overhead_ms": paired_overhead_ms(handlers, floor),
            "engine_overhead_ms": paired_overhead_ms(timed["engine"], floor),
        }
        if with_boot:
            run["boot_ms"] = timed["boot"].median_ms
            run["boot_overhead_ms"] = paired_overhead_ms(timed["boot"], floor)
        runs.append(run)
    return {
        "handlers": {"median_ms": _median_of(runs, "handlers_ms")},
        "floor": {"median_ms": _median_of(runs, "floor_ms")},
        "engine": {"median_ms": _median_of(runs, "engine_ms")},
        "overhead_ms": _median_of(runs, "overhead_ms"),
        "engine_overhead_ms": _median_of(runs, "engine_overhead_ms"),
        "runs": runs,
        "pipeline": pipeline,
        "boot_price": boot_price,
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


def run_boot(
    project: Path, pipeline: str = "inference", reps: int = 1, seconds: float = 8.0
) -> dict[str, Any]:
    """kedro-boot 0.3.0: KedroBootSession over the bench-only ``boot_inference`` pipeline.

    kedro-boot runs one namespace per ``session.run`` and matches it exactly, so the bench copy
    of the project registers the same three node functions under one namespace ``inference``.
    """
    quiet_logging()
    run = _boot_session(project, pipeline)
    df = _request_frame(project)
    quotes = run()
    # Its own floor in this process, timed call by call with it (paired differences).
    raw = _pipeline_floor(pipeline, project, df)
    runs = []
    for timed in _reps({"boot": run, "floor": raw}, reps, seconds, max_iters=2000):
        runs.append({
            "boot_ms": timed["boot"].median_ms,
            "floor_ms": timed["floor"].median_ms,
            "n": len(timed["floor"].samples),
            "overhead_ms": paired_overhead_ms(timed["boot"], timed["floor"]),
        })
    return {
        "boot": {"median_ms": _median_of(runs, "boot_ms")},
        "floor": {"median_ms": _median_of(runs, "floor_ms")},
        "overhead_ms": _median_of(runs, "overhead_ms"),
        "runs": runs,
        "pipeline": pipeline,
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
            cast(Any, session).run(pipeline_name="inference")
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
    parser.add_argument("--pipeline", choices=sorted(PIPELINES), default="inference")
    parser.add_argument("--reps", type=int, default=1, help="krt, boot: interleaved loops")
    parser.add_argument("--seconds", type=float, default=None, help="krt, boot: per loop")
    parser.add_argument("--with-boot", action="store_true",
                        help="krt: kedro-boot's session.run in the same loop")
    args = parser.parse_args()
    if args.mode == "krt":
        emit(run_krt(args.krt_dir, args.project, args.profile, args.pipeline, args.reps,
                     args.seconds or 10.0, args.with_boot))
    elif args.mode == "boot":
        emit(run_boot(args.project, args.pipeline, args.reps, args.seconds or 8.0))
    else:
        emit(run_naive(args.project))


if __name__ == "__main__":
    main()
