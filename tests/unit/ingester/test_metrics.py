"""The ingester's metric helpers move exactly the samples they should."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from adstack_ingester import metrics as m
from adstack_metrics import OTHER


def value(name: str, **labels: str) -> float:
    sample = REGISTRY.get_sample_value(name, labels)
    return 0.0 if sample is None else sample


def test_block_received_and_published_with_lag() -> None:
    received = value("adstack_blocks_received_total", source="observer")
    published = value("adstack_blocks_published_total", source="hiro")
    lag_count = value("adstack_ingest_lag_seconds_count", source="hiro")
    le_1 = value("adstack_ingest_lag_seconds_bucket", source="hiro", le="1.0")
    le_025 = value("adstack_ingest_lag_seconds_bucket", source="hiro", le="0.25")
    m.record_block_received("observer")
    m.record_block_published(123, 1_700_000_000.0, source="hiro", now=1_700_000_000.6)
    assert value("adstack_blocks_received_total", source="observer") - received == 1
    assert value("adstack_blocks_published_total", source="hiro") - published == 1
    assert value("adstack_ingest_lag_seconds_count", source="hiro") - lag_count == 1
    assert value("adstack_ingest_lag_seconds_bucket", source="hiro", le="1.0") - le_1 == 1
    assert value("adstack_ingest_lag_seconds_bucket", source="hiro", le="0.25") == le_025
    assert value("adstack_last_block_height") == 123
    assert value("adstack_last_block_timestamp_seconds") == 1_700_000_000.6


def test_unknown_block_time_records_no_lag() -> None:
    count = value("adstack_ingest_lag_seconds_count", source="observer")
    m.record_block_published(5, 0, now=1_800_000_000.0)
    assert value("adstack_ingest_lag_seconds_count", source="observer") == count
    assert value("adstack_last_block_timestamp_seconds") == 1_800_000_000.0


def test_events_by_type_duplicates_and_failures() -> None:
    def v(name: str, **labels: str) -> float:
        return value(name, **labels)

    before = (v("adstack_events_received_total", type="bid_placed", source="observer"),
              v("adstack_events_published_total", type="bid_placed", source="observer"),
              v("adstack_duplicates_dropped_total", source="observer"),
              v("adstack_decode_failures_total", source="observer"))
    m.record_events({"bid_placed": 4, "print": 0}, {"bid_placed": 3}, duplicates=1,
                    decode_failures=2)
    after = (v("adstack_events_received_total", type="bid_placed", source="observer"),
             v("adstack_events_published_total", type="bid_placed", source="observer"),
             v("adstack_duplicates_dropped_total", source="observer"),
             v("adstack_decode_failures_total", source="observer"))
    assert [a - b for a, b in zip(after, before, strict=True)] == [4, 3, 1, 2]
    assert REGISTRY.get_sample_value("adstack_events_received_total",
                                     {"type": "print", "source": "observer"}) is None


def test_rollbacks_and_request_outcomes() -> None:
    rollbacks = value("adstack_rollbacks_total", source="observer")
    reverted = value("adstack_events_reverted_total", source="observer")
    m.record_rollback(2, 7)
    assert value("adstack_rollbacks_total", source="observer") - rollbacks == 2
    assert value("adstack_events_reverted_total", source="observer") - reverted == 7
    for outcome, label in [("ok", "ok"), ("not_leader", "not_leader"), ("teapot", OTHER)]:
        before = value("adstack_ingest_requests_total", outcome=label)
        m.record_request(outcome)
        assert value("adstack_ingest_requests_total", outcome=label) - before == 1


def test_leader_gauge_and_transitions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(m, "_is_leader", None)
    to_leader = value("adstack_leader_transitions_total", role="leader")
    to_follower = value("adstack_leader_transitions_total", role="follower")
    m.set_leader(False)  # the initial role is not a transition
    m.set_leader(False)
    m.set_leader(True)
    assert value("adstack_leader") == 1
    m.set_leader(False)
    assert value("adstack_leader") == 0
    assert value("adstack_leader_transitions_total", role="leader") - to_leader == 1
    assert value("adstack_leader_transitions_total", role="follower") - to_follower == 1


def test_stall_clock_starts_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(m, "_clock_started", False)
    m.mark_started(now=1_600_000_000.0)
    assert value("adstack_last_block_timestamp_seconds") == 1_600_000_000.0
    m.mark_started(now=1_650_000_000.0)
    assert value("adstack_last_block_timestamp_seconds") == 1_600_000_000.0


def test_buckets_span_the_issue_s_range() -> None:
    assert m.INGEST_LAG_BUCKETS[0] == 0.1 and m.INGEST_LAG_BUCKETS[-1] == 600.0


def test_a_redis_success_after_a_failure_is_one_reconnect(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(m, "_redis_up", None)
    before = value("adstack_redis_reconnects_total")
    m.observe_redis(True)  # the first observation is no reconnect
    m.observe_redis(True)
    assert value("adstack_redis_up") == 1
    m.observe_redis(False)
    m.observe_redis(False)
    assert value("adstack_redis_up") == 0
    m.observe_redis(True)
    m.observe_redis(True)
    assert value("adstack_redis_up") == 1
    assert value("adstack_redis_reconnects_total") - before == 1


def test_decode_failures_by_source() -> None:
    before = value("adstack_decode_failures_total", source="chainhook")
    m.record_decode_failures(2, source="chainhook")
    m.record_decode_failures(0, source="chainhook")
    assert value("adstack_decode_failures_total", source="chainhook") - before == 2
