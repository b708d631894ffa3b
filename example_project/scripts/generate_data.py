"""Generate a synthetic, seeded shuttle price dataset for the Shuttle Prices project.

The data is made up: prices are a noisy function of the shuttle's features, so a simple model can
learn them and the quotes the inference pipeline gives are plausible.

Usage (from the project root)::

    python scripts/generate_data.py                # 2,000 rows into data/01_raw/shuttles.csv
    python scripts/generate_data.py --rows 300 --seed 7 --out /tmp/shuttles.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

SHUTTLE_TYPES = ("Type V5", "Type F5", "Type A1", "Type F3")
ENGINE_TYPES = ("Quantum", "Plasma", "Nuclear")

# What each category adds to the price; the rest of the price comes from the numeric features.
_TYPE_BASE = {"Type V5": 500.0, "Type F5": 1000.0, "Type A1": 1800.0, "Type F3": 0.0}
_ENGINE_PREMIUM = {"Quantum": 900.0, "Plasma": 400.0, "Nuclear": 0.0}

# Launch dates are drawn in this window; ages in the model are taken from a fixed date after it.
_LAUNCH_START = np.datetime64("2015-01-01T00:00")
_LAUNCH_END = np.datetime64("2025-12-31T23:59")
_REFERENCE = np.datetime64("2026-01-01T00:00")

COLUMNS = (
    "shuttle_id",
    "shuttle_type",
    "engine_type",
    "engines",
    "passenger_capacity",
    "crew",
    "d_check_complete",
    "moon_clearance_complete",
    "iata_approved",
    "company_rating",
    "launched_at",
    "price",
)


def generate_shuttles(rows: int, seed: int) -> pd.DataFrame:
    """Return ``rows`` synthetic shuttles with a ``price``, the same for the same ``seed``.

    Args:
        rows: How many shuttles to draw (at least 1).
        seed: Seed of numpy's default generator.

    Returns:
        A DataFrame with the columns of ``COLUMNS``, in that order.
    """
    if rows < 1:
        raise ValueError(f"--rows must be at least 1, got {rows}.")
    rng = np.random.default_rng(seed)

    shuttle_type = rng.choice(SHUTTLE_TYPES, size=rows, p=[0.35, 0.30, 0.20, 0.15])
    engine_type = rng.choice(ENGINE_TYPES, size=rows, p=[0.45, 0.35, 0.20])
    engines = rng.integers(1, 5, size=rows)
    passenger_capacity = rng.integers(2, 13, size=rows)
    # Bigger shuttles need more crew: keeps the features correlated, as real ones are.
    crew = np.clip(np.rint(passenger_capacity / 2 + rng.normal(0, 1, size=rows)), 1, 6)
    d_check_complete = rng.random(rows) < 0.7
    moon_clearance_complete = rng.random(rows) < 0.4
    iata_approved = rng.random(rows) < 0.8
    company_rating = np.round(rng.beta(5, 2, size=rows), 3)

    minutes = int((_LAUNCH_END - _LAUNCH_START) // np.timedelta64(1, "m"))
    launched_at = _LAUNCH_START + rng.integers(0, minutes, size=rows).astype("timedelta64[m]")
    age_years = (_REFERENCE - launched_at) / np.timedelta64(1, "D") / 365.25

    price = (
        np.vectorize(_TYPE_BASE.__getitem__)(shuttle_type)
        + np.vectorize(_ENGINE_PREMIUM.__getitem__)(engine_type)
        + 300.0 * engines
        + 330.0 * passenger_capacity
        + 120.0 * crew
        + 250.0 * d_check_complete
        + 400.0 * moon_clearance_complete
        + 300.0 * iata_approved
        + 2000.0 * company_rating
        - 150.0 * age_years
        + rng.normal(0, 250, size=rows)
    )
    price = np.round(np.maximum(price, 500.0), 2)

    # Ratings go missing after the price is set: the price still depends on the true rating.
    company_rating[rng.random(rows) < 0.05] = np.nan

    return pd.DataFrame(
        {
            "shuttle_id": [f"SH-{i:05d}" for i in range(1, rows + 1)],
            "shuttle_type": shuttle_type,
            "engine_type": engine_type,
            "engines": engines.astype("int64"),
            "passenger_capacity": passenger_capacity.astype("int64"),
            "crew": crew.astype("int64"),
            "d_check_complete": d_check_complete,
            "moon_clearance_complete": moon_clearance_complete,
            "iata_approved": iata_approved,
            "company_rating": company_rating,
            "launched_at": pd.to_datetime(launched_at),
            "price": price,
        },
        columns=list(COLUMNS),
    )


def write_csv(shuttles: pd.DataFrame, out: Path) -> None:
    """Write ``shuttles`` as the catalog reads it: ISO date-times, empty cells for missing."""
    out.parent.mkdir(parents=True, exist_ok=True)
    shuttles.to_csv(out, index=False, date_format="%Y-%m-%dT%H:%M:%S")


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and write the dataset."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="number of shuttles (default 2000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("data/01_raw/shuttles.csv"),
        help="CSV file to write (default data/01_raw/shuttles.csv)",
    )
    args = parser.parse_args(argv)
    try:
        shuttles = generate_shuttles(args.rows, args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    write_csv(shuttles, args.out)
    print(f"Wrote {len(shuttles)} shuttles to {args.out}")


if __name__ == "__main__":
    main()
