"""One contract for both bus backends: Redis (a real valkey-server) and the in-memory one.

Every test runs against each backend through the same interface (a publisher, a store and a
subscriber), so the memory backend the gateway's unit tests use cannot drift from Redis.
The last test compares the frames byte for byte.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from adstack_bus import Publisher, Store, Subscriber, create_redis, keys
from adstack_bus.memory import MemoryBroker
from adstack_events import ContractEvent, EventReverted

C1 = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"
C2 = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.auction-engine"


def event(n: int, contract: str = C1, etype: str = "campaign_created") -> ContractEvent:
    return ContractEvent(id=eid(n, contract), type=etype, contractId=contract,
                         txId=f"0x{n:064x}", blockHeight=n, blockHash="0x" + "ab" * 32,
                         indexBlockHash="0x" + "cd" * 32, eventIndex=n, timestamp=n * 1000,
                         data={"event": etype.replace("_", "-"), "n": n})


def eid(n: int, contract: str = C1) -> str:
    """A hex event id (revert.lua quotes ids as they are), distinct per contract."""
    return f"{n + (0 if contract == C1 else 10**6):064x}"


def notice(*ns: int, contract: str = C1) -> EventReverted:
    return EventReverted(contractId=contract, ids=[eid(n, contract) for n in ns],
                         blockHash="0x" + "ab" * 32, indexBlockHash="0x" + "cd" * 32,
                         blockHeight=ns[0])


@dataclass
class Inbox:
    """What a subscriber received, and its link reports."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    lost: list[frozenset[str]] = field(default_factory=list)
    back: list[frozenset[str]] = field(default_factory=list)

    def on_message(self, channel: str, payload: bytes) -> None:
        self.messages.append((channel, payload))

    async def on_reconnect(self, channels: frozenset[str]) -> None:
        self.back.append(channels)

    def on_disconnect(self, channels: frozenset[str]) -> None:
        self.lost.append(channels)


@dataclass
class Backend:
    name: str
    publisher: Any
    store: Any
    make_subscriber: Callable[[Inbox], Any]
    cut: Callable[[], Awaitable[None]]
    """Drop every pub/sub link (the subscriber reconnects by itself after)."""


async def _valkey(url: str, limit: int) -> AsyncIterator[Backend]:
    client = create_redis(url)
    bus_clients: list[aioredis.Redis] = []

    def make_subscriber(inbox: Inbox) -> Subscriber:
        bus_client = create_redis(url, retries=False)
        bus_clients.append(bus_client)
        return Subscriber(bus_client, inbox.on_message, on_reconnect=inbox.on_reconnect,
                          on_disconnect=inbox.on_disconnect, max_backoff=0.05)

    async def cut() -> None:
        await client.client_kill_filter(_type="pubsub")

    yield Backend("valkey", Publisher(client, history_limit=limit), Store(client),
                  make_subscriber, cut)
    for bus_client in bus_clients:
        await bus_client.aclose()
    await client.aclose()


async def _memory(limit: int) -> AsyncIterator[Backend]:
    broker = MemoryBroker()

    async def cut() -> None:
        broker.cut_links()
        await asyncio.sleep(0.01)
        broker.restore_links()

    yield Backend("memory", broker.publisher(history_limit=limit), broker.store(),
                  lambda inbox: broker.subscriber(inbox.on_message,
                                                  on_reconnect=inbox.on_reconnect,
                                                  on_disconnect=inbox.on_disconnect), cut)


@pytest.fixture(params=["valkey", "memory"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "valkey":
        url = request.getfixturevalue("clean_redis")
        async for made in _valkey(url, 5):
            yield made
    else:
        async for made in _memory(5):
            yield made


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.005)):
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


def offsets_of(page: Any) -> list[int]:
    return list(page.offsets)


async def test_offsets_dedup_position_and_stats(backend: Backend) -> None:
    first = await backend.publisher.publish_events(
        [event(1), event(2, etype="spend_recorded"), event(1, C2), event(1)])
    assert (first.published, first.duplicates) == (3, 1)
    assert first.offsets == {eid(1): 1, eid(2): 2, eid(1, C2): 1}
    again = await backend.publisher.publish_events([event(2), event(3)])
    assert (again.published, again.duplicates) == (1, 1)
    assert again.offsets == {eid(3): 3}
    position = await backend.store.position(C1)
    assert position is not None and position.offset == 3 and position.epoch
    other = await backend.store.position(C2)
    assert other is not None and other.offset == 1
    assert await backend.store.position("SP000.none") is None
    stats = await backend.store.stats(C1)
    assert (stats["total"], stats["byType"]) == (3, {"campaign_created": 2,
                                                      "spend_recorded": 1})
    assert isinstance(stats["lastUpdated"], int)
    empty = await backend.store.stats("SP000.none")
    assert (empty["total"], empty["byType"], empty["lastUpdated"]) == (0, {}, None)


async def test_history_is_capped_recent_newest_first_since_oldest_first(
        backend: Backend) -> None:
    await backend.publisher.publish_events([event(n) for n in range(1, 9)])
    recent = [msgspec.json.decode(d) for d in await backend.store.recent(C1, 3)]
    assert [e["offset"] for e in recent] == [8, 7, 6]
    assert await backend.store.first_offset(C1) == 4  # capped at 5
    page = await backend.store.since(C1, 5)
    assert (page.offsets, page.kinds) == ([6, 7, 8], ["e", "e", "e"])
    assert [msgspec.json.decode(d)["data"]["n"] for d in page.events] == [6, 7, 8]
    assert offsets_of(await backend.store.since(C1, 0)) == [4, 5, 6, 7, 8]
    assert offsets_of(await backend.store.since(C1, 8)) == []
    assert await backend.store.first_offset("SP000.none") is None
    assert await backend.store.recent("SP000.none", 5) == []


async def test_a_revert_hides_events_takes_an_offset_and_a_republish_shows_them(
        backend: Backend) -> None:
    await backend.publisher.publish_events([event(1), event(2), event(3)])
    withdrawn = await backend.publisher.revert_events([notice(2, 3, 9)])
    assert withdrawn == {C1: 2}
    assert await backend.publisher.revert_events([notice(2, 3)]) == {}  # retried: a no-op
    page = await backend.store.since(C1, 3)
    assert (page.offsets, page.kinds) == ([4], ["r"])
    body = msgspec.json.decode(page.events[0])
    assert (body["ids"], body["offset"]) == ([eid(2), eid(3)], 4)
    assert [msgspec.json.decode(d)["offset"] for d in await backend.store.recent(C1, 5)] == [1]
    assert (await backend.store.stats(C1))["total"] == 1
    again = await backend.publisher.publish_events([event(2)])
    assert again.offsets == {eid(2): 5}
    assert [msgspec.json.decode(d)["offset"] for d in await backend.store.recent(C1, 5)] == [
        5, 1]


async def test_subscribers_get_what_is_published_after_the_confirmation(
        backend: Backend) -> None:
    inbox = Inbox()
    subscriber = backend.make_subscriber(inbox)
    task = asyncio.create_task(subscriber.run())
    try:
        await asyncio.wait_for(subscriber.connected.wait(), 5)
        assert await subscriber.subscribe(keys.event_channel(C1)) is True
        assert subscriber.channels == frozenset({keys.event_channel(C1)})
        await backend.publisher.publish_events([event(1), event(1, C2), event(2)])
        await backend.publisher.publish_feed(keys.BLOCK_CHANNEL, b'{"event":"block"}')
        await until(lambda: len(inbox.messages) >= 2)
        frames = [msgspec.json.decode(p) for _c, p in inbox.messages]
        assert [(f["event"], f["data"]["offset"]) for f in frames] == [("event", 1),
                                                                     ("event", 2)]
        assert {c for c, _p in inbox.messages} == {keys.event_channel(C1)}
        await subscriber.unsubscribe(keys.event_channel(C1))
        assert await subscriber.subscribe(keys.BLOCK_CHANNEL) is True
        await backend.publisher.publish_events([event(3)])
        await backend.publisher.publish_feed(keys.BLOCK_CHANNEL, b'{"event":"block"}')
        await until(lambda: len(inbox.messages) >= 3)
        await asyncio.sleep(0.05)
        assert inbox.messages[2:] == [(keys.BLOCK_CHANNEL, b'{"event":"block"}')]
    finally:
        await subscriber.close()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_lost_link_is_reported_then_the_channels_come_back(backend: Backend) -> None:
    inbox = Inbox()
    subscriber = backend.make_subscriber(inbox)
    task = asyncio.create_task(subscriber.run())
    channel = keys.event_channel(C1)
    try:
        await asyncio.wait_for(subscriber.connected.wait(), 5)
        assert await subscriber.subscribe(channel)
        assert subscriber.reconnects == 0
        await backend.cut()
        await until(lambda: bool(inbox.back))
        assert inbox.lost == [frozenset({channel})]
        assert inbox.back == [frozenset({channel})]
        assert subscriber.reconnects == 1
        await backend.publisher.publish_events([event(1)])
        await until(lambda: bool(inbox.messages))
        assert msgspec.json.decode(inbox.messages[0][1])["data"]["offset"] == 1
    finally:
        await subscriber.close()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_both_backends_publish_the_same_bytes(clean_redis: str) -> None:
    """The memory backend's frames and stored objects are the Lua scripts' bytes."""
    frames: dict[str, list[bytes]] = {}
    stored: dict[str, list[bytes]] = {}
    async for valkey in _valkey(clean_redis, 100):
        frames["valkey"], stored["valkey"] = await _record(valkey)
    async for memory in _memory(100):
        frames["memory"], stored["memory"] = await _record(memory)
    assert frames["memory"] == frames["valkey"]
    assert stored["memory"] == stored["valkey"]
    assert len(frames["memory"]) == 3


async def _record(backend: Backend) -> tuple[list[bytes], list[bytes]]:
    """The frames one publish and one revert send, and what the history holds, with the
    (random) epoch replaced by a fixed one."""
    inbox = Inbox()
    subscriber = backend.make_subscriber(inbox)
    task = asyncio.create_task(subscriber.run())
    try:
        await asyncio.wait_for(subscriber.connected.wait(), 5)
        await subscriber.subscribe(keys.event_channel(C1))
        await backend.publisher.publish_events([event(1), event(2)])
        await backend.publisher.revert_events([notice(2)])
        await until(lambda: len(inbox.messages) >= 3)
    finally:
        await subscriber.close()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    position = await backend.store.position(C1)
    assert position is not None
    epoch = position.epoch.encode()
    page = await backend.store.since(C1, 0)
    return ([p.replace(epoch, b"EPOCH") for _c, p in inbox.messages],
            [d.replace(epoch, b"EPOCH") for d in page.events])
