"""One observer payload through every source's pure mapping (observer, Chainhook, Hiro,
REST backfill), for the cross-source identity tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from adstack_events import ContractEvent
from adstack_gateway import restmap
from adstack_ingester import chainhook, hiro
from adstack_ingester.payloads import new_block_decoder
from adstack_ingester.pipeline import block_record, contract_filter
from tests.helpers.chainhook import DropPosition, chainhook_block
from tests.helpers.fake_hiro import hiro_block, hiro_txs


def observer_events(payload: dict[str, Any], contracts: Sequence[str]) -> list[ContractEvent]:
    decoded = new_block_decoder.decode(json.dumps(payload).encode())
    return block_record(decoded, contract_filter(tuple(contracts))).events


def chainhook_events(payload: dict[str, Any], contracts: Sequence[str],
                     drop_position: DropPosition | None = None) -> list[ContractEvent]:
    shaped = (chainhook_block(payload, contracts) if drop_position is None
              else chainhook_block(payload, contracts, drop_position=drop_position))
    block = chainhook.msgspec.json.decode(json.dumps(shaped).encode(), type=chainhook.Block)
    return chainhook.block_record(block, contract_filter(tuple(contracts))).events


def hiro_events(payload: dict[str, Any], contracts: Sequence[str]) -> list[ContractEvent]:
    block = hiro.block_decoder.decode(json.dumps(hiro_block(payload)).encode())
    txs = [hiro.tx_decoder.decode(json.dumps(tx).encode()) for tx in hiro_txs(payload)]
    return hiro.block_record(block, payload["parent_index_block_hash"], txs,
                             contract_filter(tuple(contracts))).events


def rest_events(payload: dict[str, Any], contracts: Sequence[str]) -> list[ContractEvent]:
    """The block's events as the gateway's REST backfill maps them (the contract-events
    endpoint's items, with the transaction and block they name), in block order."""
    block = restmap.BlockInfo(hash=payload["block_hash"],
                              index_block_hash=payload["index_block_hash"],
                              height=payload["block_height"])
    out: list[ContractEvent] = []
    for raw_tx in hiro_txs(payload):
        tx = restmap.TxInfo(tx_id=raw_tx["tx_id"], block_hash=payload["block_hash"],
                            block_height=payload["block_height"],
                            burn_block_time=payload["burn_block_time"],
                            block_time=payload.get("block_time"),
                            tx_status=raw_tx["tx_status"])
        items = restmap.msgspec.convert(raw_tx["events"], list[restmap.RestEvent])
        for contract in contracts:
            for item in restmap.print_events(items, contract):
                event = restmap.event_from_rest(item, tx, block)
                if event is not None:
                    out.append(event)
    order = {tx["txid"]: tx["tx_index"] for tx in payload["transactions"]}
    return sorted(out, key=lambda e: (order[e.txId], e.eventIndex))


def identity(events: list[ContractEvent]) -> list[tuple[Any, ...]]:
    """Every field a print maps to, except what says which source it came by (``source``,
    ``eventIndex``: block-wide for the observer and Chainhook, per transaction for the
    APIs) and when (``publishedAt``)."""
    return [(e.id, e.type, e.contractId, e.txId, e.blockHeight, e.blockHash,
             e.indexBlockHash, e.timestamp, e.data) for e in events]
