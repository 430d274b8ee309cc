"""Rendering the metrics registry (multiprocess-aware)."""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client import multiprocess as _multiprocess


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
    return generate_latest(registry), CONTENT_TYPE_LATEST
