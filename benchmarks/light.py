"""The light pipeline: three namespaced nodes on a one-row table, a floor near 0.1 ms.

The example's own functions (scikit-learn and pandas) take 6 to 19 ms per request, which hides
what kedro-krt adds. This bench-only pipeline does a few column operations instead, so that the
three KRT nodes' own cost shows (``reference/KEDRO.md``: the raw functions of a small 2-node
pipeline take 0.135 ms). It is written into the bench's copy of ``example_project`` (as
``boot_inference`` is, in ``benchmarks/main.py``): the same request table (the example's
``shuttles``, one row), no model, three KRT nodes::

    [prep]   prep.shuttles (table) -> prep_seats -> prep.seats (Series)
    [score]  prep.seats, params:score.weight -> score_seats -> score.scores (Series)
    [post]   score.scores -> post_quotes -> post.quotes (table)

``boot_light`` holds the same three functions under one namespace ``light`` for kedro-boot, which
runs one namespace per ``session.run``. Conf envs ``light`` and ``light-single`` hold the
``krt.yml`` workflows (grouping ``namespace``: 3 KRT nodes; ``single``: 1), packaged with our real
``kedro krt package --env light``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: src/shuttle_prices/light_bench.py in the bench copy.
MODULE = '''\
"""Bench-only (kedro-krt benchmarks): three light steps on the request table."""

from __future__ import annotations

import pandas as pd
from kedro.pipeline import Pipeline, node, pipeline


def prep_seats(shuttles: pd.DataFrame) -> pd.Series:
    """Seats per shuttle: passengers plus crew."""
    return shuttles["passenger_capacity"] + shuttles["crew"]


def score_seats(seats: pd.Series, weight: float) -> pd.Series:
    """A score per shuttle: its seats times the weight."""
    return seats * weight


def post_quotes(scores: pd.Series) -> pd.DataFrame:
    """The reply: one rounded price per shuttle."""
    return scores.round(2).to_frame("price")


def create_pipeline() -> Pipeline:
    """prep.shuttles -> prep.seats -> score.scores -> post.quotes, three namespaces."""
    return pipeline(
        [
            node(prep_seats, "prep.shuttles", "prep.seats", name="prep_seats", namespace="prep"),
            node(score_seats, ["prep.seats", "params:score.weight"], "score.scores",
                 name="score_seats", namespace="score"),
            node(post_quotes, "score.scores", "post.quotes", name="post_quotes",
                 namespace="post"),
        ]
    )


def create_boot_pipeline() -> Pipeline:
    """The same functions under one namespace ``light`` (kedro-boot runs one per run)."""
    return pipeline(
        [
            node(prep_seats, "shuttles", "seats", name="prep_seats"),
            node(score_seats, ["seats", "params:weight"], "scores", name="score_seats"),
            node(post_quotes, "scores", "quotes", name="post_quotes"),
        ],
        namespace="light",
    )
'''

REGISTRY = '''

_krt_bench_register_light = register_pipelines


def register_pipelines() -> dict[str, Pipeline]:  # noqa: F811 (bench-only wrapper)
    """The pipelines above plus ``light`` and ``boot_light`` (kedro-krt benchmarks)."""
    from shuttle_prices import light_bench

    pipes = _krt_bench_register_light()
    pipes["light"] = light_bench.create_pipeline()
    pipes["boot_light"] = light_bench.create_boot_pipeline()
    return pipes
'''

CATALOG = """
# bench-only: the light pipeline's request and reply (the example's request table)
prep.shuttles:
  type: pandas.CSVDataset
  filepath: data/01_raw/sample_shuttles.csv
  load_args:
    parse_dates: [launched_at]
post.quotes:
  type: pandas.CSVDataset
  filepath: data/07_model_output/light_quotes.csv
# bench-only: kedro-boot injects the request here (a pandas dataset: its FastAPI path turns
# the JSON rows into a DataFrame with pandas.json_normalize)
light.shuttles:
  type: pandas.CSVDataset
  filepath: data/01_raw/sample_shuttles.csv
"""

PARAMS = """
# bench-only: parameters of the light pipeline (and of kedro-boot's `light` namespace)
score:
  weight: 0.25
light:
  weight: 0.25
"""

#: The parameters as kedro-boot's in-process session.run gets them per run.
BOOT_PARAMS = {"weight": 0.25}


def krt_yml(grouping: str) -> str:
    """conf/<env>/krt.yml of a light KRT (rpc ``Inference``, as the bench's clients call)."""
    return (
        "workflows:\n"
        "  - name: inference\n"
        "    pipeline: light\n"
        "    rpc: Inference\n"
        f"    grouping: {grouping}\n"
    )


#: conf env -> grouping of the light KRTs.
ENVS = {"light": "namespace", "light-single": "single"}


def add_to_project(project: Path) -> None:
    """Write the light pipeline, its catalog, parameters and conf envs into the bench copy."""
    src = project / "src" / "shuttle_prices"
    (src / "light_bench.py").write_text(MODULE, encoding="utf-8")
    registry = src / "pipeline_registry.py"
    registry.write_text(registry.read_text(encoding="utf-8") + REGISTRY, encoding="utf-8")
    for name, text in (("catalog.yml", CATALOG), ("parameters.yml", PARAMS)):
        path = project / "conf" / "base" / name
        path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")
    for env, grouping in ENVS.items():
        folder = project / "conf" / env
        folder.mkdir(exist_ok=True)
        (folder / "krt.yml").write_text(krt_yml(grouping), encoding="utf-8")
        # `kedro krt package` leaves conf/<env>/krt.yml out of the archive; a file of its own
        # keeps the env folder (the node's init boots Kedro with this env).
        (folder / "README.md").write_text(
            f"Bench-only conf env: the light pipeline, grouping {grouping}.\n", encoding="utf-8"
        )


def floor(project: Path, df: Any) -> Any:
    """The raw light functions on the decoded request (parameters preloaded)."""
    import importlib
    import sys

    src = str(project / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    mod = importlib.import_module("shuttle_prices.light_bench")
    weight = float(BOOT_PARAMS["weight"])

    def raw() -> Any:
        return mod.post_quotes(mod.score_seats(mod.prep_seats(df), weight))

    return raw
