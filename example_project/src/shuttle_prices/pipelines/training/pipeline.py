"""The ``training`` pipeline."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import evaluate_model, make_model_input_table, train_model


def create_pipeline(**kwargs: object) -> Pipeline:
    """shuttles -> model_input_table -> price_model -> model_metrics."""
    return pipeline(
        [
            node(
                make_model_input_table,
                inputs="shuttles",
                outputs="model_input_table",
                name="make_training_features",
            ),
            node(
                train_model,
                inputs=["model_input_table", "params:model_options"],
                outputs="price_model",
                name="train_model",
            ),
            node(
                evaluate_model,
                inputs=["price_model", "model_input_table", "params:model_options"],
                outputs="model_metrics",
                name="evaluate_model",
            ),
        ]
    )
