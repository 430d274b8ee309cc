"""The PromQL metric extractor used by the dashboard and alert checks finds what it must."""

from __future__ import annotations

import pytest

from tests.helpers.promql import metric_names, selectors

pytestmark = pytest.mark.deploy


@pytest.mark.parametrize(("expr", "names"), [
    ("up", {"up"}),
    ('sum by (type) (rate(adstack_events_published_total{source="hiro"}[$__rate_interval]))',
     {"adstack_events_published_total"}),
    ("histogram_quantile(0.99, sum by (le) (rate(adstack_relay_latency_seconds_bucket[5m])))"
     " > 0.5", {"adstack_relay_latency_seconds_bucket"}),
    ("time() - max(adstack_last_block_timestamp_seconds) > 300",
     {"adstack_last_block_timestamp_seconds"}),
    ("(max(adstack_leader) or vector(0)) < 1", {"adstack_leader"}),
    ("sum(rate(a_total[5m] offset 1h)) / sum without (x) (rate(b_total[1h30m])) > 1e3",
     {"a_total", "b_total"}),
    ("rate(x[5m:30s]) and on (instance) group_left (job) y == bool 2", {"x", "y"}),
    ("count(z) by (job)", {"z"}),
])
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_matcher_labels_are_attached_to_their_metric() -> None:
    found = selectors('a{type="x", instance=~"$gateway"} + b{reason!="slow"} + c')
    assert [(s.name, s.labels) for s in found] == [
        ("a", {"type", "instance"}), ("b", {"reason"}), ("c", set())]


def test_strings_cannot_smuggle_names() -> None:
    assert metric_names('a{type="sum by (x) rate(fake_metric[5m])"}') == {"a"}
