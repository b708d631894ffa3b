"""Feature engineering shared by training and inference, so both see the same columns."""

from __future__ import annotations

import pandas as pd

#: Ages are measured from this fixed date, not from today, so the same shuttle always gets the
#: same features (and the same price) whenever the pipeline runs.
REFERENCE_DATE = pd.Timestamp("2026-01-01")

#: Stands in for a missing ``company_rating``: the middle of its 0..1 range.
MISSING_RATING = 0.5

CATEGORICAL_FEATURES = ("shuttle_type", "engine_type")
NUMERIC_FEATURES = (
    "engines",
    "passenger_capacity",
    "crew",
    "d_check_complete",
    "moon_clearance_complete",
    "iata_approved",
    "company_rating",
    "age_years",
)
_BOOLEAN_COLUMNS = ("d_check_complete", "moon_clearance_complete", "iata_approved")
_NOT_FEATURES = ("shuttle_id", "price")


def make_features(shuttles: pd.DataFrame) -> pd.DataFrame:
    """Turn raw shuttle rows into the model's feature table.

    Drops the identifier and the target if present, fills missing ratings, replaces
    ``launched_at`` by ``age_years`` and casts the boolean flags to 0/1.

    Args:
        shuttles: Rows with the columns of ``data/01_raw/shuttles.csv`` (``price`` optional).

    Returns:
        One row per shuttle, with ``CATEGORICAL_FEATURES`` then ``NUMERIC_FEATURES``.
    """
    missing = [
        column
        for column in (*CATEGORICAL_FEATURES, *NUMERIC_FEATURES, "launched_at")
        if column != "age_years" and column not in shuttles.columns
    ]
    if missing:
        raise ValueError(
            f"The shuttles table lacks the column(s) {missing}; it has {list(shuttles.columns)}. "
            "Send every column of data/01_raw/sample_shuttles.csv."
        )

    features = shuttles.drop(columns=[c for c in _NOT_FEATURES if c in shuttles.columns])
    features["company_rating"] = features["company_rating"].astype("float64").fillna(MISSING_RATING)
    features["age_years"] = _age_in_years(features.pop("launched_at"))
    for column in _BOOLEAN_COLUMNS:
        features[column] = features[column].astype("int64")
    return features[[*CATEGORICAL_FEATURES, *NUMERIC_FEATURES]]


def _age_in_years(launched_at: pd.Series) -> pd.Series:
    """Years between each launch and ``REFERENCE_DATE``, as floats."""
    launched = pd.to_datetime(launched_at)
    # Requests may carry time-zone aware instants (RFC 3339 with "Z"); the CSV holds naive ones.
    if launched.dt.tz is not None:
        launched = launched.dt.tz_convert("UTC").dt.tz_localize(None)
    return (REFERENCE_DATE - launched).dt.total_seconds() / (365.25 * 24 * 3600)
