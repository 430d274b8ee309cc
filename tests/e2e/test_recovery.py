"""Recovery with `since`: all missed events in order, or `recovered: false` — never partial."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adstack_bus import Publisher, create_redis
from adstack_client import Event, RecoveryFailed, connect
from adstack_events import ContractEvent
from tests.helpers import services
from tests.helpers.client import WsClient

pytestmark = pytest.mark.e2e

C1 = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"


def make_event(n: int, etype: str = "spend_recorded") -> ContractEvent:
    return ContractEvent(id=f"ev-{n}", type=etype, contractId=C1, txId=f"0x{n:064x}",
                         blockHeight=n, blockHash="0x" + "ab" * 32,
                         indexBlockHash="0x" + "cd" * 32, eventIndex=0, timestamp=n,
                         data={"n": n})


async def test_resubscribe_with_since_replays_exactly_what_was_missed(
        clean_redis: str, log_dir: Path, token: str) -> None:
    redis = create_redis(clean_redis)
    publisher = Publisher(redis, history_limit=1000)
    try:
        with services.gateway(clean_redis, log_dir).start() as gw:
            await publisher.publish_events([make_event(n) for n in range(1, 6)])
            async with WsClient(gw.ws, token) as client:
                reply = await client.request("subscribe", {"contractId": C1}, "subscribed")
                assert reply["offset"] == 5 and reply["epoch"]
                epoch = reply["epoch"]
                await publisher.publish_events([make_event(6)])
                last = (await client.wait_for("event", 1))[-1]
                assert (last["offset"], last["epoch"]) == (6, epoch)
            # Disconnected: these are missed.
            await publisher.publish_events([make_event(n, "campaign_paused" if n % 2 else
                                                       "spend_recorded")
                                            for n in range(7, 12)])
            async with WsClient(gw.ws, token) as client:
                reply = await client.request("subscribe", {
                    "contractId": C1, "eventTypes": ["campaign_paused"],
                    "since": {"offset": 6, "epoch": epoch}}, "subscribed")
                assert reply["recovered"] is True
                await publisher.publish_events([make_event(12, "campaign_paused")])
                events = await client.wait_for("event", 4)
                await asyncio.sleep(0.2)
                # Only the filtered type, in offset order, missed then live, no duplicates.
                assert [e["data"]["n"] for e in client.of("event")] == [7, 9, 11, 12]
                assert [e["offset"] for e in events] == [7, 9, 11, 12]

            async with WsClient(gw.ws, token) as client:
                reply = await client.request("subscribe", {
                    "contractId": C1, "since": {"offset": 3, "epoch": "another-epoch"}},
                    "subscribed")
                # Told (never a silent partial replay), then every event the history still
                # holds after the offset it names: all of this epoch here.
                assert reply["recovered"] is False
                assert reply["epoch"] == epoch and reply["offset"] == 0
                events = await client.wait_for("event", 12)
                assert [e["offset"] for e in events] == list(range(1, 13))
    finally:
        await redis.aclose()


async def test_sdk_is_told_when_the_gap_exceeds_the_history(
        clean_redis: str, log_dir: Path, token: str) -> None:
    redis = create_redis(clean_redis)
    publisher = Publisher(redis, history_limit=5)
    gw = services.gateway(clean_redis, log_dir)
    port = gw.port
    gw.start()
    items: list[object] = []
    try:
        async with connect(gw.ws, token=token, max_backoff=0.3) as client:
            async def consume() -> None:
                async for item in client.subscribe(C1):
                    items.append(item)
                    if isinstance(item, Event) and item.data["n"] == 100:
                        return

            task = asyncio.create_task(consume())
            await services.await_subscriptions([gw], 1)
            await publisher.publish_events([make_event(1)])
            while not items:
                await asyncio.sleep(0.02)
            gw.kill()
            # 50 events while no gateway runs: far more than the 5 the history keeps.
            await publisher.publish_events([make_event(n) for n in range(2, 52)])
            gw = services.Service("adstack_gateway", port, gw.env, log_dir).start()
            while client.connections < 2:
                await asyncio.sleep(0.05)
            await services.await_subscriptions([gw], 1)  # resubscribed (with its offset)
            await publisher.publish_events([make_event(100)])
            await asyncio.wait_for(task, 20)
        kinds = [type(i).__name__ for i in items]
        assert kinds == ["Event", "RecoveryFailed", *["Event"] * 6], kinds
        # Told that everything up to 46 it did not get is gone; then the 5 the history
        # still holds, then live.
        failed = items[1]
        assert isinstance(failed, RecoveryFailed) and failed.offset == 46
        assert [i.data["n"] for i in items[2:] if isinstance(i, Event)] == [
            47, 48, 49, 50, 51, 100]
    finally:
        gw.stop()
        await redis.aclose()
