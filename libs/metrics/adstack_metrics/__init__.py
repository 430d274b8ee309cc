"""Prometheus helpers shared by the services."""

from adstack_metrics.exposition import metrics_body

__all__ = ["metrics_body"]
