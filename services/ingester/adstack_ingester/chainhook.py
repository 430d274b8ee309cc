"""Chainhook (v1) ``http_post`` deliveries → block records. Pure: no I/O.

A delivery is ``{apply: [block…], rollback: [block…], chainhook: {…}}`` (reference §5).
Each block holds only the transactions that matched the predicate. Mapping:

- ``block_identifier.hash`` is the index block hash (StacksBlockId) and
  ``block_identifier.index`` the height; ``parent_block_identifier`` likewise;
- a print event is ``{"type": "SmartContractEvent", "data": {contract_identifier, topic,
  raw_value}, "position": {"index"}}``. ``position.index`` is the node's block-wide
  ``event_index`` (Chainhook copies it from the observer payload). The index within the
  transaction, which the event id needs, is ``position.index`` minus the smallest position
  in the receipt (a transaction's events are numbered contiguously by the node), so the id
  equals the observer's and the Hiro API's for the same event;
- older Chainhook releases omit ``position`` on some events. If any event of a receipt
  lacks it, every event of that receipt takes its rank in the receipt instead (the receipt
  lists the transaction's events in node order), so ``[STX transfer, print A, print B]``
  gives A index 1 and B index 2 whichever of them carries a position (it used to give an
  event without ``position`` index 0: a different id from the observer's, so the same print
  was published twice, and out of order);
- transactions whose ``metadata.success`` is false are skipped;
- predicates must not set ``decode_clarity_values``: the decoded ``value`` loses Clarity
  types, so such events are reported as decode failures.
"""

from __future__ import annotations

from typing import Any

import msgspec

from adstack_events import ContractEvent, TransactionFeed, print_event
from adstack_ingester.chain import BlockRecord
from adstack_ingester.payloads import Count
from adstack_ingester.pipeline import NO_OVERRIDES, ContractFilter, DecodeFailure, TypeNames
from adstack_stacks import ClarityDecodeError, decode_hex_to_json


class Identifier(msgspec.Struct):
    index: Count
    hash: str


class Position(msgspec.Struct):
    index: Count = 0


class ReceiptEvent(msgspec.Struct):
    type: str
    data: dict[str, Any] = msgspec.field(default_factory=dict)
    position: Position | None = None


class Receipt(msgspec.Struct):
    events: list[ReceiptEvent] = msgspec.field(default_factory=list)


class TxKind(msgspec.Struct):
    type: str = ""
    data: dict[str, Any] | None = None


class TxMetadata(msgspec.Struct):
    success: bool = True
    raw_tx: str = ""
    sender: str | None = None
    kind: TxKind = msgspec.field(default_factory=TxKind)
    position: Position = msgspec.field(default_factory=Position)
    receipt: Receipt = msgspec.field(default_factory=Receipt)


class TxIdentifier(msgspec.Struct):
    hash: str


class Transaction(msgspec.Struct):
    transaction_identifier: TxIdentifier
    metadata: TxMetadata = msgspec.field(default_factory=TxMetadata)


class BlockMetadata(msgspec.Struct):
    bitcoin_anchor_block_identifier: Identifier | None = None
    stacks_block_hash: str | None = None
    block_time: Count | None = None


class Block(msgspec.Struct):
    block_identifier: Identifier
    parent_block_identifier: Identifier | None = None
    timestamp: Count = 0
    metadata: BlockMetadata = msgspec.field(default_factory=BlockMetadata)
    transactions: list[Transaction] = msgspec.field(default_factory=list)


class Delivery(msgspec.Struct):
    apply: list[Block] = msgspec.field(default_factory=list)
    rollback: list[Block] = msgspec.field(default_factory=list)
    chainhook: dict[str, Any] = msgspec.field(default_factory=dict)


delivery_decoder = msgspec.json.Decoder(Delivery)


def receipt_indexes(events: list[ReceiptEvent]) -> list[tuple[int, int, ReceiptEvent]]:
    """``(index within the transaction, block-wide index, event)`` for a receipt's events.

    With every ``position`` present: ``position.index - min(position.index)`` and
    ``position.index``. If any is missing (older Chainhook releases): the event's rank in the
    receipt, and the block-wide index is inferred from the positions given (the rank alone
    when there is none).
    """
    ranked = [(rank, e.position.index) for rank, e in enumerate(events)
              if e.position is not None]
    if len(ranked) == len(events):
        first = min(position for _, position in ranked)
        return [(position - first, position, e)
                for (_, position), e in zip(ranked, events, strict=True)]
    base = max(0, min((position - rank for rank, position in ranked), default=0))
    return [(rank, base + rank, e) for rank, e in enumerate(events)]


def block_record(
    block: Block,
    allow: ContractFilter,
    *,
    now_ms: int = 0,
    failures: list[DecodeFailure] | None = None,
    type_names: TypeNames = NO_OVERRIDES,
) -> BlockRecord:
    """The events and transaction-feed messages of one Chainhook block."""
    index_hash = block.block_identifier.hash
    height = block.block_identifier.index
    seconds = block.metadata.block_time or block.timestamp
    timestamp = int(seconds) * 1000
    events: list[tuple[tuple[int, int], ContractEvent]] = []
    txs: list[TransactionFeed] = []
    for tx in sorted(block.transactions, key=lambda t: t.metadata.position.index):
        txid = tx.transaction_identifier.hash
        meta = tx.metadata
        kind = meta.kind
        if kind.type == "ContractCall" and kind.data:
            contract = str(kind.data.get("contract_identifier", ""))
            if contract and allow(contract):
                txs.append(TransactionFeed(
                    txId=txid, contractId=contract, functionName=kind.data.get("method"),
                    sender=meta.sender, status="success" if meta.success else "failed",
                    blockHeight=height))
        if not meta.success or not meta.receipt.events:
            continue
        for tx_event_index, block_event_index, item in receipt_indexes(meta.receipt.events):
            if item.type != "SmartContractEvent":
                continue
            data = item.data
            contract = str(data.get("contract_identifier", ""))
            if data.get("topic") != "print" or not allow(contract):
                continue
            raw = data.get("raw_value")
            if not isinstance(raw, str):
                if failures is not None:
                    failures.append(DecodeFailure(
                        txid, block_event_index, contract,
                        "no raw_value (the predicate must not set decode_clarity_values)"))
                continue
            try:
                value = decode_hex_to_json(raw)
            except ClarityDecodeError as exc:
                if failures is not None:
                    failures.append(DecodeFailure(txid, block_event_index, contract,
                                                  str(exc)))
                continue
            events.append(((meta.position.index, tx_event_index), print_event(
                contract_id=contract, data=value, tx_id=txid, tx_event_index=tx_event_index,
                event_index=block_event_index, block_height=height,
                block_hash=block.metadata.stacks_block_hash or index_hash,
                index_block_hash=index_hash, timestamp=timestamp, source="chainhook",
                published_at=now_ms, rename=type_names)))
    events.sort(key=lambda pair: pair[0])
    parent = block.parent_block_identifier.hash if block.parent_block_identifier else ""
    anchor = block.metadata.bitcoin_anchor_block_identifier
    return BlockRecord(
        index_block_hash=index_hash,
        block_hash=block.metadata.stacks_block_hash or index_hash,
        height=height,
        parent=parent,
        burn_height=anchor.index if anchor else 0,
        timestamp=timestamp,
        tx_count=len(block.transactions),
        events=[event for _, event in events],
        txs=txs,
        source="chainhook",
    )
