"""Project pipelines."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from shuttle_prices.pipelines import inference, training


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Returns:
        ``training`` (fit the price model), ``inference`` (price a request of shuttles) and
        ``__default__`` (both, training first).
    """
    training_pipeline = training.create_pipeline()
    inference_pipeline = inference.create_pipeline()
    return {
        "training": training_pipeline,
        "inference": inference_pipeline,
        "__default__": training_pipeline + inference_pipeline,
    }
