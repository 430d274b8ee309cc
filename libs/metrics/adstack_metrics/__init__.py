"""Prometheus helpers shared by the services.

- :func:`metrics_body`: the text exposition (aggregates workers in multiprocess mode).
- :mod:`adstack_metrics.process`: uptime, memory, build info, Redis health; the sampler.
- :mod:`adstack_metrics.labels`: keeping label values low-cardinality.
- :func:`exposed_names`: which sample names a registry exposes (for dashboard checks).
"""

from adstack_metrics.exposition import metrics_body
from adstack_metrics.labels import OTHER, BoundedLabel, choose, clean
from adstack_metrics.names import exposed_names
from adstack_metrics.process import (
    ProcessMetrics,
    memory_usage,
    multiprocess_enabled,
    record_redis_reconnect,
    set_redis_up,
)

__all__ = [
    "OTHER",
    "BoundedLabel",
    "ProcessMetrics",
    "choose",
    "clean",
    "exposed_names",
    "memory_usage",
    "metrics_body",
    "multiprocess_enabled",
    "record_redis_reconnect",
    "set_redis_up",
]
