"""Hiro Stacks API shapes → block records. Pure: no I/O (the client is ``hiro_source``).

The Hiro WebSocket has no print-event channel and pushed transactions carry no events
(reference §1.1), so the source subscribes to ``block`` and reads each block's transactions
over REST. ``GET /extended/v1/tx/{tx_id}`` gives everything for one transaction: status,
sender, contract call, its block (``index_block_hash``, ``canonical``) and its events
(``event_limit`` ≤ 100, paged with ``event_offset``). The API renumbers events per
transaction ``0..n-1`` in node order, which is exactly the index the event id needs.
Only ``smart_contract_log`` events with topic ``print`` from allowed contracts of
``success`` transactions in canonical blocks are kept (the API already drops uncommitted
events and events of failed transactions).
"""

from __future__ import annotations

from typing import Any

import msgspec

from adstack_events import ContractEvent, TransactionFeed, print_event
from adstack_ingester.chain import BlockRecord
from adstack_ingester.payloads import Count
from adstack_ingester.pipeline import NO_OVERRIDES, ContractFilter, DecodeFailure, TypeNames
from adstack_stacks import ClarityDecodeError, decode_hex_to_json

EVENT_LIMIT_MAX = 100
"""Largest ``event_limit`` of ``/extended/v1/tx/{id}`` (a larger one is HTTP 400)."""
BLOCK_LIST_LIMIT_MAX = 30
"""Largest ``limit`` of ``/extended/v1/block``."""


class HiroBlock(msgspec.Struct, kw_only=True):
    """A v1 ``Block`` (REST and the WebSocket ``block`` notification)."""

    canonical: bool = True
    height: Count
    hash: str
    index_block_hash: str
    parent_block_hash: str = ""
    burn_block_time: Count = 0
    burn_block_height: Count = 0
    block_time: Count | None = None
    txs: list[str] = msgspec.field(default_factory=list)


class ClarityHex(msgspec.Struct):
    hex: str
    repr: str = ""


class ContractLog(msgspec.Struct):
    contract_id: str
    topic: str
    value: ClarityHex


class HiroEvent(msgspec.Struct, kw_only=True):
    event_index: Count
    event_type: str
    tx_id: str = ""
    contract_log: ContractLog | None = None


class ContractCall(msgspec.Struct, kw_only=True):
    contract_id: str
    function_name: str = ""


class HiroTx(msgspec.Struct, kw_only=True):
    """A v1 ``Transaction`` with its (page of) events."""

    tx_id: str
    tx_status: str = "success"
    tx_type: str = ""
    sender_address: str | None = None
    block_height: Count | None = None
    block_hash: str | None = None
    index_block_hash: str | None = None
    canonical: bool = True
    microblock_canonical: bool = True
    contract_call: ContractCall | None = None
    event_count: Count = 0
    events: list[HiroEvent] = msgspec.field(default_factory=list)


class BlockList(msgspec.Struct):
    results: list[HiroBlock]
    total: Count = 0


block_decoder = msgspec.json.Decoder(HiroBlock)
block_list_decoder = msgspec.json.Decoder(BlockList)
tx_decoder = msgspec.json.Decoder(HiroTx)


class RpcMessage(msgspec.Struct, omit_defaults=True):
    """A JSON-RPC 2.0 message (request, response or notification)."""

    jsonrpc: str = "2.0"
    id: int | str | None = None
    method: str | None = None
    params: Any = None
    result: Any = None
    error: Any = None


rpc_decoder = msgspec.json.Decoder(RpcMessage)


def block_record(
    block: HiroBlock,
    parent_index_hash: str,
    txs: list[HiroTx],
    allow: ContractFilter,
    *,
    now_ms: int = 0,
    failures: list[DecodeFailure] | None = None,
    type_names: TypeNames = NO_OVERRIDES,
) -> BlockRecord:
    """The events and transaction-feed messages of one canonical Hiro block.

    ``txs`` are the block's transactions in block order, each with all its events.
    """
    seconds = block.block_time or block.burn_block_time
    timestamp = int(seconds) * 1000
    events: list[ContractEvent] = []
    feeds: list[TransactionFeed] = []
    for tx in txs:
        call = tx.contract_call
        if tx.tx_type == "contract_call" and call is not None and allow(call.contract_id):
            feeds.append(TransactionFeed(
                txId=tx.tx_id, contractId=call.contract_id,
                functionName=call.function_name or None, sender=tx.sender_address,
                status=tx.tx_status, blockHeight=block.height))
        if tx.tx_status != "success" or not tx.canonical or not tx.microblock_canonical:
            continue
        for item in sorted(tx.events, key=lambda e: e.event_index):
            log = item.contract_log
            if item.event_type != "smart_contract_log" or log is None or log.topic != "print":
                continue
            if not allow(log.contract_id):
                continue
            try:
                value = decode_hex_to_json(log.value.hex)
            except ClarityDecodeError as exc:
                if failures is not None:
                    failures.append(DecodeFailure(tx.tx_id, item.event_index,
                                                  log.contract_id, str(exc)))
                continue
            # The API numbers events per transaction: that index is both.
            events.append(print_event(
                contract_id=log.contract_id, data=value, tx_id=tx.tx_id,
                tx_event_index=item.event_index, event_index=item.event_index,
                block_height=block.height, block_hash=block.hash,
                index_block_hash=block.index_block_hash, timestamp=timestamp, source="hiro",
                published_at=now_ms, rename=type_names))
    return BlockRecord(
        index_block_hash=block.index_block_hash,
        block_hash=block.hash,
        height=block.height,
        parent=parent_index_hash,
        burn_height=block.burn_block_height,
        timestamp=timestamp,
        tx_count=len(block.txs),
        events=events,
        txs=feeds,
        source="hiro",
    )
