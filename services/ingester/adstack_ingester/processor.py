"""The single writer: carries out chain plans against Redis (reverts, publishes, then records
the chain) and publishes the mempool ``transaction`` feeds, under one lock and one fence.

The order makes every step safe to repeat. Reverts skip ids that are not published, and
publishes skip ids that are. The chain record (tip, canonical map, block records, feeds) is
written last, in one fenced script. If any step fails, the in-memory chain is reloaded from
Redis before the next block, and the source re-sends the block, so the same plan runs again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence

import msgspec

from adstack_bus import ChainStore, NotLeader, Publisher, keys
from adstack_events import TransactionFeed
from adstack_ingester import metrics as m
from adstack_ingester.chain import (
    BlockRecord,
    ChainState,
    Plan,
    decode_record,
    encode_record,
    revert_notices,
)
from adstack_ingester.payloads import PAYLOAD_ERRORS
from adstack_ingester.pipeline import record_feed
from adstack_protocol import ServerEvent, wire
from adstack_stacks.tip import Tip

log = logging.getLogger(__name__)


class Outcome(msgspec.Struct):
    """What processing one block (or rollback) did."""

    published: int = 0
    duplicates: int = 0
    reverted: int = 0
    held: bool = False
    known: bool = False
    reorg: bool = False


class BlockProcessor:
    """The single writer path shared by every source (serialised by :attr:`lock`): blocks,
    rollbacks and mempool feeds."""

    def __init__(self, publisher: Publisher, store: ChainStore, *, window: int = 256) -> None:
        self.publisher = publisher
        self.store = store
        self.window = window
        self.state: ChainState | None = None
        self.lock = asyncio.Lock()
        self.reorgs = 0
        self.reverted = 0
        self.missing_records = 0

    def invalidate(self) -> None:
        """Forget the in-memory chain; it is reloaded from Redis before the next block."""
        self.state = None

    async def ensure_loaded(self) -> ChainState:
        if self.state is None:
            snapshot = await self.store.load()
            records = []
            for blob in snapshot.records:
                try:
                    records.append(decode_record(blob))
                except PAYLOAD_ERRORS:
                    log.warning("skipped an unreadable chain record")
            tip = None
            if snapshot.tip is not None:
                tip = snapshot.tip
            self.state = ChainState.restore(tip, snapshot.canon, records, window=self.window)
            log.info("chain view loaded: tip %s, %d blocks",
                     f"{tip.height} {tip.index_block_hash[:12]}" if tip else "none",
                     len(records))
        return self.state

    @property
    def tip(self) -> Tip | None:
        return self.state.tip if self.state is not None else None

    async def process(self, block: BlockRecord, *, reorg_to: bool,
                      txs: Callable[[], list[TransactionFeed]] | None = None) -> Outcome:
        """Publish one block from any source (see :mod:`adstack_ingester.chain`).

        ``txs``, if given, makes the block's ``transaction`` feed (``block.txs`` is then
        empty). Only the chain record needs it, so when the block simply extends the chain
        it runs while the events' publish round trip is in flight.

        Raises:
            NotLeader / BusUnavailable: nothing is acknowledged; the source must retry.
        """
        m.record_block_received(block.source)
        m.record_events(Counter(e.type for e in block.events), {}, source=block.source)
        async with self.lock:
            state = await self.ensure_loaded()
            plan = state.plan(block, reorg_to=reorg_to)
            if txs is not None and not _extends(plan, block):
                # Forks, reorgs and known blocks merge or store records: feed first.
                block = msgspec.structs.replace(block, txs=txs())
                plan = state.plan(block, reorg_to=reorg_to)
                txs = None
            return await self._execute(state, plan, source=block.source, txs=txs)

    async def rollback(self, block: BlockRecord) -> Outcome:
        """Withdraw a block a source says is no longer canonical (Chainhook ``rollback``)."""
        async with self.lock:
            state = await self.ensure_loaded()
            plan = state.plan_rollback(block)
            return await self._execute(state, plan, source=block.source)

    async def publish_feeds(self, feeds: Sequence[TransactionFeed]) -> None:
        """Publish mempool ``transaction`` feeds (pending, dropped) in the chain script:
        fenced like every other write, the tip unchanged.

        Raises:
            NotLeader / BusUnavailable: nothing was published; the source must retry.
        """
        frames = [(keys.TRANSACTION_CHANNEL, wire.feed_frame(ServerEvent.TRANSACTION, feed))
                  for feed in feeds]
        async with self.lock:
            await self.store.commit(fence=self.publisher.fence, tip=None, feeds=frames)

    async def _execute(self, state: ChainState, plan: Plan, *, source: str,
                       txs: Callable[[], list[TransactionFeed]] | None = None) -> Outcome:
        """Carry out ``plan``; metrics count what reached Redis (``source``: what asked).
        ``txs``: the feed of the plan's one block, made while the publish is in flight."""
        outcome = Outcome(held=plan.held, known=plan.known, reorg=plan.reorg)
        try:
            if plan.missing:
                self.missing_records += len(plan.missing)
                log.warning("reorg: no record of orphaned canonical blocks at heights %s; "
                            "their events cannot be withdrawn", plan.missing)
            if plan.revert:
                notices = [n for record in plan.revert for n in revert_notices(record)]
                withdrawn = await self.publisher.revert_events(notices)
                outcome.reverted = sum(withdrawn.values())
                log.info("reorg: withdrew %d events of %d orphaned blocks (%s)",
                         outcome.reverted, len(plan.revert),
                         ", ".join(f"{r.height} {r.index_block_hash[:12]}" for r in plan.revert))
            # The publish round trip runs while the chain record is prepared: the two
            # only meet at the commit, which waits for the publish to have succeeded.
            publishing = asyncio.ensure_future(self._publish(plan, outcome))
            try:
                await asyncio.sleep(0)  # let it send its pipeline first
                if txs is not None:
                    plan = _with_txs(plan, txs())
                changes = state.commit(plan)
                feeds = [] if plan.known or plan.held else self._feeds(plan.apply)
                records = [(r.height, r.index_block_hash, encode_record(r))
                           for r in changes.records]
            finally:
                await publishing
            await self.store.commit(
                fence=self.publisher.fence,
                tip=changes.tip,
                records=records,
                canon_set=changes.canon_set,
                canon_delete=changes.canon_delete,
                feeds=feeds,
                keep_from_height=changes.keep_from_height,
            )
        except BaseException:
            # Redis may hold part of this plan; reload the chain view before the next block
            # (the source re-sends this one, and every step is safe to repeat).
            self.invalidate()
            raise
        if plan.reorg:
            self.reorgs += 1
            self.reverted += outcome.reverted
        m.record_rollback(len(plan.revert) + len(plan.missing), outcome.reverted, source=source)
        if not plan.known and not plan.held:
            for record in plan.apply:
                m.record_block_published(record.height, record.timestamp / 1000,
                                         source=record.source)
        return outcome

    async def _publish(self, plan: Plan, outcome: Outcome) -> None:
        now_ms = int(time.time() * 1000)
        for record in plan.apply:
            events = record.events
            if plan.reorg:
                # Side blocks stored earlier: stamp the time they are published now.
                events = [msgspec.structs.replace(e, publishedAt=now_ms) for e in events]
            result = await self.publisher.publish_events(events)
            outcome.published += result.published
            outcome.duplicates += result.duplicates
            m.record_events({}, Counter(e.type for e in events if e.id in result.offsets),
                            source=record.source, duplicates=result.duplicates)

    @staticmethod
    def _feeds(records: list[BlockRecord]) -> list[tuple[str, bytes]]:
        frames: list[tuple[str, bytes]] = []
        for record in records:
            frames.append((keys.BLOCK_CHANNEL,
                           wire.feed_frame(ServerEvent.BLOCK, record_feed(record))))
            if record.events:
                # For gateways with GLOBAL_EVENTS=true (each filters by the client's token).
                frames.append((keys.GLOBAL_CHANNEL, wire.global_events_frame(
                    (e.contractId, e.type, e.timestamp) for e in record.events)))
            for tx in record.txs:
                frames.append((keys.TRANSACTION_CHANNEL,
                               wire.feed_frame(ServerEvent.TRANSACTION, tx)))
        return frames


def _extends(plan: Plan, block: BlockRecord) -> bool:
    """The plan only appends ``block`` to the chain (no fork, reorg or known block)."""
    return (not plan.known and not plan.held and not plan.reorg and len(plan.apply) == 1
            and plan.apply[0] is block)


def _with_txs(plan: Plan, txs: list[TransactionFeed]) -> Plan:
    """``plan`` (see :func:`_extends`) with its block's ``transaction`` feed filled in."""
    block = plan.apply[0]
    full = msgspec.structs.replace(block, txs=txs)
    return msgspec.structs.replace(plan, apply=[full],
                                   store=[full if r is block else r for r in plan.store])


__all__ = ["BlockProcessor", "NotLeader", "Outcome"]
