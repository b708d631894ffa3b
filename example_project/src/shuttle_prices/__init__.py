"""Shuttle Prices: train a price model for space shuttles and quote prices for new ones."""

__version__ = "0.1"
