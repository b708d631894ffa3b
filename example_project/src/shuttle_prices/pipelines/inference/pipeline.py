"""The ``inference`` pipeline: three namespaced steps, each one KRT node once compiled.

    [etl]     etl.shuttles -> make_features -> etl.features
    [model]   etl.features, price_model, params:model.clip_negative
                -> predict_price -> model.predictions
    [output]  etl.shuttles, model.predictions, params:output.markup, params:output.currency,
              params:price_bands -> make_quotes -> output.quotes

The request (``etl.shuttles``) is read again by the ``output`` step, so it has to travel past
the ``model`` step. ``price_model`` and ``params:price_bands`` stay global: they are artifacts
shared by every request, while ``params:<namespace>.*`` can be overridden per request.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from shuttle_prices.features import make_features

from .nodes import make_quotes, predict_price


def create_pipeline(**kwargs: object) -> Pipeline:
    """etl.shuttles -> etl.features -> model.predictions -> output.quotes."""
    etl = pipeline(
        [node(make_features, inputs="shuttles", outputs="features", name="make_features")],
        namespace="etl",
    )
    model = pipeline(
        [
            node(
                predict_price,
                inputs=["features", "price_model", "params:clip_negative"],
                outputs="predictions",
                name="predict_price",
            )
        ],
        namespace="model",
        # Mapped names are not prefixed: read etl's output and the global model artifact.
        inputs={"features": "etl.features", "price_model": "price_model"},
    )
    output = pipeline(
        [
            node(
                make_quotes,
                inputs=[
                    "shuttles",
                    "predictions",
                    "params:markup",
                    "params:currency",
                    "params:price_bands",
                ],
                outputs="quotes",
                name="make_quotes",
            )
        ],
        namespace="output",
        inputs={"shuttles": "etl.shuttles", "predictions": "model.predictions"},
        # Listed without a new name, a parameter keeps its global name instead of output.*.
        parameters={"price_bands"},
    )
    return etl + model + output
