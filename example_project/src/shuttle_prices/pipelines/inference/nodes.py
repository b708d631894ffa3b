"""Nodes of the inference pipeline (the ``etl`` step reuses ``shuttle_prices.features``).

A value the caller got wrong is refused with kedro-krt's ``InvalidRequest``: served, the caller
gets ``INVALID_ARGUMENT`` with its message (any other exception is ``INTERNAL``, a fault of the
service). It is a ``ValueError``, so under ``kedro run`` nothing changes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from kedro_krt.node.runtime import InvalidRequest

PRICE_BANDS = ("budget", "standard", "premium")


def predict_price(features: pd.DataFrame, price_model: Pipeline, clip_negative: bool) -> pd.Series:
    """Predict one price per row of ``features``.

    Args:
        features: Output of ``make_features``.
        price_model: The fitted model written by the training pipeline.
        clip_negative: Turn negative predictions (possible with a linear model) into 0.

    Returns:
        A float Series named ``price``, aligned with ``features``.

    Raises:
        InvalidRequest: a feature is infinite (the model cannot price it).
    """
    numeric = features.select_dtypes("number")
    infinite = np.isinf(numeric.to_numpy(dtype="float64"))
    if infinite.any():
        row, column = (int(i) for i in np.argwhere(infinite)[0])
        raise InvalidRequest(
            f"row {row}, column {numeric.columns[column]!r} is {numeric.iat[row, column]}: "
            "send a finite number"
        )
    predicted = price_model.predict(features).astype("float64")
    if clip_negative:
        predicted = np.clip(predicted, 0.0, None)
    return pd.Series(predicted, index=features.index, name="price")


def make_quotes(
    shuttles: pd.DataFrame,
    predictions: pd.Series,
    markup: float,
    currency: str,
    price_bands: dict[str, float],
) -> pd.DataFrame:
    """Turn predictions into the quotes sent back for the requested shuttles.

    Args:
        shuttles: The request rows; only ``shuttle_id`` is used, in the same order as predictions.
        predictions: Output of ``predict_price``.
        markup: Fraction added to the predicted price (``0.1`` is +10 %, ``0.0`` none).
        currency: Currency code written on every quote.
        price_bands: ``budget`` and ``premium`` thresholds: below ``budget`` is "budget",
            from ``premium`` up is "premium", anything between is "standard".

    Returns:
        Columns ``shuttle_id`` (str), ``price`` (float, 2 decimals), ``price_band`` (str) and
        ``currency`` (str), one row per requested shuttle.

    Raises:
        InvalidRequest: ``markup`` is negative, infinite or NaN.
    """
    if len(shuttles) != len(predictions):
        raise ValueError(
            f"Got {len(predictions)} predictions for {len(shuttles)} shuttles; "
            "make_quotes needs one prediction per requested shuttle."
        )
    if not (math.isfinite(markup) and markup >= 0):
        raise InvalidRequest(
            f"output.markup must be a fraction >= 0 (0.1 adds 10 %), got {markup}. "
            "Pass 0.0 for no markup."
        )
    missing = {"budget", "premium"} - set(price_bands)
    if missing:
        raise ValueError(
            f"price_bands lacks {sorted(missing)}; set price_bands.budget and "
            "price_bands.premium in conf/base/parameters.yml."
        )

    # Positional: the request rows and the predictions may carry different indexes.
    prices = np.round(predictions.to_numpy(dtype="float64") * (1.0 + markup), 2)
    bands = np.select(
        [prices < price_bands["budget"], prices >= price_bands["premium"]],
        ["budget", "premium"],
        default="standard",
    )
    return pd.DataFrame(
        {
            "shuttle_id": shuttles["shuttle_id"].astype(str).to_numpy(),
            "price": prices,
            "price_band": pd.Series(bands, dtype=str).to_numpy(),
            "currency": currency,
        }
    ).astype({"shuttle_id": str, "price_band": str, "currency": str})
