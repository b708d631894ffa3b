"""Inference pipeline: a request of shuttles -> priced quotes, in three namespaced steps."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
