"""Prometheus helpers shared by the services.

- :func:`metrics_body`: the text exposition (aggregates workers in multiprocess mode).
- :mod:`adstack_metrics.process`: uptime, memory, build info, Redis health; the sampler.
- :mod:`adstack_metrics.labels`: keeping label values low-cardinality.
- :func:`exposed_names`: which sample names a registry exposes (for dashboard checks).
- :mod:`adstack_metrics.workers`: the multiprocess directory for ``--workers N``.
"""

from adstack_metrics.exposition import metrics_body
from adstack_metrics.labels import OTHER, BoundedLabel, choose, clean
from adstack_metrics.mount import mount_ops
from adstack_metrics.names import exposed_names
from adstack_metrics.original import (
    formatted_uptime,
    iso_timestamp,
    memory_megabytes,
    memory_usage_js,
)
from adstack_metrics.process import (
    ProcessMetrics,
    memory_usage,
    multiprocess_enabled,
    record_redis_reconnect,
    set_redis_up,
)
from adstack_metrics.workers import prepare_multiprocess_dir, sweep_dead_workers

__all__ = [
    "OTHER",
    "BoundedLabel",
    "ProcessMetrics",
    "choose",
    "clean",
    "exposed_names",
    "formatted_uptime",
    "iso_timestamp",
    "memory_megabytes",
    "memory_usage",
    "memory_usage_js",
    "metrics_body",
    "mount_ops",
    "multiprocess_enabled",
    "prepare_multiprocess_dir",
    "record_redis_reconnect",
    "set_redis_up",
    "sweep_dead_workers",
]
