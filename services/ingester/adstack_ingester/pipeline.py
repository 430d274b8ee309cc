"""Pure transformation of an observer block into the events we publish. No I/O.

Rules (matching what the Hiro API does, and what the original server got wrong):
- only ``contract_event`` items with topic ``print`` from allowed contracts;
- skip events with ``committed: false`` and events of transactions whose status is not
  ``success``;
- ``events[]`` arrives in arbitrary order: output is sorted by the block-wide ``event_index``;
- the value is decoded from ``raw_value`` (the ``value`` field was removed in 3.4);
- the event type is the print tuple's ``event`` field, ``-`` → ``_``; ``print`` otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import msgspec

from adstack_clarity import ClarityDecodeError, decode_hex_to_json
from adstack_events import BlockFeed, ContractEvent, event_id, event_type_from_print
from adstack_ingester.payloads import NewBlock

log = logging.getLogger(__name__)

ContractFilter = Callable[[str], bool]


def contract_filter(contracts: tuple[str, ...]) -> ContractFilter:
    """A predicate for the configured contracts (``*`` allows every contract)."""
    if "*" in contracts:
        return lambda _contract: True
    allowed = frozenset(contracts)
    return allowed.__contains__


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
        out.append(
            ContractEvent(
                id=event_id(block.index_block_hash, item.txid, tx_event_index),
                type=event_type_from_print(data),
                contractId=body.contract_identifier,
                txId=item.txid,
                blockHeight=block.block_height,
                blockHash=block.block_hash,
                indexBlockHash=block.index_block_hash,
                eventIndex=item.event_index,
                timestamp=timestamp,
                data=data,
                source=source,
                publishedAt=now_ms,
            )
        )
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
