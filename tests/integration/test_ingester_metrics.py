"""The block processor's metrics against a real Redis: what reached Redis, exactly.

A run of blocks with a re-send, a 2.x fork kept aside then winning, and an explicit
rollback moves each counter by the amount the chain rules dictate (before/after deltas on
the process registry, which is what /metrics renders).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from adstack_bus import ChainStore, Publisher, create_redis
from adstack_devnet import DEFAULT_CONTRACTS
from adstack_devnet.chain import Chain
from adstack_ingester.processor import BlockProcessor
from tests.helpers.chainview import record

SOURCE = {"source": "observer"}


def total(name: str, **labels: str) -> float:
    """Sum of every sample of ``name`` whose labels include ``labels``."""
    out = 0.0
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                out += sample.value
    return out


NAMES = ("adstack_blocks_received_total", "adstack_blocks_published_total",
         "adstack_events_received_total", "adstack_events_published_total",
         "adstack_duplicates_dropped_total", "adstack_rollbacks_total",
         "adstack_events_reverted_total", "adstack_ingest_lag_seconds_count")


def snapshot() -> dict[str, float]:
    return {name: total(name, **SOURCE) for name in NAMES}


def moved(before: dict[str, float]) -> dict[str, float]:
    after = snapshot()
    return {name.removeprefix("adstack_"): after[name] - before[name] for name in NAMES}


@pytest.fixture()
async def processor(clean_redis: str) -> AsyncIterator[BlockProcessor]:
    client: aioredis.Redis = create_redis(clean_redis)
    yield BlockProcessor(Publisher(client), ChainStore(client))
    await client.aclose()


async def test_counts_follow_publishes_reorgs_and_rollbacks(processor: BlockProcessor) -> None:
    contracts = {k: DEFAULT_CONTRACTS[k] for k in ("CAMPAIGN_CONTRACT", "AUCTION_CONTRACT")}
    chain = Chain(contracts, seed=7, events_per_block=3, start_time=int(time.time()) - 60)
    blocks = [chain.next_block() for _ in range(3)]
    types = Counter(e.type for b in blocks for e in record(b).events)
    assert sum(types.values()) == 9

    before = snapshot()
    by_type = {t: total("adstack_events_published_total", type=t, **SOURCE) for t in types}
    for block in blocks:
        await processor.process(record(block), reorg_to=False)
    assert moved(before) == {
        "blocks_received_total": 3, "blocks_published_total": 3, "events_received_total": 9,
        "events_published_total": 9, "duplicates_dropped_total": 0, "rollbacks_total": 0,
        "events_reverted_total": 0, "ingest_lag_seconds_count": 3}
    for event_type, count in types.items():
        published = total("adstack_events_published_total", type=event_type, **SOURCE)
        assert published - by_type[event_type] == count
    assert REGISTRY.get_sample_value("adstack_last_block_height") == 3

    # The node re-sends a canonical block: its events are duplicates, the chain stays.
    before = snapshot()
    await processor.process(record(blocks[1]), reorg_to=False)
    assert moved(before) == {
        "blocks_received_total": 1, "blocks_published_total": 0, "events_received_total": 3,
        "events_published_total": 0, "duplicates_dropped_total": 3, "rollbacks_total": 0,
        "events_reverted_total": 0, "ingest_lag_seconds_count": 0}

    # A 2.x fork: the first side block is kept aside, the second outgrows the tip and
    # reverts block 3 (3 events), publishing both side blocks.
    orphaned, branch = chain.fork(1)
    assert [b.height for b in orphaned] == [3] and [b.height for b in branch] == [3, 4]
    before = snapshot()
    await processor.process(record(branch[0]), reorg_to=False)
    assert moved(before) == {
        "blocks_received_total": 1, "blocks_published_total": 0, "events_received_total": 3,
        "events_published_total": 0, "duplicates_dropped_total": 0, "rollbacks_total": 0,
        "events_reverted_total": 0, "ingest_lag_seconds_count": 0}
    before = snapshot()
    outcome = await processor.process(record(branch[1]), reorg_to=False)
    assert outcome.reorg and outcome.reverted == 3 and outcome.published == 6
    assert moved(before) == {
        "blocks_received_total": 1, "blocks_published_total": 2, "events_received_total": 3,
        "events_published_total": 6, "duplicates_dropped_total": 0, "rollbacks_total": 1,
        "events_reverted_total": 3, "ingest_lag_seconds_count": 2}

    # An explicit rollback (Chainhook) of the new tip withdraws it and its 3 events.
    before = snapshot()
    outcome = await processor.rollback(record(branch[1]))
    assert outcome.reverted == 3
    assert moved(before) == {
        "blocks_received_total": 0, "blocks_published_total": 0, "events_received_total": 0,
        "events_published_total": 0, "duplicates_dropped_total": 0, "rollbacks_total": 1,
        "events_reverted_total": 3, "ingest_lag_seconds_count": 0}


async def test_ingest_lag_is_block_time_to_publish(processor: BlockProcessor) -> None:
    chain = Chain({"CAMPAIGN_CONTRACT": DEFAULT_CONTRACTS["CAMPAIGN_CONTRACT"]}, seed=8,
                  events_per_block=1, start_time=int(time.time()) - 45)
    block = chain.next_block()  # block time = start + 10 s: about 35 s ago

    def bucket(le: str) -> float:
        return total("adstack_ingest_lag_seconds_bucket", le=le, **SOURCE)

    before = {le: bucket(le) for le in ("10.0", "30.0", "60.0", "+Inf")}
    lag_sum = total("adstack_ingest_lag_seconds_sum", **SOURCE)
    await processor.process(record(block), reorg_to=False)
    assert {le: bucket(le) - before[le] for le in before} == {
        "10.0": 0, "30.0": 0, "60.0": 1, "+Inf": 1}
    assert 30 < total("adstack_ingest_lag_seconds_sum", **SOURCE) - lag_sum < 60
