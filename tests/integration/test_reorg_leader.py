"""Reverts, fencing, the leader lease and the block processor against a real Redis."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import msgspec
import pytest
import redis.asyncio as aioredis

from adstack_bus import ChainStore, Lease, NotLeader, Publisher, Store, create_redis, keys
from adstack_devnet import DEFAULT_CONTRACTS
from adstack_devnet.chain import Block, Chain
from adstack_events import EventReverted, TransactionFeed
from adstack_ingester.chain import BlockRecord
from adstack_ingester.payloads import new_block_decoder
from adstack_ingester.pipeline import block_record, block_txs, contract_filter
from adstack_ingester.processor import BlockProcessor
from tests.helpers.chainview import record

ALL = contract_filter(("*",))
CAMPAIGN = DEFAULT_CONTRACTS["CAMPAIGN_CONTRACT"]


async def test_revert_withdraws_once_and_updates_history_and_stats(
        redis: aioredis.Redis) -> None:
    chain = Chain({"CAMPAIGN_CONTRACT": CAMPAIGN}, seed=2, events_per_block=4)
    rec = record(chain.next_block())
    pub = Publisher(redis)
    await pub.publish_events(rec.events)
    store = Store(redis)
    before = await store.stats(CAMPAIGN)
    assert before["total"] == 4
    ids = [e.id for e in rec.events]
    notice = EventReverted(contractId=CAMPAIGN, ids=[*ids[:2], "not-published"],
                           blockHash=rec.block_hash, indexBlockHash=rec.index_block_hash,
                           blockHeight=rec.height)
    assert await pub.revert_events([notice]) == {CAMPAIGN: 2}
    assert await pub.revert_events([notice]) == {}  # a retry is a no-op
    after = await store.stats(CAMPAIGN)
    assert after["total"] == 2
    assert sum(after["byType"].values()) == 2
    recent = [msgspec.json.decode(d)["id"] for d in await store.recent(CAMPAIGN, 10)]
    assert sorted(recent) == sorted(ids[2:])
    page = await store.since(CAMPAIGN, 4)
    assert page.kinds == ["r"] and page.offsets == [5]
    notice_data = msgspec.json.decode(page.events[0])
    assert notice_data["ids"] == ids[:2] and notice_data["reason"] == "reorg"
    assert notice_data["blockHeight"] == rec.height and notice_data["offset"] == 5
    # Re-applying the block publishes the withdrawn events again (markers were deleted)
    # and un-hides them.
    again = await pub.publish_events(rec.events)
    assert again.published == 2 and again.duplicates == 2
    assert len(await store.recent(CAMPAIGN, 10)) == 4


async def test_a_stale_fencing_token_publishes_nothing(redis: aioredis.Redis) -> None:
    # Long enough that b's first try surely falls inside a's lease on a loaded machine;
    # the lease's real expiry is then awaited (no sleep that guesses it).
    first = Lease(redis, "a", ttl_ms=2000)
    second = Lease(redis, "b", ttl_ms=2000)
    token_a = await first.acquire()
    assert token_a is not None
    assert await second.acquire() is None
    old_leader = Publisher(redis, fence=token_a)
    chain = Chain({"CAMPAIGN_CONTRACT": CAMPAIGN}, seed=3, events_per_block=2)
    rec = record(chain.next_block())
    assert (await old_leader.publish_events(rec.events[:1])).published == 1
    deadline = asyncio.get_running_loop().time() + 20
    while await redis.exists(keys.LEADER):  # a's lease expires (the process was "paused")
        assert asyncio.get_running_loop().time() < deadline, "the lease never expired"
        await asyncio.sleep(0.05)
    token_b = await second.acquire()
    assert token_b is not None and token_b > token_a
    assert not await first.renew(token_a)
    with pytest.raises(NotLeader):
        await old_leader.publish_events(rec.events[1:])
    with pytest.raises(NotLeader):
        await old_leader.revert_events([EventReverted(
            contractId=CAMPAIGN, ids=[rec.events[0].id], blockHash="0x", indexBlockHash="0x",
            blockHeight=1)])
    with pytest.raises(NotLeader):
        await ChainStore(redis).commit(fence=token_a, tip=None)
    assert (await Store(redis).stats(CAMPAIGN))["total"] == 1
    new_leader = Publisher(redis, fence=token_b)
    assert (await new_leader.publish_events(rec.events)).published == 1
    assert await second.release()
    assert await first.acquire() is not None


async def test_processor_reorg_survives_a_failover(redis: aioredis.Redis) -> None:
    """A new leader loads the chain from Redis and still reverts a fork's orphans."""
    chain = Chain(DEFAULT_CONTRACTS, seed=8, events_per_block=3)
    lease = Lease(redis, "one")
    token = await lease.acquire()
    first = BlockProcessor(Publisher(redis, fence=token), ChainStore(redis))
    for _ in range(6):
        await first.process(record(chain.next_block()), reorg_to=False)
    orphaned, branch = chain.fork(3)
    await first.process(record(branch[0]), reorg_to=False)  # kept aside
    await lease.release()
    token2 = await Lease(redis, "two").acquire()
    second = BlockProcessor(Publisher(redis, fence=token2), ChainStore(redis))
    reverted = 0
    for block in branch[1:]:
        outcome = await second.process(record(block), reorg_to=False)
        reverted += outcome.reverted
    orphan_ids = {e.id for b in orphaned for e in record(b).events}
    assert reverted == len(orphan_ids)
    store = Store(redis)
    live: set[str] = set()
    for contract in DEFAULT_CONTRACTS.values():
        live |= {msgspec.json.decode(d)["id"] for d in await store.recent(contract, 100)}
    assert live == {e.id for b in chain.blocks for e in record(b).events}
    tip = await ChainStore(redis).checkpoint()
    assert tip is not None and tip.indexBlockHash == chain.tip[2]
    with pytest.raises(NotLeader):
        await first.process(record(chain.next_block()), reorg_to=False)


async def test_feeds_are_published_once_per_new_canonical_block(
        redis: aioredis.Redis, clean_redis: str) -> None:
    got: list[dict[str, object]] = []
    sub = create_redis(clean_redis)
    pubsub = sub.pubsub()
    await pubsub.subscribe(keys.BLOCK_CHANNEL, keys.TRANSACTION_CHANNEL)
    chain = Chain({"CAMPAIGN_CONTRACT": CAMPAIGN}, seed=9, events_per_block=2)
    processor = BlockProcessor(Publisher(redis), ChainStore(redis))
    block = record(chain.next_block())
    await processor.process(block, reorg_to=False)
    await processor.process(block, reorg_to=False)  # re-sent: no second feed
    for _ in range(50):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None:
            got.append(json.loads(message["data"]))
    await pubsub.aclose()
    await sub.aclose()
    assert [f["event"] for f in got] == ["block", "transaction", "transaction"]
    assert got[0]["data"] == {"height": 1, "hash": block.block_hash,
                              "indexBlockHash": block.index_block_hash,
                              "burnBlockHeight": block.burn_height,
                              "timestamp": block.timestamp, "txCount": 2}
    assert got[1]["data"]["contractId"] == CAMPAIGN
    assert got[1]["data"]["sender"].startswith("ST")
    assert got[1]["data"]["status"] == "success" and got[1]["data"]["blockHeight"] == 1


async def test_a_deferred_transaction_feed_reaches_the_record_on_every_path(
        redis: aioredis.Redis, clean_redis: str) -> None:
    """process(txs=…) as the observer source calls it: the feed is made during the publish
    round trip for a block that extends the chain, and before planning for a side block,
    whose stored record must carry it to be published when its branch wins."""
    sub = create_redis(clean_redis)
    pubsub = sub.pubsub()
    await pubsub.subscribe(keys.TRANSACTION_CHANNEL)
    chain = Chain({"CAMPAIGN_CONTRACT": CAMPAIGN}, seed=10, events_per_block=2)
    processor = BlockProcessor(Publisher(redis), ChainStore(redis))
    calls: list[str] = []

    def deferred(block: Block) -> tuple[BlockRecord, Callable[[], list[TransactionFeed]]]:
        decoded = new_block_decoder.decode(json.dumps(block.payload).encode())
        bare = block_record(decoded, ALL, with_txs=False)
        assert bare.txs == [] and bare.events

        def txs() -> list[TransactionFeed]:
            calls.append(bare.index_block_hash)
            return block_txs(decoded, ALL)
        return bare, txs

    for _ in range(3):
        bare, txs = deferred(chain.next_block())
        await processor.process(bare, reorg_to=False, txs=txs)
    _orphaned, branch = chain.fork(1)
    side, side_txs = deferred(branch[0])
    held = await processor.process(side, reorg_to=False, txs=side_txs)
    assert held.held and held.published == 0
    winner, winner_txs = deferred(branch[1])
    won = await processor.process(winner, reorg_to=False, txs=winner_txs)
    assert won.reorg
    assert len(calls) == 5, "each block's feed is made exactly once"
    txids: list[str] = []
    for _ in range(80):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if message is not None:
            txids.append(json.loads(message["data"])["data"]["txId"])
    await pubsub.aclose()
    await sub.aclose()
    # 3 canonical blocks, then the side block and its child once the branch won: 2 each.
    assert len(txids) == 10 and len(set(txids)) == 10
    assert {t.txId for t in block_txs(new_block_decoder.decode(
        json.dumps(branch[0].payload).encode()), ALL)} <= set(txids)
