"""Redis Cluster: sharded pub/sub, hash-tagged keys, per-contract fencing on a real
3-master valkey cluster created by the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import msgspec
import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisClusterException, ResponseError

from adstack_bus import (
    ClusterSubscriber,
    NotLeader,
    Publisher,
    Store,
    canonical_redis_url,
    create_redis,
    keys,
)
from adstack_events import ContractEvent
from adstack_localredis import LocalCluster

DEPLOYER = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM"
CONTRACTS = [f"{DEPLOYER}.{name}" for name in (
    "promo-manager", "auction-engine", "bridge-adapter", "payment-processor",
    "governance-core", "extra-one", "extra-two", "extra-three")]


def event(n: int, contract: str) -> ContractEvent:
    return ContractEvent(id=f"{contract[-5:]}-{n}", type="spend_recorded", contractId=contract,
                         txId=f"0x{n:064x}", blockHeight=n, blockHash="0x" + "ab" * 32,
                         indexBlockHash="0x" + "cd" * 32, eventIndex=0, timestamp=n,
                         data={"n": n})


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(3) as running:
        yield running


@pytest.fixture()
async def client(cluster: LocalCluster) -> AsyncIterator[aioredis.Redis]:
    redis = create_redis(canonical_redis_url(cluster.url, cluster=True))
    await redis.flushall()
    yield redis
    await redis.aclose()


async def test_contracts_spread_over_all_masters(client: aioredis.Redis) -> None:
    cluster = client  # typed as Redis; really a RedisCluster
    owners = {cluster.get_node_from_key(keys.meta(c)).name  # type: ignore[attr-defined]
              for c in CONTRACTS}
    assert len(owners) == 3, "the test contracts must exercise every shard"
    for contract in CONTRACTS:
        # revert_keys = the publish script's KEYS plus the dedup markers, which the publish
        # script builds from keys.seen_prefix itself: all must be on the script's slot.
        slots = {cluster.keyslot(k) for k in keys.revert_keys(  # type: ignore[attr-defined]
            contract, ["a", "b"], keys.contract_fence(contract))}
        slots.add(cluster.keyslot(keys.seen_prefix(contract) + "c"))  # type: ignore[attr-defined]
        slots.add(cluster.keyslot(keys.event_channel(contract)))  # type: ignore[attr-defined]
        assert len(slots) == 1, f"{contract}: its keys and channel must share one slot"


async def test_sharded_publish_reaches_a_cluster_subscriber_in_order(
        client: aioredis.Redis) -> None:
    got: dict[str, list[int]] = {c: [] for c in CONTRACTS}

    def on_message(channel: str, data: bytes) -> None:
        frame = msgspec.json.decode(data)
        got[keys.contract_from_channel(channel)].append(frame["data"]["offset"])

    subscriber = ClusterSubscriber(client, on_message)
    task = asyncio.create_task(subscriber.run())
    try:
        for contract in CONTRACTS:
            assert await subscriber.subscribe(keys.event_channel(contract))
        await asyncio.wait_for(subscriber.connected.wait(), 5)
        assert subscriber.connected.is_set()
        publisher = Publisher(client, cluster=True, fence=1)
        for n in range(1, 21):
            result = await publisher.publish_events([event(n, c) for c in CONTRACTS])
            assert result.published == len(CONTRACTS)
        for _ in range(200):
            if all(len(v) == 20 for v in got.values()):
                break
            await asyncio.sleep(0.02)
        assert got == {c: list(range(1, 21)) for c in CONTRACTS}
        store = Store(client)
        recent = await store.recent(CONTRACTS[0], 3)
        assert [msgspec.json.decode(d)["offset"] for d in recent] == [20, 19, 18]
        stats = await store.stats(CONTRACTS[0])
        assert stats["total"] == 20
    finally:
        await subscriber.close()
        await asyncio.wait_for(task, 10)


async def test_stale_leader_is_fenced_per_contract(client: aioredis.Redis) -> None:
    new = Publisher(client, cluster=True, fence=7)
    old = Publisher(client, cluster=True, fence=6)
    await new.publish_events([event(1, CONTRACTS[0])])
    with pytest.raises(NotLeader):
        await old.publish_events([event(2, CONTRACTS[0])])
    # Duplicates stay duplicates whoever sends them; the newer token is accepted.
    again = await new.publish_events([event(1, CONTRACTS[0]), event(3, CONTRACTS[0])])
    assert (again.published, again.duplicates) == (1, 1)


async def test_cross_slot_script_would_be_refused(client: aioredis.Redis) -> None:
    """Why per-contract fence keys exist: the global fence key lives in another slot."""
    with pytest.raises((ResponseError, RedisClusterException)):
        await client.execute_command(  # type: ignore[no-untyped-call]
            "EVAL", "return redis.call('GET', KEYS[2])", 2, keys.meta(CONTRACTS[0]), keys.FENCE)
