"""Scale-out and recovery on real processes: targeted subscriptions, bus drops, Redis
restarts and Redis Cluster — clients see no gap and no duplicate."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from adstack_bus import Publisher, canonical_redis_url, create_redis, keys
from adstack_events import ContractEvent
from adstack_localredis import LocalCluster, LocalRedis
from tests.helpers import services
from tests.helpers.client import WsClient

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

C1 = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"
C2 = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.auction-engine"


def make_event(n: int, contract: str = C1) -> ContractEvent:
    return ContractEvent(id=f"{contract[-4:]}-{n}", type="spend_recorded", contractId=contract,
                         txId=f"0x{n:064x}", blockHeight=n, blockHash="0x" + "ab" * 32,
                         indexBlockHash="0x" + "cd" * 32, eventIndex=0, timestamp=n,
                         data={"n": n})


async def numsub(redis: aioredis.Redis, channel: str) -> int:
    reply = await redis.execute_command("PUBSUB", "NUMSUB", channel)  # type: ignore[no-untyped-call]
    return int(reply[1])


async def test_a_gateway_subscribes_only_what_its_clients_need(
        clean_redis: str, log_dir: Path, token: str) -> None:
    redis = create_redis(clean_redis)
    try:
        with services.gateway(clean_redis, log_dir).start() as gw_a, \
                services.gateway(clean_redis, log_dir).start() as gw_b:
            assert await numsub(redis, keys.event_channel(C1)) == 0
            async with WsClient(gw_a.ws, token) as a1, WsClient(gw_a.ws, token) as a2:
                await a1.request("subscribe", {"contractId": C1}, "subscribed")
                await a2.request("subscribe", {"contractId": C1}, "subscribed")
                # One Redis subscription for two local clients; gateway B holds none.
                assert await numsub(redis, keys.event_channel(C1)) == 1
                assert await numsub(redis, keys.event_channel(C2)) == 0
                async with WsClient(gw_b.ws, token) as b1:
                    await b1.request("subscribe", {"contractId": C2}, "subscribed")
                    assert await numsub(redis, keys.event_channel(C2)) == 1
                    await Publisher(redis).publish_events([make_event(1), make_event(1, C2)])
                    await a1.wait_for("event")
                    await b1.wait_for("event")
                    await asyncio.sleep(0.2)
                    assert [e["contractId"] for e in b1.of("event")] == [C2]
                await a1.request("unsubscribe", {"contractId": C1}, "unsubscribed")
                assert await numsub(redis, keys.event_channel(C1)) == 1  # a2 still there
            for _ in range(50):  # released when the last local client leaves
                if await numsub(redis, keys.event_channel(C1)) == 0:
                    break
                await asyncio.sleep(0.05)
            assert await numsub(redis, keys.event_channel(C1)) == 0
            assert await numsub(redis, keys.event_channel(C2)) == 0
    finally:
        await redis.aclose()


async def _stream(publisher: Publisher, total: int, gap: float = 0.002) -> None:
    for n in range(1, total + 1):
        await publisher.publish_events([make_event(n)])
        await asyncio.sleep(gap)


async def test_dropped_bus_connection_mid_stream_leaves_no_gap(
        clean_redis: str, log_dir: Path, token: str) -> None:
    total = 1500
    redis = create_redis(clean_redis)
    try:
        with services.gateway(clean_redis, log_dir).start() as gw:
            clients = [WsClient(gw.ws, token) for _ in range(3)]
            for client in clients:
                await client.__aenter__()
                await client.request("subscribe", {"contractId": C1}, "subscribed")
            stream = asyncio.create_task(_stream(Publisher(redis, history_limit=5000), total))
            for _ in range(4):
                await asyncio.sleep(0.4)
                await redis.execute_command(  # type: ignore[no-untyped-call]
                    "CLIENT", "KILL", "TYPE", "pubsub")
            await stream
            for client in clients:
                events = await client.wait_for("event", total, timeout=30)
                await asyncio.sleep(0.2)
                assert [e["data"]["n"] for e in client.of("event")] == list(range(1, total + 1))
                assert [e["offset"] for e in events] == list(range(1, total + 1))
            for client in clients:
                await client.__aexit__(None, None, None)
    finally:
        await redis.aclose()


async def test_redis_restart_mid_stream_clients_stay_and_miss_nothing(
        log_dir: Path, token: str) -> None:
    server = LocalRedis(extra_args=["--appendonly", "yes", "--appendfsync", "always"]).start()
    try:
        with services.gateway(server.url, log_dir).start() as gw:
            async with WsClient(gw.ws, token) as client:
                await client.request("subscribe", {"contractId": C1}, "subscribed")
                redis = create_redis(server.url)
                await Publisher(redis).publish_events([make_event(n) for n in range(1, 51)])
                await client.wait_for("event", 50)
                server.kill()
                await asyncio.sleep(0.5)
                assert not client.closed  # the gateway keeps its clients through the outage
                server.start()
                publisher = Publisher(redis)
                for n in range(51, 151):
                    for _ in range(100):
                        try:
                            await publisher.publish_events([make_event(n)])
                            break
                        except Exception:
                            await asyncio.sleep(0.05)
                events = await client.wait_for("event", 150, timeout=30)
                await asyncio.sleep(0.2)
                assert [e["data"]["n"] for e in client.of("event")] == list(range(1, 151))
                assert [e["offset"] for e in events] == list(range(1, 151))
                await redis.aclose()
    finally:
        server.cleanup()


async def test_gateway_and_ingester_on_redis_cluster(log_dir: Path, token: str) -> None:
    import httpx

    from tests.helpers.fixtures import SIGNERS_VOTING, load_bytes

    with LocalCluster(3) as cluster:
        url = canonical_redis_url(cluster.url, cluster=True)  # redis+cluster://
        with services.ingester(url, log_dir).start() as ing, \
                services.gateway(url, log_dir).start() as gw:
            ing.wait_healthy()
            gw.wait_healthy()
            async with WsClient(gw.ws, token) as client:
                await client.request("subscribe", {"contractId": SIGNERS_VOTING}, "subscribed")
                await client.request("subscribeBlocks", None, "subscribed")
                async with httpx.AsyncClient() as http:
                    body = load_bytes(
                        "observer_new_block_epoch25_print_events_signers_voting.json")
                    reply = await http.post(f"{ing.http}/new_block", content=body)
                    assert reply.status_code == 200, reply.text
                events = await client.wait_for("event", 4)
                assert [e["offset"] for e in events] == [1, 2, 3, 4]
                blocks = await client.wait_for("block", 1)
                assert blocks[0]["height"] == 16
                history = await client.request(
                    "getHistory", {"contractId": SIGNERS_VOTING, "limit": 10}, "history")
                assert history["count"] == 4


async def test_one_cluster_shard_dropping_costs_the_other_shards_nothing(
        log_dir: Path, token: str) -> None:
    """With Redis Cluster the gateway reads each master's shard channels on its own
    connection. Killing one master's pub/sub connection again and again must not hold back
    or lose the live events of contracts on the other masters, nor those of its own."""
    deployer = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM"
    total = 600
    with LocalCluster(3) as cluster:
        redis = create_redis(canonical_redis_url(cluster.url, cluster=True))
        try:
            await redis.ping()  # loads the slot map
            owner = {}
            for name in ("promo-manager", "auction-engine", "bridge-adapter",
                         "payment-processor", "governance-core", "extra-one", "extra-two"):
                contract = f"{deployer}.{name}"
                node = redis.get_node_from_key(keys.event_channel(contract))  # type: ignore[attr-defined]
                owner.setdefault(node.port, contract)
            assert len(owner) >= 2, "contracts on two masters"
            (dropped_port, dropped), (_, steady) = list(owner.items())[:2]
            with services.gateway(cluster.url, log_dir, REDIS_CLUSTER="true").start() as gw:
                gw.wait_healthy()
                async with WsClient(gw.ws, token) as client:
                    for contract in (dropped, steady):
                        await client.request("subscribe", {"contractId": contract},
                                             "subscribed")
                    publisher = Publisher(redis, history_limit=5000, cluster=True)

                    async def stream() -> None:
                        for n in range(1, total + 1):
                            await publisher.publish_events(
                                [make_event(n, dropped), make_event(n, steady)])
                            await asyncio.sleep(0.003)

                    task = asyncio.create_task(stream())
                    master = aioredis.Redis(host="127.0.0.1", port=dropped_port)
                    try:
                        for _ in range(4):
                            await asyncio.sleep(0.4)
                            await master.execute_command(  # type: ignore[no-untyped-call]
                                "CLIENT", "KILL", "TYPE", "pubsub")
                    finally:
                        await master.aclose()
                    await task
                    await client.wait_for("event", 2 * total, timeout=30)
                    await asyncio.sleep(0.2)
                    for contract in (dropped, steady):
                        got = [e for e in client.of("event") if e["contractId"] == contract]
                        assert [e["data"]["n"] for e in got] == list(range(1, total + 1)), \
                            contract
                        assert [e["offset"] for e in got] == list(range(1, total + 1))
        finally:
            await redis.aclose()
