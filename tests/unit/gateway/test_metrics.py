"""The gateway's metric helpers move exactly the samples they should (before/after deltas on
the default registry, which is what /metrics renders)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY

from adstack_gateway import metrics as m
from adstack_metrics import OTHER, BoundedLabel
from adstack_protocol import CloseCode, ErrorCode


def value(name: str, **labels: str) -> float:
    sample = REGISTRY.get_sample_value(name, labels)
    return 0.0 if sample is None else sample


def delta(name: str, action: Callable[[], None], **labels: str) -> float:
    before = value(name, **labels)
    action()
    return value(name, **labels) - before


def test_live_counts_are_set_not_accumulated() -> None:
    m.set_live_counts(5, 12, 3)
    m.set_live_counts(2, 4, 1)
    assert value("adstack_connected_clients") == 2
    assert value("adstack_active_subscriptions") == 4
    assert value("adstack_redis_channels") == 1


def test_connections_by_transport() -> None:
    assert delta("adstack_connections_total", lambda: m.record_connection("native"),
                 transport="native") == 1
    assert delta("adstack_connections_total", lambda: m.record_connection("carrier-pigeon"),
                 transport=OTHER) == 1


@pytest.mark.parametrize(("code", "reason"), [
    (CloseCode.SLOW, "slow"), (4000, "shutdown"), (1000, "normal"), (None, "client"),
    (4321, "other"), (CloseCode.FORBIDDEN_ORIGIN, "forbidden_origin"),
])
def test_disconnect_reasons_come_from_close_codes(code: int | None, reason: str) -> None:
    assert m.disconnect_reason(code) == reason
    assert reason in (*m.DISCONNECT_REASONS, "other")
    assert delta("adstack_disconnects_total", lambda: m.record_disconnect(code),
                 transport="native", reason=reason) == 1
    assert delta("adstack_disconnects_total", lambda: m.record_disconnect(code, "socketio"),
                 transport="socketio", reason=reason) == 1


def test_transport_labels_of_session_kinds() -> None:
    assert m.transport_of("ws") == "native"
    assert m.transport_of("sio") == "socketio"
    assert delta("adstack_disconnects_total",
                 lambda: m.record_disconnect(None, m.transport_of("telnet")),
                 transport=OTHER, reason="client") == 1


def test_delivery_counts_events_by_type_and_source() -> None:
    labels = {"type": "campaign_created", "source": "observer"}
    assert delta("adstack_events_delivered_total",
                 lambda: m.record_delivery(3, event_type="campaign_created", source="observer"),
                 **labels) == 3
    assert delta("adstack_events_delivered_total",
                 lambda: m.record_delivery(2, frame="event_reverted", source="observer"),
                 type="event_reverted", source="observer") == 2
    assert delta("adstack_feed_messages_delivered_total",
                 lambda: m.record_delivery(4, frame="block"), feed="block") == 4

    def not_deliveries() -> None:
        m.record_delivery(5, frame="subscribed")  # replies are not deliveries
        m.record_delivery(0, event_type="campaign_created", source="observer")

    assert delta("adstack_events_delivered_total", not_deliveries, **labels) == 0


def test_event_types_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(m, "event_type_label", BoundedLabel(3))
    for index in range(20):
        m.record_delivery(event_type=f"capped-type-{index}", source="observer")
    seen = {sample.labels["type"] for family in REGISTRY.collect()
            if family.name == "adstack_events_delivered" for sample in family.samples
            if sample.labels.get("type", "").startswith("capped-type-")}
    assert seen == {"capped-type-0", "capped-type-1", "capped-type-2"}
    assert value("adstack_events_delivered_total", type=OTHER, source="observer") >= 17


def test_relay_latency_buckets() -> None:
    def bucket(le: str) -> float:
        return value("adstack_relay_latency_seconds_bucket", le=le)

    before = {le: bucket(le) for le in ("0.0005", "0.001", "2.5", "+Inf")}
    count = value("adstack_relay_latency_seconds_count")
    m.observe_relay_latency(0.0007)
    m.observe_relay_latency(-0.2)  # clock skew counts as 0
    m.observe_relay_latency(7.0)
    assert bucket("0.0005") - before["0.0005"] == 1
    assert bucket("0.001") - before["0.001"] == 2
    assert bucket("2.5") - before["2.5"] == 2
    assert bucket("+Inf") - before["+Inf"] == 3
    assert value("adstack_relay_latency_seconds_count") - count == 3
    assert m.RELAY_LATENCY_BUCKETS[0] == 0.0005 and m.RELAY_LATENCY_BUCKETS[-1] == 2.5


def test_relay_latency_from_published_at() -> None:
    count = value("adstack_relay_latency_seconds_count")
    total = value("adstack_relay_latency_seconds_sum")
    m.observe_relay_since(1_700_000_000_000, now=1_700_000_000.004)
    m.observe_relay_since(0, now=1_700_000_000.0)  # no publishedAt: not observed
    assert value("adstack_relay_latency_seconds_count") - count == 1
    assert value("adstack_relay_latency_seconds_sum") - total == pytest.approx(0.004, abs=1e-6)


def test_failures_limits_recoveries_and_errors() -> None:
    assert delta("adstack_outbox_overflows_total", m.record_outbox_overflow) == 1
    assert delta("adstack_auth_failures_total", lambda: m.record_auth_failure("expired"),
                 reason="expired") == 1
    assert delta("adstack_auth_failures_total",
                 lambda: m.record_auth_failure("eyJhbGciOi.secret-token"), reason=OTHER) == 1
    assert delta("adstack_rate_limit_hits_total", lambda: m.record_rate_limited("commands"),
                 limit="commands") == 1
    assert delta("adstack_recoveries_total", lambda: m.record_recovery("recovered"),
                 outcome="recovered") == 1
    assert delta("adstack_recoveries_total", lambda: m.record_recovery("because"),
                 outcome=OTHER) == 1
    assert delta("adstack_protocol_errors_total",
                 lambda: m.record_protocol_error(ErrorCode.RATE_LIMITED),
                 code="RATE_LIMITED") == 1
    assert delta("adstack_commands_total", lambda: m.record_command("subscribe"),
                 command="subscribe") == 1
    assert delta("adstack_commands_total", lambda: m.record_command("drop table"),
                 command=OTHER) == 1
    assert delta("adstack_bus_malformed_messages_total", m.record_bus_malformed) == 1
    assert delta("adstack_auth_failures_total", lambda: m.record_auth_failure("wrong_user"),
                 reason="wrong_user") == 1


def test_backfill_outcomes_and_events() -> None:
    assert delta("adstack_backfills_total", lambda: m.record_backfill("ok", 7),
                 outcome="ok") == 1
    assert delta("adstack_backfilled_events_total", lambda: m.record_backfill("ok", 3)) == 3
    assert delta("adstack_backfilled_events_total", lambda: m.record_backfill("failed")) == 0
    assert delta("adstack_backfills_total", lambda: m.record_backfill("timeout"),
                 outcome=OTHER) == 1


def test_draining_gauge() -> None:
    m.set_draining(True)
    assert value("adstack_draining") == 1
    m.set_draining(False)
    assert value("adstack_draining") == 0


def test_original_names_are_kept() -> None:
    names = {family.name for family in REGISTRY.collect()}
    assert {"adstack_connected_clients", "adstack_active_subscriptions",
            "adstack_uptime_seconds", "adstack_memory_usage_bytes"} <= names
