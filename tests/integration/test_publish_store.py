"""The Redis seam against a real server: offsets, dedup, history cap, stats, epochs."""

from __future__ import annotations

import asyncio

import msgspec
import redis.asyncio as aioredis

from adstack_bus import Publisher, Store, Subscriber, create_redis, keys
from adstack_events import ContractEvent

C1 = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"
C2 = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.auction-engine"


def event(n: int, contract: str = C1, etype: str = "campaign_created") -> ContractEvent:
    return ContractEvent(id=f"id-{contract[-4:]}-{n}", type=etype, contractId=contract,
                         txId=f"0x{n:064x}", blockHeight=n, blockHash="0x" + "ab" * 32,
                         indexBlockHash="0x" + "cd" * 32, eventIndex=n, timestamp=n * 1000,
                         data={"event": etype.replace("_", "-"), "n": n})


async def test_offsets_are_gap_free_per_contract_and_duplicates_dropped(
        redis: aioredis.Redis) -> None:
    pub = Publisher(redis, history_limit=100)
    first = await pub.publish_events([event(1), event(2), event(1, C2), event(3)])
    assert first.published == 4 and first.duplicates == 0
    assert [first.offsets[f"id-{C1[-4:]}-{n}"] for n in (1, 2, 3)] == [1, 2, 3]
    assert first.offsets[f"id-{C2[-4:]}-1"] == 1
    again = await pub.publish_events([event(2), event(3), event(4)])
    assert (again.published, again.duplicates) == (1, 2)
    assert again.offsets == {f"id-{C1[-4:]}-4": 4}
    store = Store(redis)
    position = await store.position(C1)
    assert position is not None and position.offset == 4
    assert await redis.smembers(keys.CONTRACTS) == {C1.encode(), C2.encode()}


async def test_history_is_capped_newest_first_and_since_reads_in_order(
        redis: aioredis.Redis) -> None:
    pub = Publisher(redis, history_limit=5)
    await pub.publish_events([event(n) for n in range(1, 9)])
    store = Store(redis)
    recent = [msgspec.json.decode(d) for d in await store.recent(C1, 3)]
    assert [e["offset"] for e in recent] == [8, 7, 6]
    assert await store.first_offset(C1) == 4
    page = await store.since(C1, 5)
    assert page.offsets == [6, 7, 8] and page.kinds == ["e", "e", "e"]
    assert [msgspec.json.decode(d)["data"]["n"] for d in page.events] == [6, 7, 8]


async def test_stats_count_by_type(redis: aioredis.Redis) -> None:
    pub = Publisher(redis)
    await pub.publish_events([event(1), event(2, etype="spend_recorded"),
                              event(3, etype="spend_recorded")])
    stats = await Store(redis).stats(C1)
    assert stats["total"] == 3
    assert stats["byType"] == {"campaign_created": 1, "spend_recorded": 2}
    assert isinstance(stats["lastUpdated"], int)


async def test_the_same_id_twice_in_one_batch_is_published_once(
        redis: aioredis.Redis) -> None:
    pub = Publisher(redis)
    result = await pub.publish_events([event(1), event(2), event(1), event(3)])
    assert (result.published, result.duplicates) == (3, 1)
    assert (await Store(redis).stats(C1))["total"] == 3
    assert (await Store(redis).since(C1, 0)).offsets == [1, 2, 3]


async def test_publish_survives_a_flushed_script_cache(redis: aioredis.Redis) -> None:
    pub = Publisher(redis)
    await pub.publish_events([event(1), event(1, C2)])
    await redis.script_flush()  # a restarted or failed-over Redis has no scripts
    result = await pub.publish_events([event(2), event(2, C2)])
    assert result.published == 2
    assert result.offsets == {f"id-{C1[-4:]}-2": 2, f"id-{C2[-4:]}-2": 2}


async def test_history_trim_and_stats_hold_across_many_batches(redis: aioredis.Redis) -> None:
    pub = Publisher(redis, history_limit=7)
    for start in range(1, 40, 6):
        await pub.publish_events([event(n, etype="spend_recorded" if n % 3 else
                                        "campaign_created") for n in range(start, start + 6)])
    store = Store(redis)
    assert await redis.xlen(keys.history(C1)) == 7
    assert await store.first_offset(C1) == 36
    stats = await store.stats(C1)
    assert stats["total"] == 42
    assert stats["byType"] == {"campaign_created": 14, "spend_recorded": 28}


async def test_subscriber_receives_published_frames_in_order(redis: aioredis.Redis,
                                                             clean_redis: str) -> None:
    got: list[tuple[str, bytes]] = []
    sub_redis = create_redis(clean_redis, retries=False)
    subscriber = Subscriber(sub_redis, lambda ch, data: got.append((ch, data)))
    task = asyncio.create_task(subscriber.run())
    try:
        assert await subscriber.subscribe(keys.event_channel(C1))
        await Publisher(redis).publish_events([event(n) for n in range(1, 6)])
        for _ in range(100):
            if len(got) == 5:
                break
            await asyncio.sleep(0.02)
        frames = [msgspec.json.decode(data) for _, data in got]
        assert [f["event"] for f in frames] == ["event"] * 5
        assert [f["data"]["offset"] for f in frames] == [1, 2, 3, 4, 5]
    finally:
        await subscriber.close()
        task.cancel()
        await sub_redis.aclose()


async def test_subscriber_reconnects_after_client_kill_and_reports_it(
        redis: aioredis.Redis, clean_redis: str) -> None:
    got: list[bytes] = []
    reconnected: list[frozenset[str]] = []

    async def on_reconnect(channels: frozenset[str]) -> None:
        reconnected.append(channels)

    sub_redis = create_redis(clean_redis, retries=False)
    subscriber = Subscriber(sub_redis, lambda _ch, data: got.append(data),
                            on_reconnect=on_reconnect)
    task = asyncio.create_task(subscriber.run())
    try:
        channel = keys.event_channel(C1)
        assert await subscriber.subscribe(channel)
        await redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        for _ in range(200):
            if reconnected:
                break
            await asyncio.sleep(0.02)
        assert reconnected == [frozenset({channel})]
        await Publisher(redis).publish_events([event(1)])
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.02)
        assert len(got) == 1
    finally:
        await subscriber.close()
        task.cancel()
        await sub_redis.aclose()
