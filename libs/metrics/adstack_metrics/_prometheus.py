"""Adapter for prometheus-client's registry: the collectors a ``CollectorRegistry`` holds.

Relies on (prometheus-client, checked with 0.26.0 from uv.lock; fence
``prometheus-client>=0.21,<0.27``): ``registry.CollectorRegistry``'s private dict
``_collector_to_names`` (collector → the sample names it registered), read only and copied
into a list first; and the ``_labelnames`` tuple of its own metric classes (``Counter``,
``Gauge``, ``Histogram``…, from ``metrics.MetricWrapperBase``). There is no public way to
list a registry's collectors or a metric's label names, and
:func:`adstack_metrics.exposed_names` needs both: the deploy checks compare the alert rules
and the dashboard against every sample name the services can expose, with its labels,
including labelled families that have no child yet (``registry.collect()`` leaves them out).

The shape is checked at import (a fresh registry must have the dict, a labelled metric its
label names). The guard tests are tests/unit/libs/test_metrics_labels.py,
tests/deploy/test_prometheus.py, test_grafana.py and test_docs.py, and
tests/unit/test_third_party_internals.py.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.registry import Collector

FENCE = "prometheus-client>=0.21,<0.27"
"""The dependency line of pyproject.toml that keeps other prometheus-client releases out."""


def check() -> None:
    """Fail with ImportError unless a registry still keeps ``_collector_to_names`` and a
    labelled metric its ``_labelnames``."""
    registry = CollectorRegistry(auto_describe=True)
    counter = Counter("adstack_shape_check", "shape check", ["kind"], registry=registry)
    missing = [name for name, ok in (
        ("CollectorRegistry._collector_to_names",
         registered_collectors(registry) == [counter]),
        ("MetricWrapperBase._labelnames", label_names(counter) == ("kind",))) if not ok]
    if missing:
        raise ImportError(
            f"prometheus_client no longer has {', '.join(missing)}: this release is outside "
            f"the fence {FENCE!r} in pyproject.toml (see docs/third-party-internals.md)")


def registered_collectors(registry: CollectorRegistry) -> list[Collector]:
    """Every collector registered in ``registry``, in registration order (a copy)."""
    return list(getattr(registry, "_collector_to_names", ()))


def label_names(collector: object) -> tuple[str, ...] | None:
    """The label names of one of prometheus-client's own metrics; None for any other
    collector (process, platform, gc, custom ones)."""
    names = getattr(collector, "_labelnames", None)
    return None if names is None else tuple(names)


check()
