"""Metrics: pure functions of (model, configuration) grouped by family, and the weighted score."""

from simulator.metrics.evaluate import Evaluation, MetricParameters, evaluate

__all__ = ["Evaluation", "MetricParameters", "evaluate"]
