"""What each chain delivery does, without HTTP: decode a node's observer POST body or a
Chainhook delivery, hand its blocks or feeds to the processor as the leader, count it.

Every write goes through :class:`~adstack_ingester.processor.BlockProcessor` (the single
writer) inside the ``guard`` the wiring passes in (see :meth:`Ingester.guarded
<adstack_ingester.ingester.Ingester.guarded>`): a standby refuses, a stale fencing token steps
down. A body that does not decode raises :class:`BadRequest`, which the HTTP receivers answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from adstack_events import TransactionFeed
from adstack_ingester import chainhook
from adstack_ingester import metrics as m
from adstack_ingester.mempool import PendingBook
from adstack_ingester.payloads import (
    PAYLOAD_ERRORS,
    drop_mempool_decoder,
    mempool_decoder,
    microblocks_decoder,
    new_block_decoder,
    new_burn_block_decoder,
)
from adstack_ingester.pipeline import (
    ContractFilter,
    DecodeFailure,
    TypeNames,
    block_record,
    block_txs,
    transaction_feed_from_hex,
)
from adstack_ingester.processor import BlockProcessor, Outcome
from adstack_protocol.codes import IngestErrorCode as Code
from adstack_runtime import bind_log_context

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class BadRequest(Exception):
    """A delivery the ingester refuses: answered with ``status`` and the error ``code``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Guard(Protocol):
    """Runs one write as the leader (:meth:`Ingester.guarded`)."""

    def __call__(self, work: Callable[[], Awaitable[_T]]) -> Awaitable[_T]: ...


def _invalid(path: str, exc: Exception) -> BadRequest:
    return BadRequest(400, Code.INVALID_PAYLOAD, f"invalid {path} payload: {exc}")


class Deliveries:
    """The observer's and Chainhook's handlers (body bytes in, a result out) and their counts."""

    def __init__(self, processor: BlockProcessor, guard: Guard, *, allow: ContractFilter,
                 type_names: TypeNames) -> None:
        self.processor = processor
        self.guarded = guard
        self.allow = allow
        self.type_names = type_names
        self.pending = PendingBook()
        self.blocks_received = 0
        self.events_published = 0
        self.duplicates = 0
        self.decode_failures = 0
        self.held_blocks = 0
        self.burn_blocks = 0
        self.mempool_txs = 0
        self.microblocks = 0
        self.last_block: dict[str, Any] | None = None
        self.last_burn_block: dict[str, Any] | None = None

    def _failures(self, failures: list[DecodeFailure], source: str = "observer") -> None:
        for failure in failures:
            log.warning("skipped undecodable data tx=%s index=%d contract=%s: %s",
                        failure.txid, failure.event_index, failure.contract_id, failure.reason)
        self.decode_failures += len(failures)
        # Print events only (event_index ≥ 0); undecodable raw transactions are just logged.
        m.record_decode_failures(sum(f.event_index >= 0 for f in failures), source=source)

    def _count(self, outcome: Outcome) -> None:
        self.events_published += outcome.published
        self.duplicates += outcome.duplicates
        self.held_blocks += int(outcome.held)

    # -- observer --------------------------------------------------------------------

    async def new_block(self, body: bytes) -> dict[str, Any]:
        """Decode, publish and checkpoint one ``/new_block`` payload.

        Raises:
            BadRequest: the payload is not a valid block.
            BusUnavailable / NotLeader: answer non-200 so the node re-sends.
        """
        try:
            block = new_block_decoder.decode(body)
        except PAYLOAD_ERRORS as exc:
            raise _invalid("/new_block", exc) from exc
        bind_log_context(block=block.index_block_hash, height=block.block_height)
        failures: list[DecodeFailure] = []
        record = block_record(block, self.allow, now_ms=int(time.time() * 1000),
                              failures=failures, type_names=self.type_names, with_txs=False)
        try:
            outcome: Outcome = await self.guarded(lambda: self.processor.process(
                record, reorg_to=block.nakamoto,
                txs=lambda: block_txs(block, self.allow, failures=failures)))
        finally:
            self._failures(failures)
        self.blocks_received += 1
        self._count(outcome)
        self.last_block = {"height": block.block_height, "indexBlockHash": block.index_block_hash}
        log.info("block %d %s: %d published, %d duplicates%s%s",
                 block.block_height, block.index_block_hash[:12], outcome.published,
                 outcome.duplicates, f", {outcome.reverted} reverted (reorg)"
                 if outcome.reorg else "", ", kept aside (fork)" if outcome.held else "",
                 extra={"block": block.index_block_hash})
        return {"published": outcome.published, "duplicates": outcome.duplicates,
                "reverted": outcome.reverted, "held": outcome.held}

    async def new_burn_block(self, body: bytes) -> None:
        try:
            burn = new_burn_block_decoder.decode(body)
        except PAYLOAD_ERRORS as exc:
            raise _invalid("/new_burn_block", exc) from exc
        self.burn_blocks += 1
        self.last_burn_block = {"height": burn.burn_block_height, "hash": burn.burn_block_hash}

    async def _publish_feeds(self, feeds: list[TransactionFeed]) -> None:
        if feeds:
            await self.guarded(lambda: self.processor.publish_feeds(feeds))

    async def new_mempool_tx(self, body: bytes) -> int:
        try:
            raw_txs = mempool_decoder.decode(body)
        except PAYLOAD_ERRORS as exc:
            raise _invalid("/new_mempool_tx", exc) from exc
        failures: list[DecodeFailure] = []
        feeds = [feed for raw in raw_txs
                 if (feed := transaction_feed_from_hex(raw, self.allow, None, status="pending",
                                                       failures=failures)) is not None]
        self._failures(failures)
        await self._publish_feeds(feeds)
        self.pending.remember(feeds)
        self.mempool_txs += len(raw_txs)
        return len(feeds)

    async def drop_mempool_tx(self, body: bytes) -> int:
        try:
            drop = drop_mempool_decoder.decode(body)
        except PAYLOAD_ERRORS as exc:
            raise _invalid("/drop_mempool_tx", exc) from exc
        feeds = self.pending.dropped(drop.dropped_txids, drop.reason)
        await self._publish_feeds(feeds)
        self.pending.forget(feeds)
        return len(feeds)

    async def new_microblocks(self, body: bytes) -> None:
        try:
            micro = microblocks_decoder.decode(body)
        except PAYLOAD_ERRORS as exc:
            raise _invalid("/new_microblocks", exc) from exc
        # Microblock transactions are published when the anchor block that confirms them
        # arrives (its /new_block carries them, with the anchor's index block hash, which is
        # also the identity the Hiro API gives them); unconfirmed ones are only counted.
        self.microblocks += 1
        log.info("microblocks on %s: %d transactions, %d events (published when confirmed)",
                 micro.parent_index_block_hash[:12], len(micro.transactions), len(micro.events))

    # -- chainhook -------------------------------------------------------------------

    async def chainhook(self, body: bytes) -> dict[str, Any]:
        try:
            delivery = chainhook.delivery_decoder.decode(body)
        except PAYLOAD_ERRORS as exc:
            raise _invalid("Chainhook", exc) from exc
        now_ms = int(time.time() * 1000)
        failures: list[DecodeFailure] = []
        rollback = [chainhook.block_record(b, self.allow, now_ms=now_ms, failures=failures,
                                           type_names=self.type_names)
                    for b in sorted(delivery.rollback, key=lambda b: -b.block_identifier.index)]
        apply = [chainhook.block_record(b, self.allow, now_ms=now_ms, failures=failures,
                                        type_names=self.type_names)
                 for b in sorted(delivery.apply, key=lambda b: b.block_identifier.index)]
        self._failures(failures, "chainhook")
        total = Outcome()

        async def work() -> None:
            for record in rollback:
                outcome = await self.processor.rollback(record)
                total.reverted += outcome.reverted
            for record in apply:
                outcome = await self.processor.process(record, reorg_to=True)
                total.published += outcome.published
                total.duplicates += outcome.duplicates
                total.reverted += outcome.reverted

        await self.guarded(work)
        self._count(total)
        log.info("chainhook: %d rollback, %d apply blocks: %d published, %d duplicates, "
                 "%d reverted", len(rollback), len(apply), total.published, total.duplicates,
                 total.reverted)
        return {"published": total.published, "duplicates": total.duplicates,
                "reverted": total.reverted}
