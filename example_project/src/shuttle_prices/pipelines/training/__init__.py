"""Training pipeline: shuttles -> features -> a fitted price model and its metrics."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
