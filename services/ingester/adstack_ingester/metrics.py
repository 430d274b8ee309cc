"""Every Prometheus metric the ingester exposes, and the helpers that record them.

Labels are low-cardinality: ``source`` (observer, hiro, chainhook, …), event ``type``
(bounded: the first 100 distinct types keep their name, later ones become ``other``) and
request ``outcome``. Never a block hash, tx id or contract id. Process-level metrics
(uptime, memory, Redis health) live in :mod:`adstack_metrics.process`.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

from adstack_metrics import BoundedLabel, choose, record_redis_reconnect, set_redis_up

INGEST_LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
"""Block time → published, 0.1 s … 10 min (block times have one-second resolution)."""

REQUEST_OUTCOMES = ("ok", "bad_request", "unauthorized", "too_large", "unavailable",
                    "not_leader", "timeout")
"""Observer POST results: 200, 400, 401, 413, 503 (Redis down), 503 (this replica is a
standby), 408 (the body was not complete within ``BODY_TIMEOUT``)."""

event_type_label = BoundedLabel(100)
source_label = BoundedLabel(8, preset=("observer", "hiro", "chainhook"))

BLOCKS_RECEIVED = Counter("adstack_blocks_received", "Blocks received, by source.", ["source"])
BLOCKS_PUBLISHED = Counter("adstack_blocks_published",
                           "Blocks fully processed and published (block feed), by source.",
                           ["source"])
EVENTS_RECEIVED = Counter("adstack_events_received",
                          "Print events of configured contracts decoded from blocks, by type "
                          "and source (before dedup).", ["type", "source"])
EVENTS_PUBLISHED = Counter("adstack_events_published",
                           "Events published to Redis (after dedup), by type and source.",
                           ["type", "source"])
DUPLICATES_DROPPED = Counter("adstack_duplicates_dropped",
                             "Events not published because they were already published.",
                             ["source"])
DECODE_FAILURES = Counter("adstack_decode_failures",
                          "Print events skipped because their value did not decode.",
                          ["source"])
ROLLBACKS = Counter("adstack_rollbacks", "Blocks rolled back by a reorg, by source.",
                    ["source"])
EVENTS_REVERTED = Counter("adstack_events_reverted",
                          "Published events retracted because their block was orphaned.",
                          ["source"])
INGEST_LAG = Histogram("adstack_ingest_lag_seconds",
                       "Seconds from a block's timestamp to its events being published.",
                       ["source"], buckets=INGEST_LAG_BUCKETS)
INGEST_REQUESTS = Counter("adstack_ingest_requests", "Observer POSTs, by outcome.",
                          ["outcome"])
LAST_BLOCK_HEIGHT = Gauge("adstack_last_block_height",
                          "Height of the last block this process published.",
                          multiprocess_mode="livemax")
LAST_BLOCK_TIMESTAMP = Gauge("adstack_last_block_timestamp_seconds",
                             "Unix time this process last published a block (its start time "
                             "until the first block), for the stalled-ingester alert.",
                             multiprocess_mode="livemax")
LEADER = Gauge("adstack_leader", "1 while this process holds the publishing lease, else 0.",
               multiprocess_mode="livemax")
LEADER_TRANSITIONS = Counter("adstack_leader_transitions",
                             "Leadership changes of this process, by new role.", ["role"])

_is_leader: bool | None = None
_clock_started = False
_redis_up: bool | None = None


def mark_started(now: float | None = None) -> None:
    """Start the stall clock: until a block arrives, the last-block time is the start time.

    Only the first call in a process counts (an app created twice does not reset it).
    """
    global _clock_started
    if not _clock_started:
        _clock_started = True
        LAST_BLOCK_TIMESTAMP.set(time.time() if now is None else now)


def record_request(outcome: str) -> None:
    """One observer POST answered (see :data:`REQUEST_OUTCOMES`)."""
    INGEST_REQUESTS.labels(outcome=choose(outcome, REQUEST_OUTCOMES)).inc()


def record_block_received(source: str = "observer") -> None:
    BLOCKS_RECEIVED.labels(source=source_label(source)).inc()


def record_block_published(height: int, block_time: float, *, source: str = "observer",
                           now: float | None = None) -> None:
    """A block's events are published: height, stall clock and ingest lag.

    ``block_time`` is the block's timestamp in seconds (0 when unknown: no lag observed).
    """
    now = time.time() if now is None else now
    label = source_label(source)
    BLOCKS_PUBLISHED.labels(source=label).inc()
    LAST_BLOCK_HEIGHT.set(height)
    LAST_BLOCK_TIMESTAMP.set(now)
    if block_time > 0:
        INGEST_LAG.labels(source=label).observe(max(0.0, now - block_time))


def record_events(received: dict[str, int], published: dict[str, int], *,
                  source: str = "observer", duplicates: int = 0,
                  decode_failures: int = 0) -> None:
    """Counts for one block: events received and published by type, duplicates, failures."""
    label = source_label(source)
    for event_type, count in received.items():
        if count > 0:
            EVENTS_RECEIVED.labels(type=event_type_label(event_type), source=label).inc(count)
    for event_type, count in published.items():
        if count > 0:
            EVENTS_PUBLISHED.labels(type=event_type_label(event_type), source=label).inc(count)
    if duplicates > 0:
        DUPLICATES_DROPPED.labels(source=label).inc(duplicates)
    if decode_failures > 0:
        DECODE_FAILURES.labels(source=label).inc(decode_failures)


def record_decode_failures(count: int, *, source: str = "observer") -> None:
    """``count`` print events of one delivery were skipped as undecodable."""
    record_events({}, {}, source=source, decode_failures=count)


def observe_redis(up: bool) -> None:
    """Redis answered (``up``) or failed: set ``adstack_redis_up``.

    The first success after a failure counts as a reconnect (the ingester's command client
    reconnects by itself; this is where the process sees that it did). Successes come from
    the Redis probe (every few seconds and on each scrape); failures also from observer
    requests that Redis refused.
    """
    global _redis_up
    set_redis_up(up)
    if up and _redis_up is False:
        record_redis_reconnect()
    _redis_up = up


def record_rollback(blocks: int, events: int, *, source: str = "observer") -> None:
    """A reorg orphaned ``blocks`` blocks whose ``events`` published events were retracted."""
    label = source_label(source)
    if blocks > 0:
        ROLLBACKS.labels(source=label).inc(blocks)
    if events > 0:
        EVENTS_REVERTED.labels(source=label).inc(events)


def set_leader(leader: bool) -> None:
    """Set the leader gauge; count a transition when the role changes."""
    global _is_leader
    LEADER.set(1 if leader else 0)
    if _is_leader is not None and leader != _is_leader:
        LEADER_TRANSITIONS.labels(role="leader" if leader else "follower").inc()
    _is_leader = leader
