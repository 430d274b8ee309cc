"""The TTLs the Lua scripts set, against a real server: history, meta, dedup markers, the
reverted set and chain records, each with its own TTL configured here (distinct values, so
a script that sets one where another belongs is caught), and real expiry with TTLs of a
second (never a DEL standing in for it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from adstack_bus import ChainStore, Publisher, Store, keys
from adstack_devnet import DEFAULT_CONTRACTS
from adstack_devnet.chain import Chain
from adstack_events import ContractEvent, EventReverted
from adstack_ingester.processor import BlockProcessor
from tests.helpers.chainview import record

C1 = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"
CAMPAIGN = DEFAULT_CONTRACTS["CAMPAIGN_CONTRACT"]
HISTORY_TTL = 1200
DEDUP_TTL = 3000
RECORD_TTL = 4500
SLACK = 30
"""Seconds a TTL may have run down between the write and the read (a loaded machine)."""


def event(n: int) -> ContractEvent:
    return ContractEvent(id=f"id-ttl-{n}", type="campaign_created", contractId=C1,
                         txId=f"0x{n:064x}", blockHeight=n, blockHash="0x" + "ab" * 32,
                         indexBlockHash="0x" + "cd" * 32, eventIndex=n, timestamp=n * 1000,
                         data={"event": "campaign-created", "n": n})


async def assert_ttl(redis: aioredis.Redis, key: str, expected: int) -> None:
    ttl = await redis.ttl(key)
    assert expected - SLACK <= ttl <= expected, f"{key}: TTL {ttl}, expected {expected}"


async def until(condition: Callable[[], Awaitable[bool]], what: str,
                timeout: float = 20.0) -> None:
    """Await ``condition`` (a real expiry: Redis deletes the key on access or in its cycle)."""
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_publish_sets_the_history_meta_and_dedup_ttls(redis: aioredis.Redis) -> None:
    pub = Publisher(redis, history_ttl=HISTORY_TTL, dedup_ttl=DEDUP_TTL)
    await pub.publish_events([event(1), event(2)])
    await assert_ttl(redis, keys.meta(C1), HISTORY_TTL)
    await assert_ttl(redis, keys.history(C1), HISTORY_TTL)
    for n in (1, 2):
        await assert_ttl(redis, keys.seen(C1, event(n).id), DEDUP_TTL)
    # Each publish renews the history's TTL (it lives HISTORY_TTL after the last event).
    await redis.expire(keys.meta(C1), 100)
    await redis.expire(keys.history(C1), 100)
    await pub.publish_events([event(3)])
    await assert_ttl(redis, keys.meta(C1), HISTORY_TTL)
    await assert_ttl(redis, keys.history(C1), HISTORY_TTL)


async def test_revert_sets_the_reverted_set_and_history_ttls(redis: aioredis.Redis) -> None:
    pub = Publisher(redis, history_ttl=HISTORY_TTL, dedup_ttl=DEDUP_TTL)
    await pub.publish_events([event(1), event(2)])
    await redis.expire(keys.meta(C1), 100)
    notice = EventReverted(contractId=C1, ids=[event(1).id], blockHash="0x" + "ab" * 32,
                           indexBlockHash="0x" + "cd" * 32, blockHeight=1)
    assert await pub.revert_events([notice]) == {C1: 1}
    await assert_ttl(redis, keys.reverted(C1), DEDUP_TTL)
    await assert_ttl(redis, keys.meta(C1), HISTORY_TTL)
    await assert_ttl(redis, keys.history(C1), HISTORY_TTL)
    assert not await redis.exists(keys.seen(C1, event(1).id))  # withdrawn: may come back
    await assert_ttl(redis, keys.seen(C1, event(2).id), DEDUP_TTL)


async def test_chain_records_get_the_record_ttl(redis: aioredis.Redis) -> None:
    chain = Chain({"CAMPAIGN_CONTRACT": CAMPAIGN}, seed=3, events_per_block=2)
    processor = BlockProcessor(Publisher(redis, history_ttl=HISTORY_TTL, dedup_ttl=DEDUP_TTL),
                               ChainStore(redis, record_ttl=RECORD_TTL))
    blocks = [record(chain.next_block()) for _ in range(2)]
    for block in blocks:
        await processor.process(block, reorg_to=False)
    for block in blocks:
        await assert_ttl(redis, keys.chain_block(block.index_block_hash), RECORD_TTL)
        for published in block.events:
            await assert_ttl(redis, keys.seen(published.contractId, published.id), DEDUP_TTL)


async def test_expired_history_starts_a_new_epoch_and_live_markers_still_dedup(
        redis: aioredis.Redis) -> None:
    pub = Publisher(redis, history_ttl=1, dedup_ttl=600)
    await pub.publish_events([event(1)])
    store = Store(redis)
    before = await store.position(C1)
    assert before is not None and before.offset == 1

    async def history_gone() -> bool:
        return not await redis.exists(keys.meta(C1), keys.history(C1))

    await until(history_gone, "the history and meta to expire (TTL 1 s)")
    await assert_ttl(redis, keys.seen(C1, event(1).id), 600)
    # Only duplicates: nothing published, no new epoch written.
    again = await pub.publish_events([event(1)])
    assert (again.published, again.duplicates) == (0, 1)
    # A new event: a new epoch, counting from 1 again.
    fresh = await pub.publish_events([event(2)])
    assert fresh.offsets == {event(2).id: 1}
    after = await store.position(C1)
    assert after is not None and after.epoch != before.epoch and after.offset == 1


async def test_an_expired_dedup_marker_lets_the_event_through_again(
        redis: aioredis.Redis) -> None:
    pub = Publisher(redis, history_ttl=600, dedup_ttl=1)
    assert (await pub.publish_events([event(1)])).published == 1

    async def marker_gone() -> bool:
        return not await redis.exists(keys.seen(C1, event(1).id))

    await until(marker_gone, "the dedup marker to expire (TTL 1 s)")
    again = await pub.publish_events([event(1)])
    assert again.published == 1 and again.offsets[event(1).id] > 1
