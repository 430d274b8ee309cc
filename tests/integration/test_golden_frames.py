"""Golden frames: the bytes the Lua scripts publish and store, read back from a real
valkey, equal the wire codec's bytes for the same event (adstack_protocol.wire).

``publish.lua`` and ``revert.lua`` complete the codec's heads with the offset and epoch and
wrap them as frames inside Redis; ``chain.lua`` publishes the codec's feed frames as they
are. If either side changes its bytes, these tests fail (see docs/protocol-internals.md).
"""

from __future__ import annotations

import asyncio

import msgspec
import redis.asyncio as aioredis

from adstack_bus import ChainStore, Publisher, Store, create_redis, keys
from adstack_devnet import DEFAULT_CONTRACTS
from adstack_devnet.chain import Chain
from adstack_events import ContractEvent, EventReverted
from adstack_ingester.processor import BlockProcessor
from adstack_protocol import wire
from tests.helpers.chainview import record

C = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"
CAMPAIGN = DEFAULT_CONTRACTS["CAMPAIGN_CONTRACT"]
TRICKY = {"event": "note-posted", "text": 'a "data": field, } { and ünïcødé ✓ 🚀',
          "data": {"data": None}, "big": 2**60}


def event(n: int, data: object = TRICKY) -> ContractEvent:
    return ContractEvent(id=f"{n:024x}", type="note_posted", contractId=C, txId=f"0x{n:064x}",
                         blockHeight=n, blockHash="0x" + "ab" * 32,
                         indexBlockHash="0x" + "cd" * 32, eventIndex=n, timestamp=n * 1000,
                         data=data, source="observer", publishedAt=1_700_000_000_000 + n)


class Listener:
    """Every message published on some channels, as raw bytes, in order."""

    def __init__(self, url: str) -> None:
        self.client = create_redis(url)
        self.pubsub = self.client.pubsub()

    async def start(self, *channels: str) -> None:
        await self.pubsub.subscribe(*channels)

    async def take(self, count: int, timeout: float = 5.0) -> list[tuple[str, bytes]]:
        got: list[tuple[str, bytes]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(got) < count and loop.time() < deadline:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True,
                                                    timeout=0.1)
            if message is not None:
                got.append((message["channel"].decode(), message["data"]))
        return got

    async def quiet(self, seconds: float = 0.3) -> list[tuple[str, bytes]]:
        """Whatever else arrives within ``seconds`` (expected: nothing)."""
        return await self.take(1, timeout=seconds)

    async def close(self) -> None:
        await self.pubsub.aclose()
        await self.client.aclose()


async def test_publish_lua_frames_and_history_equal_the_codecs(
        redis: aioredis.Redis, clean_redis: str) -> None:
    listener = Listener(clean_redis)
    await listener.start(keys.event_channel(C))
    events = [event(1), event(2, data=[1, "x"]), event(3, data="plain \u00e9"), event(1)]
    result = await Publisher(redis).publish_events(events)
    assert (result.published, result.duplicates) == (3, 1)
    published = await listener.take(3)
    assert await listener.quiet() == []
    await listener.close()
    position = await Store(redis).position(C)
    assert position is not None
    page = await Store(redis).since(C, 0)
    expected_data = [wire.event_data(wire.event_head(e), offset, position.epoch)
                     for offset, e in enumerate(events[:3], start=1)]
    assert page.events == expected_data
    assert page.offsets == [1, 2, 3] and page.kinds == ["e", "e", "e"]
    assert [raw for _channel, raw in published] == [wire.event_frame(d) for d in expected_data]
    peek = wire.peek_frame(published[0][1])
    assert (peek.event, peek.data.offset, peek.data.epoch) == ("event", 1, position.epoch)
    assert msgspec.json.decode(wire.slice_data(published[0][1]))["data"] == TRICKY


async def test_revert_lua_frame_and_history_equal_the_codecs(
        redis: aioredis.Redis, clean_redis: str) -> None:
    publisher = Publisher(redis)
    await publisher.publish_events([event(1), event(2), event(3)])
    listener = Listener(clean_redis)
    await listener.start(keys.event_channel(C))
    notice = EventReverted(contractId=C, ids=[event(3).id, "f" * 24, event(1).id],
                           blockHash="0x" + "ab" * 32, indexBlockHash="0x" + "cd" * 32,
                           blockHeight=3)
    assert await publisher.revert_events([notice]) == {C: 2}
    published = await listener.take(1)
    await listener.close()
    position = await Store(redis).position(C)
    assert position is not None and position.offset == 4
    # Only the ids that were published are named, in the notice's order.
    data = wire.revert_data(wire.revert_head(notice), [event(3).id, event(1).id], 4,
                            position.epoch)
    page = await Store(redis).since(C, 3)
    assert page.events == [data] and page.kinds == ["r"]
    assert published == [(keys.event_channel(C), wire.revert_frame(data))]


async def test_chain_lua_feed_frames_equal_the_codecs_and_held_blocks_publish_on_reorg(
        redis: aioredis.Redis, clean_redis: str) -> None:
    """The block, transaction and global_events frames of each block that becomes
    canonical, and the event frames of a held side block once its branch wins."""
    listener = Listener(clean_redis)
    await listener.start(keys.BLOCK_CHANNEL, keys.TRANSACTION_CHANNEL, keys.GLOBAL_CHANNEL,
                         keys.event_channel(CAMPAIGN))
    chain = Chain({"CAMPAIGN_CONTRACT": CAMPAIGN}, seed=11, events_per_block=3)
    processor = BlockProcessor(Publisher(redis), ChainStore(redis))
    first = record(chain.next_block())
    await processor.process(first, reorg_to=False)
    expected_feeds = BlockProcessor._feeds([first])
    assert {c for c, _ in expected_feeds} == {keys.BLOCK_CHANNEL, keys.TRANSACTION_CHANNEL,
                                              keys.GLOBAL_CHANNEL}
    got = await listener.take(len(first.events) + len(expected_feeds))
    events_got = [raw for channel, raw in got if channel == keys.event_channel(CAMPAIGN)]
    feeds_got = [(c, raw) for c, raw in got if c != keys.event_channel(CAMPAIGN)]
    assert feeds_got == expected_feeds
    epoch = wire.peek_frame(events_got[0]).data.epoch
    assert events_got == [wire.event_frame(wire.event_data(wire.event_head(e), n, epoch))
                          for n, e in enumerate(first.events, start=1)]

    # A side block at the tip's height is held: nothing is published for it.
    _orphaned, branch = chain.fork(1)
    side = record(branch[0])
    held = await processor.process(side, reorg_to=False)
    assert held.held
    assert await listener.quiet() == []
    # Its child makes the branch longer: revert, then both blocks' events and feeds.
    winner = record(branch[1])
    won = await processor.process(winner, reorg_to=False)
    assert won.reorg and won.reverted == len(first.events)
    count = 1 + len(side.events) + len(winner.events) + len(BlockProcessor._feeds([side,
                                                                                 winner]))
    got = await listener.take(count)
    on_contract = [raw for channel, raw in got if channel == keys.event_channel(CAMPAIGN)]
    revert, published = on_contract[0], on_contract[1:]
    notice = EventReverted(contractId=CAMPAIGN, ids=[e.id for e in first.events],
                           blockHash=first.block_hash,
                           indexBlockHash=first.index_block_hash, blockHeight=first.height)
    offset = len(first.events) + 1
    assert revert == wire.revert_frame(wire.revert_data(
        wire.revert_head(notice), notice.ids, offset, epoch))
    # Stored aside, stamped when published now (publishedAt read back from the frame).
    for n, (raw, e) in enumerate(zip(published, [*side.events, *winner.events],
                                     strict=True), start=offset + 1):
        stamped = msgspec.structs.replace(
            e, publishedAt=wire.peek_frame(raw).data.publishedAt)
        assert raw == wire.event_frame(wire.event_data(wire.event_head(stamped), n, epoch))
    assert [(c, raw) for c, raw in got if c != keys.event_channel(CAMPAIGN)] == (
        BlockProcessor._feeds([side, winner]))
    await listener.close()
