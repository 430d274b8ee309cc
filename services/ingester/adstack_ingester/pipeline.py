"""Pure transformation of an observer block into the events we publish. No I/O.

Rules (matching what the Hiro API does, and what the original server got wrong):
- only ``contract_event`` items with topic ``print`` from allowed contracts;
- skip events with ``committed: false`` and events of transactions whose status is not
  ``success``;
- ``events[]`` arrives in arbitrary order: output is sorted by the block-wide ``event_index``;
- the value is decoded from ``raw_value`` (the ``value`` field was removed in 3.4);
- the event type is the print tuple's ``event`` field, ``-`` → ``_``; ``print`` otherwise;
  configured overrides rename types per contract (:class:`TypeNames`);
- calls to allowed contracts (decoded from ``raw_tx``) become ``transaction`` feed messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import msgspec

from adstack_events import (
    BlockFeed,
    ContractEvent,
    TransactionFeed,
    is_valid_event_type,
    print_event,
)
from adstack_ingester.chain import BlockRecord
from adstack_ingester.payloads import NewBlock, ObserverTransaction
from adstack_stacks import ClarityDecodeError, decode_hex_to_json
from adstack_stacks.txwire import TxDecodeError, decode_tx_hex

log = logging.getLogger(__name__)

ContractFilter = Callable[[str], bool]


def contract_filter(contracts: tuple[str, ...]) -> ContractFilter:
    """A predicate for the configured contracts (``*`` allows every contract)."""
    if "*" in contracts:
        return lambda _contract: True
    allowed = frozenset(contracts)
    return allowed.__contains__


class TypeNames:
    """Optional event-type overrides: ``(contract or "*", derived type) → type``.

    Parsed from ``EVENT_TYPE_OVERRIDES`` entries ``<contract|*>:<derived>=<name>``, e.g.
    ``ST….promo-manager:print=promo_note`` or ``*:campaign_created=created``.
    """

    def __init__(self, overrides: dict[tuple[str, str], str] | None = None) -> None:
        self.overrides = dict(overrides or {})

    @classmethod
    def parse(cls, entries: tuple[str, ...]) -> TypeNames:
        """Raises ValueError on a malformed entry."""
        out: dict[tuple[str, str], str] = {}
        for entry in entries:
            left, sep, name = entry.rpartition("=")
            contract, colon, derived = left.rpartition(":")
            if not sep or not colon or not contract or not is_valid_event_type(derived) \
                    or not is_valid_event_type(name):
                raise ValueError(f"bad type override {entry!r}: want <contract|*>:<type>=<name>")
            out[(contract, derived)] = name
        return cls(out)

    def __call__(self, contract_id: str, derived: str) -> str:
        if not self.overrides:
            return derived
        return self.overrides.get((contract_id, derived)) or self.overrides.get(
            ("*", derived), derived)


NO_OVERRIDES = TypeNames()


class DecodeFailure(msgspec.Struct, frozen=True):
    """A print event whose value could not be decoded (skipped, reported)."""

    txid: str
    event_index: int
    contract_id: str
    reason: str


def block_timestamp_ms(block: NewBlock) -> int:
    """Nakamoto ``block_time`` when present, else the burn block time; in milliseconds."""
    seconds = block.block_time if block.block_time else block.burn_block_time
    return int(seconds) * 1000


def extract_events(
    block: NewBlock,
    allow: ContractFilter,
    *,
    source: str = "observer",
    now_ms: int = 0,
    failures: list[DecodeFailure] | None = None,
    type_names: TypeNames = NO_OVERRIDES,
) -> list[ContractEvent]:
    """The block's print events for allowed contracts, in ``event_index`` order.

    ``now_ms`` is stamped as ``publishedAt`` (the caller passes the clock: this stays pure).
    """
    ok_txs = {tx.txid for tx in block.transactions if tx.status == "success"}
    known_txs = {tx.txid for tx in block.transactions}
    timestamp = block_timestamp_ms(block)
    per_tx_counter: dict[str, int] = {}
    out: list[ContractEvent] = []
    for item in sorted(block.events, key=lambda e: e.event_index):
        if not item.committed:
            continue
        # Index of the event within its transaction: stable across sources (the Hiro API
        # renumbers events per transaction in node order).
        tx_event_index = per_tx_counter.get(item.txid, 0)
        per_tx_counter[item.txid] = tx_event_index + 1
        if item.txid in known_txs and item.txid not in ok_txs:
            continue
        body = item.contract_event
        if item.type != "contract_event" or body is None or body.topic != "print":
            continue
        if not allow(body.contract_identifier):
            continue
        if not body.raw_value:
            if failures is not None:
                failures.append(DecodeFailure(item.txid, item.event_index,
                                              body.contract_identifier, "no raw_value"))
            continue
        try:
            data = decode_hex_to_json(body.raw_value)
        except ClarityDecodeError as exc:
            if failures is not None:
                failures.append(DecodeFailure(item.txid, item.event_index,
                                              body.contract_identifier, str(exc)))
            continue
        out.append(print_event(
            contract_id=body.contract_identifier, data=data, tx_id=item.txid,
            tx_event_index=tx_event_index, event_index=item.event_index,
            block_height=block.block_height, block_hash=block.block_hash,
            index_block_hash=block.index_block_hash, timestamp=timestamp, source=source,
            published_at=now_ms, rename=type_names))
    return out


def block_feed(block: NewBlock) -> BlockFeed:
    """The ``block`` feed message for a block."""
    return BlockFeed(
        height=block.block_height,
        hash=block.block_hash,
        indexBlockHash=block.index_block_hash,
        burnBlockHeight=block.burn_block_height,
        timestamp=block_timestamp_ms(block),
        txCount=len(block.transactions),
    )


def transaction_feed(
    tx: ObserverTransaction,
    allow: ContractFilter,
    block_height: int | None,
    *,
    status: str | None = None,
    failures: list[DecodeFailure] | None = None,
) -> TransactionFeed | None:
    """The ``transaction`` feed message for a call to an allowed contract, else None."""
    if not tx.raw_tx or tx.raw_tx == "0x00":  # a burnchain operation
        return None
    return transaction_feed_from_hex(tx.raw_tx, allow, block_height,
                                     status=status or tx.status, txid=tx.txid,
                                     failures=failures)


def transaction_feed_from_hex(
    raw_tx: str,
    allow: ContractFilter,
    block_height: int | None,
    *,
    status: str,
    txid: str | None = None,
    failures: list[DecodeFailure] | None = None,
) -> TransactionFeed | None:
    try:
        decoded = decode_tx_hex(raw_tx, decode_args=False, txid=txid)
    except TxDecodeError as exc:
        if failures is not None:
            failures.append(DecodeFailure(txid or "", -1, "", f"raw_tx: {exc}"))
        return None
    if decoded.contract_id is None or not allow(decoded.contract_id):
        return None
    return TransactionFeed(txId=txid or decoded.txid, contractId=decoded.contract_id,
                           functionName=decoded.function_name, sender=decoded.sender,
                           status=status, blockHeight=block_height)


def block_record(
    block: NewBlock,
    allow: ContractFilter,
    *,
    now_ms: int = 0,
    failures: list[DecodeFailure] | None = None,
    type_names: TypeNames = NO_OVERRIDES,
    with_txs: bool = True,
) -> BlockRecord:
    """Everything we publish for an observer ``/new_block``; without the ``transaction``
    feed if ``with_txs`` is false (:func:`block_txs` makes it later)."""
    events = extract_events(block, allow, now_ms=now_ms, failures=failures,
                            type_names=type_names)
    txs = block_txs(block, allow, failures=failures) if with_txs else []
    return BlockRecord(
        index_block_hash=block.index_block_hash,
        block_hash=block.block_hash,
        height=block.block_height,
        parent=block.parent_index_block_hash,
        burn_height=block.burn_block_height,
        timestamp=block_timestamp_ms(block),
        tx_count=len(block.transactions),
        events=events,
        txs=txs,
        source="observer",
    )


def block_txs(block: NewBlock, allow: ContractFilter, *,
              failures: list[DecodeFailure] | None = None) -> list[TransactionFeed]:
    """The block's ``transaction`` feed messages, in ``tx_index`` order."""
    return [feed for tx in sorted(block.transactions, key=lambda t: t.tx_index)
            if (feed := transaction_feed(tx, allow, block.block_height,
                                         failures=failures)) is not None]


def record_feed(record: BlockRecord) -> BlockFeed:
    """The ``block`` feed message for a block record (any source)."""
    return BlockFeed(height=record.height, hash=record.block_hash,
                     indexBlockHash=record.index_block_hash, burnBlockHeight=record.burn_height,
                     timestamp=record.timestamp, txCount=record.tx_count)
