"""Nodes of the training pipeline."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from shuttle_prices.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES, make_features

logger = logging.getLogger(__name__)

TARGET = "price"


def make_model_input_table(shuttles: pd.DataFrame) -> pd.DataFrame:
    """Build the training table: the shared features plus the ``price`` target."""
    table = make_features(shuttles)
    table[TARGET] = shuttles[TARGET].astype("float64")
    return table


def train_model(model_input_table: pd.DataFrame, model_options: dict[str, Any]) -> Pipeline:
    """Fit a one-hot + ridge regression pipeline on the training split.

    Args:
        model_input_table: Output of ``make_model_input_table``.
        model_options: ``params:model_options``: ``test_size``, ``random_state`` and ``alpha``.

    Returns:
        A fitted scikit-learn ``Pipeline`` that takes ``make_features`` output.
    """
    features, _, target, _ = _split(model_input_table, model_options)
    encode = ColumnTransformer(
        [("categories", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES))],
        remainder="passthrough",
    )
    model = Pipeline(
        [
            ("encode", encode),
            ("regress", Ridge(alpha=float(model_options["alpha"]))),
        ]
    )
    model.fit(features, target)
    return model


def evaluate_model(
    price_model: Pipeline, model_input_table: pd.DataFrame, model_options: dict[str, Any]
) -> dict[str, float]:
    """Score the model on the held-out split and log R² and MAE."""
    _, features, _, target = _split(model_input_table, model_options)
    predicted = price_model.predict(features)
    metrics = {
        "r2": float(r2_score(target, predicted)),
        "mae": float(mean_absolute_error(target, predicted)),
    }
    logger.info(
        "Price model on %d held-out shuttles: R² %.3f, MAE %.2f",
        len(target),
        metrics["r2"],
        metrics["mae"],
    )
    return metrics


def _split(
    model_input_table: pd.DataFrame, model_options: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """The same train/test split for training and evaluation (same seed, same table)."""
    features = model_input_table[[*CATEGORICAL_FEATURES, *NUMERIC_FEATURES]]
    target = model_input_table[TARGET]
    x_train, x_test, y_train, y_test = train_test_split(
        features,
        target,
        test_size=model_options["test_size"],
        random_state=model_options["random_state"],
    )
    return x_train, x_test, y_train, y_test
