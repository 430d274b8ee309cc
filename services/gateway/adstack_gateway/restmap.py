"""Pure mapping of Stacks API (Hiro REST) contract events into our event shape. No I/O.

``GET /extended/v1/contract/{id}/events`` lists a contract's canonical events, newest
first, without block data; ``GET /extended/v1/tx/{tx_id}`` and
``GET /extended/v1/block/{hash}`` supply it. The API numbers events per transaction, which
is exactly the index our event ids use, so a backfilled event gets the very id the
ingester gives the same event, and merging with Redis history drops duplicates by id.
"""

from __future__ import annotations

import msgspec

from adstack_events import ContractEvent, print_event
from adstack_protocol import wire
from adstack_stacks import ClarityDecodeError, decode_hex_to_json

REST_MAX_LIMIT = 50
"""The API refuses (HTTP 400) a contract-events ``limit`` above this."""


class LogValue(msgspec.Struct):
    hex: str


class ContractLog(msgspec.Struct):
    contract_id: str
    topic: str
    value: LogValue


class RestEvent(msgspec.Struct):
    """One item of ``results`` (other event types are parsed and ignored)."""

    event_index: int
    event_type: str
    tx_id: str = ""
    contract_log: ContractLog | None = None


class EventsPage(msgspec.Struct):
    results: list[RestEvent]
    limit: int = 0
    offset: int = 0


class TxInfo(msgspec.Struct):
    tx_id: str
    block_hash: str
    block_height: int
    burn_block_time: int = 0
    block_time: int | None = None
    tx_status: str = "success"
    canonical: bool = True


class BlockInfo(msgspec.Struct):
    hash: str
    index_block_hash: str
    height: int = 0


def print_events(page: list[RestEvent], contract_id: str) -> list[RestEvent]:
    """The page's ``print`` events of ``contract_id`` that carry a transaction id."""
    return [e for e in page
            if e.event_type == "smart_contract_log" and e.contract_log is not None
            and e.contract_log.topic == "print" and e.contract_log.contract_id == contract_id
            and e.tx_id]


def event_from_rest(item: RestEvent, tx: TxInfo, block: BlockInfo,
                    now_ms: int = 0) -> ContractEvent | None:
    """Our event for a REST print event, or None if it cannot be one.

    ``eventIndex`` is the API's per-transaction index (the block-wide index the observer
    gives is not available from REST); ``source`` is ``api``.
    """
    log = item.contract_log
    if log is None or tx.tx_status != "success" or not tx.canonical:
        return None
    try:
        data = decode_hex_to_json(log.value.hex)
    except ClarityDecodeError:
        return None
    seconds = tx.block_time if tx.block_time else tx.burn_block_time
    return print_event(
        contract_id=log.contract_id, data=data, tx_id=item.tx_id,
        tx_event_index=item.event_index, event_index=item.event_index,
        block_height=tx.block_height, block_hash=tx.block_hash,
        index_block_hash=block.index_block_hash, timestamp=int(seconds) * 1000,
        source="api", published_at=now_ms)


def merge_history(recent: list[bytes], older: list[ContractEvent],
                  limit: int) -> tuple[list[bytes], int]:
    """Redis history (newest first) completed with REST events, without duplicates.

    Returns the merged events, newest first by block height (Redis's own order kept
    within a height), at most ``limit`` of them, and how many came from REST.
    """
    heads = [wire.peek_data(raw) for raw in recent]
    seen = {head.id for head in heads}
    merged: list[tuple[int, bool, bytes]] = [(h.blockHeight, False, raw)
                                             for h, raw in zip(heads, recent, strict=True)]
    for event in older:
        if event.id in seen:
            continue
        seen.add(event.id)
        merged.append((event.blockHeight, True, wire.stored_object(event)))
    merged.sort(key=lambda item: -item[0])  # stable: ties keep their order
    kept = merged[:limit]
    return [raw for _, _, raw in kept], sum(1 for _, from_rest, _ in kept if from_rest)
