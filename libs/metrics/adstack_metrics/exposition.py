"""Rendering the metrics registry (multiprocess-aware)."""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client import multiprocess as _multiprocess

from adstack_metrics.process import UPTIME_NAME


def metrics_body(registry: CollectorRegistry | None = None) -> tuple[bytes, str]:
    """(body, content type) of the text exposition.

    With ``PROMETHEUS_MULTIPROC_DIR`` set (``--workers N``), every worker's samples are
    aggregated; otherwise the given (or default) registry is rendered.
    """
    if registry is None and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    if registry is None:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    return as_counter(generate_latest(registry), UPTIME_NAME), CONTENT_TYPE_LATEST


def as_counter(body: bytes, name: str) -> bytes:
    """Declare the unsuffixed gauge ``name`` a counter, as the original Node server exposed
    it (prometheus_client would rename a Counter to ``<name>_total``; the text format 0.0.4
    lets a counter's sample keep its bare name, which dashboards already query)."""
    return body.replace(b"# TYPE " + name.encode() + b" gauge\n",
                        b"# TYPE " + name.encode() + b" counter\n", 1)
