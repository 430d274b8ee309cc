"""Which metric names a registry exposes (for checking dashboards and alert rules)."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry

from adstack_metrics._prometheus import label_names, registered_collectors

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "stateset": ("",),
    "enum": ("",),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "unknown": ("",),
}


def exposed_names(registry: CollectorRegistry = REGISTRY) -> dict[str, frozenset[str]]:
    """Every sample name the registry can expose → the label names it carries.

    Derived from each family's type (a labelled family with no children yet still counts),
    so ``adstack_blocks_received`` yields ``adstack_blocks_received_total`` and
    ``…_created``; histograms add ``le`` to their ``_bucket`` samples.
    """
    out: dict[str, frozenset[str]] = {}
    for collector in registered_collectors(registry):  # no public listing exists
        describe = getattr(collector, "describe", None)
        families = describe() if callable(describe) else []
        if not families:
            families = list(collector.collect())
        for family in families:
            labels = _family_labels(collector, family.name)
            for suffix in _SUFFIXES.get(family.type, ("",)):
                name = family.name + suffix
                extra = {"le"} if suffix == "_bucket" else set()
                out[name] = frozenset(labels | extra)
    return out


def _family_labels(collector: object, family_name: str) -> set[str]:
    labelnames = label_names(collector)
    if labelnames is not None:
        return set(labelnames)
    # Foreign collectors (process, platform, gc): take the labels of their samples.
    labels: set[str] = set()
    for family in collector.collect():  # type: ignore[attr-defined]
        if family.name == family_name:
            for sample in family.samples:
                labels |= set(sample.labels) - {"le", "quantile"}
    return labels
