"""Mempool ``transaction`` feeds written by the block processor (the single writer) against a
real Redis: fenced like blocks, serialised with them, the tip untouched."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis.asyncio as aioredis

from adstack_bus import ChainStore, Lease, NotLeader, Publisher, create_redis, keys
from adstack_events import TransactionFeed
from adstack_ingester.processor import BlockProcessor


def feed(n: int, status: str = "pending") -> TransactionFeed:
    return TransactionFeed(txId=f"0x{n:064x}", contractId="ST1.campaign",
                           functionName="create-campaign", sender="ST1", status=status,
                           blockHeight=None)


async def received(pubsub: Any, count: int, wait: float = 5.0) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + wait
    while len(frames) < count and asyncio.get_running_loop().time() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message is not None:
            frames.append(json.loads(message["data"]))
    return frames


async def test_feeds_are_published_fenced_and_a_stale_token_publishes_nothing(
        redis: aioredis.Redis, clean_redis: str) -> None:
    token = await Lease(redis, "one", ttl_ms=60_000).acquire()
    assert token is not None
    processor = BlockProcessor(Publisher(redis, fence=token), ChainStore(redis))
    sub = create_redis(clean_redis)
    pubsub = sub.pubsub()
    await pubsub.subscribe(keys.TRANSACTION_CHANNEL)
    try:
        await processor.publish_feeds([feed(1), feed(2, "dropped_replace_by_fee")])
        frames = await received(pubsub, 2)
        assert frames == [
            {"event": "transaction", "data": json.loads(json.dumps(f, default=_fields))}
            for f in (feed(1), feed(2, "dropped_replace_by_fee"))]
        assert await ChainStore(redis).checkpoint() is None  # the tip is not touched
        # Another leader is elected (the lease released, as on a clean handover).
        assert await Lease(redis, "one", ttl_ms=60_000).release()
        newer = await Lease(redis, "two", ttl_ms=60_000).acquire()
        assert newer is not None and newer > token
        with pytest.raises(NotLeader):
            await processor.publish_feeds([feed(3)])
        assert await received(pubsub, 1, wait=0.5) == []
    finally:
        await pubsub.aclose()
        await sub.aclose()


async def test_feeds_wait_for_a_block_in_flight(redis: aioredis.Redis) -> None:
    token = await Lease(redis, "one", ttl_ms=60_000).acquire()
    processor = BlockProcessor(Publisher(redis, fence=token), ChainStore(redis))
    async with processor.lock:  # a block is being written
        task = asyncio.ensure_future(processor.publish_feeds([feed(1)]))
        await asyncio.sleep(0.05)
        assert not task.done()
    await asyncio.wait_for(task, 5)


def _fields(value: TransactionFeed) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__struct_fields__}
