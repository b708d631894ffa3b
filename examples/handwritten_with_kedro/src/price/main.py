"""Node 'price': the Kedro project shipped in this KRT (kedro_project/), run as
one KRT node.

`init` boots the project once with kedro_krt's KrtSession (catalog, model and
parameters loaded once, shared by every request); `handler` turns the simple
request into the pipeline's input table, runs the `inference` pipeline in memory
and passes the quote on.
"""

import sys
from pathlib import Path

import pandas as pd
from internal_nodes_pb2 import Priced
from public_input_pb2 import QuoteRequest

# `kedro-krt build` vendors kedro_krt in lib/ (the runner image built from the
# .krt's Dockerfile puts it on PYTHONPATH too); under `kedro-krt serve` the
# installed package is used.
_LIB = Path(__file__).resolve().parents[2] / "lib"
if _LIB.is_dir() and str(_LIB) not in sys.path:
    sys.path.append(str(_LIB))

from kedro_krt.node.runtime import InvalidRequest, KrtSession  # noqa: E402

PROJECT = "kedro_project"


def init(ctx):
    session = KrtSession(ctx.path(PROJECT), pipeline="inference")
    ctx.set("session", session)
    ctx.logger.info(
        f"Kedro project loaded: inputs {session.inputs}, "
        f"outputs {session.outputs}"
    )


def _shuttles(req):
    """The one-row table the pipeline's `etl.shuttles` input expects."""
    if not req.shuttle_type or not req.engine_type:
        raise InvalidRequest(
            "shuttle_type and engine_type are required, "
            "e.g. 'Type V5', 'Quantum'"
        )
    if req.launch_year < 1900:
        raise InvalidRequest(
            f"launch_year must be a year such as 2021, got {req.launch_year}"
        )
    has_rating = req.HasField("company_rating")
    rating = req.company_rating if has_rating else float("nan")
    return pd.DataFrame(
        {
            "shuttle_id": ["quote"],
            "shuttle_type": [req.shuttle_type],
            "engine_type": [req.engine_type],
            "engines": [req.engines],
            "passenger_capacity": [req.passenger_capacity],
            "crew": [req.crew],
            "d_check_complete": [True],
            "moon_clearance_complete": [True],
            "iata_approved": [True],
            "company_rating": [rating],
            "launched_at": [pd.Timestamp(year=req.launch_year, month=1, day=1)],
        }
    )


async def handler(ctx, data):
    req = QuoteRequest()
    # Unpack into the wrong class gives False and an empty message
    if not data.Unpack(req):
        raise InvalidRequest(
            f"node 'price' expects entrypoint.QuoteRequest, got {data.type_url}"
        )
    # "" is a value for the pipeline, but here an unset currency means "the
    # project's default".
    params = {"output.currency": req.currency} if req.currency else None
    outputs = ctx.get("session").run({"etl.shuttles": _shuttles(req)}, params)
    quote = outputs["output.quotes"].iloc[0]
    return Priced(
        request=req,
        price=float(quote["price"]),
        band=str(quote["price_band"]),
        currency=str(quote["currency"]),
    )
