"""The ingester's view of the recent chain, and reorg planning. Pure: no I/O.

Every source turns what it receives into a :class:`BlockRecord` (the block's identity,
parent, and the events and transactions we publish for it). :class:`ChainState` keeps the
recent blocks (canonical and side-fork ones) and decides, for each incoming block, what to
do (:meth:`ChainState.plan`):

- a block that is already canonical (a retry, a node re-send, a second source): publish its
  events again, which the dedup markers turn into no-ops; the chain does not move;
- a block on top of the tip: publish it;
- a block whose parent is not the tip: walk back through known blocks to the canonical
  ancestor, withdraw (revert) every canonical block above it, newest first, then publish the
  side-branch blocks and the new block, oldest first. Whether that happens at once or the
  block is kept aside depends on the rule for its chain:

  * Nakamoto blocks, Chainhook ``apply`` blocks and Hiro canonical blocks reorg *to* the
    block even when its branch is shorter (reference §3.5: since 3.x every ``/new_block`` is
    the node's canonical tip);
  * Stacks 2.x blocks follow the longest-chain rule the Hiro API uses: a block at or below
    the tip's height on another branch is stored aside (the node posts blocks of losing
    forks too) and becomes canonical only when its branch outgrows the current one.

Explicit rollbacks (Chainhook ``rollback``) withdraw a block and everything above it.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from adstack_events import ContractEvent, EventReverted, TransactionFeed
from adstack_stacks.tip import Tip


class BlockRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One block as we publish it (also its stored form, msgpack)."""

    index_block_hash: str
    block_hash: str
    height: int
    parent: str
    """Parent index block hash; empty when the source does not say."""
    burn_height: int = 0
    timestamp: int = 0
    """Milliseconds since the epoch."""
    tx_count: int = 0
    events: list[ContractEvent] = msgspec.field(default_factory=list)
    """Published contract events, in publish order."""
    txs: list[TransactionFeed] = msgspec.field(default_factory=list)
    """``transaction`` feed messages (calls to configured contracts)."""
    source: str = "observer"


_record_encoder = msgspec.msgpack.Encoder()
_record_decoder = msgspec.msgpack.Decoder(BlockRecord)


def encode_record(record: BlockRecord) -> bytes:
    return _record_encoder.encode(record)


def decode_record(blob: bytes) -> BlockRecord:
    return _record_decoder.decode(blob)


def revert_notices(record: BlockRecord) -> list[EventReverted]:
    """One notice per contract with the block's event ids (in publish order)."""
    by_contract: dict[str, list[str]] = {}
    for event in record.events:
        by_contract.setdefault(event.contractId, []).append(event.id)
    return [EventReverted(contractId=contract, ids=ids, blockHash=record.block_hash,
                          indexBlockHash=record.index_block_hash, blockHeight=record.height)
            for contract, ids in by_contract.items()]




class Plan(msgspec.Struct, kw_only=True):
    """What to do for one incoming block (or rollback)."""

    revert: list[BlockRecord] = msgspec.field(default_factory=list)
    """Canonical blocks to withdraw, newest first."""
    apply: list[BlockRecord] = msgspec.field(default_factory=list)
    """Blocks to publish, oldest first (the last one is the new tip)."""
    store: list[BlockRecord] = msgspec.field(default_factory=list)
    """Block records not stored yet."""
    known: bool = False
    """The block is canonical already: publish again (dedup), change nothing."""
    held: bool = False
    """A 2.x side-fork block kept aside; nothing is published."""
    missing: list[int] = msgspec.field(default_factory=list)
    """Heights of canonical blocks to revert whose records are gone (events unknown)."""
    tip: Tip | None = None
    """The tip after the plan (None: unchanged)."""

    @property
    def reorg(self) -> bool:
        return bool(self.revert or self.missing)


class ChainChanges(msgspec.Struct):
    """What :meth:`ChainState.commit` changed, for the store."""

    records: list[BlockRecord]
    canon_set: list[tuple[int, str]]
    canon_delete: list[int]
    keep_from_height: int
    tip: Tip | None


class ChainState:
    """The recent chain: known blocks, the canonical height → block map and the tip.

    ``window`` blocks below the tip are kept; deeper forks cannot be reverted (their
    records are gone), which matches how far Stacks forks go in practice (Chainhook treats
    blocks 7 deep as confirmed).
    """

    def __init__(self, *, window: int = 256) -> None:
        self.window = window
        self.blocks: dict[str, BlockRecord] = {}
        self.canon: dict[int, str] = {}
        self.tip: Tip | None = None

    @classmethod
    def restore(cls, tip: Tip | None, canon: dict[int, str], records: Iterable[BlockRecord],
                *, window: int = 256) -> ChainState:
        state = cls(window=window)
        state.tip = tip
        state.canon = dict(canon)
        for record in records:
            state.blocks[record.index_block_hash] = record
        return state

    def is_canonical(self, index_block_hash: str) -> bool:
        record = self.blocks.get(index_block_hash)
        if record is not None:
            return self.canon.get(record.height) == index_block_hash
        return index_block_hash in self.canon.values()

    def _height_of(self, index_block_hash: str) -> int | None:
        record = self.blocks.get(index_block_hash)
        if record is not None:
            return record.height
        for height, value in self.canon.items():
            if value == index_block_hash:
                return height
        return None

    def _canonical_above(self, height: int, plan: Plan) -> None:
        """Add every canonical block above ``height`` to ``plan.revert``, newest first."""
        if self.tip is None:
            return
        for h in range(self.tip.height, height, -1):
            index_hash = self.canon.get(h)
            if index_hash is None:
                continue
            record = self.blocks.get(index_hash)
            if record is None:
                plan.missing.append(h)
            else:
                plan.revert.append(record)

    def plan(self, block: BlockRecord, *, reorg_to: bool) -> Plan:
        """Decide what to do with ``block`` (see the module doc). Changes nothing."""
        key = block.index_block_hash
        new = [] if key in self.blocks else [block]
        if self.canon.get(block.height) == key:
            stored = self.blocks.get(key)
            if stored is None:
                return Plan(known=True, apply=[block], store=[block])
            merged = merge_events(stored, block)
            return Plan(known=True, apply=[block], store=[] if merged is stored else [merged])
        tip = self.tip
        if tip is None or block.parent == tip.index_block_hash:
            return Plan(apply=[block], store=new, tip=_tip_of(block))
        # Walk back through known side blocks to the canonical ancestor.
        branch: list[BlockRecord] = []
        cursor = block.parent
        while cursor and cursor in self.blocks and not self.is_canonical(cursor):
            ancestor = self.blocks[cursor]
            branch.append(ancestor)
            cursor = ancestor.parent
            if len(branch) > self.window:
                break
        ancestor_height = self._height_of(cursor) if cursor else None
        if ancestor_height is None or not self.is_canonical(cursor):
            # Unknown ancestry: the branch starts below its lowest block we know.
            lowest = branch[-1].height if branch else block.height
            if lowest - 1 > tip.height:
                # A gap above our tip (blocks we never saw): nothing of ours conflicts.
                apply = [*reversed(branch), block]
                return Plan(apply=apply, store=new, tip=_tip_of(block))
            # Our canonical block at the parent's height (if any) is not that parent.
            ancestor_height = lowest - 2
        if not reorg_to and block.height <= tip.height:
            return Plan(held=True, store=new)
        plan = Plan(apply=[*reversed(branch), block], store=new, tip=_tip_of(block))
        self._canonical_above(ancestor_height, plan)
        return plan

    def plan_rollback(self, block: BlockRecord) -> Plan:
        """Withdraw ``block`` (and every canonical block above it, if it is canonical)."""
        key = block.index_block_hash
        if not self.is_canonical(key):
            # Not on our chain (never applied, or already withdrawn): withdraw its events
            # in case another path published them; the revert script skips unpublished ids.
            return Plan(revert=[self.blocks.get(key, block)])
        plan = Plan()
        height = self._height_of(key)
        assert height is not None
        self._canonical_above(height - 1, plan)
        below = self.canon.get(height - 1)
        below_record = self.blocks.get(below) if below else None
        if below_record is not None:
            plan.tip = _tip_of(below_record)
        else:
            plan.tip = Tip(height - 1, "", block.parent)
        return plan

    def commit(self, plan: Plan) -> ChainChanges:
        """Apply a plan that was carried out; returns the changes to persist."""
        for record in plan.store:
            self.blocks[record.index_block_hash] = record
        canon_set: list[tuple[int, str]] = []
        canon_delete: list[int] = []
        if plan.known or plan.held:
            return ChainChanges(records=list(plan.store), canon_set=[], canon_delete=[],
                                keep_from_height=self._keep_from(), tip=None)
        reverted_heights = {r.height for r in plan.revert} | set(plan.missing)
        for height in reverted_heights:
            self.canon.pop(height, None)
        for record in plan.apply:
            self.canon[record.height] = record.index_block_hash
            canon_set.append((record.height, record.index_block_hash))
        applied_heights = {r.height for r in plan.apply}
        canon_delete = sorted(reverted_heights - applied_heights)
        if plan.tip is not None:
            self.tip = plan.tip
            # A reorg to a shorter branch leaves nothing canonical above the new tip.
            for height in [h for h in self.canon if h > plan.tip.height]:
                del self.canon[height]
                canon_delete.append(height)
        keep = self._keep_from()
        for height in [h for h in self.canon if h < keep]:
            del self.canon[height]
            canon_delete.append(height)
        for key in [k for k, r in self.blocks.items() if r.height < keep]:
            del self.blocks[key]
        return ChainChanges(records=list(plan.store), canon_set=canon_set,
                            canon_delete=canon_delete, keep_from_height=keep, tip=self.tip)

    def _keep_from(self) -> int:
        return max(0, self.tip.height - self.window) if self.tip is not None else 0


def merge_events(stored: BlockRecord, incoming: BlockRecord) -> BlockRecord:
    """``stored`` plus the events and transactions only ``incoming`` has (two sources may
    see different parts of a block: Chainhook sends only matching transactions)."""
    ids = {e.id for e in stored.events}
    extra = [e for e in incoming.events if e.id not in ids]
    txids = {t.txId for t in stored.txs}
    extra_txs = [t for t in incoming.txs if t.txId not in txids]
    if not extra and not extra_txs:
        return stored
    return msgspec.structs.replace(stored, events=[*stored.events, *extra],
                                   txs=[*stored.txs, *extra_txs])


def _tip_of(record: BlockRecord) -> Tip:
    return Tip(record.height, record.block_hash, record.index_block_hash)
