"""Chainhook (v1) ``http_post`` deliveries made from devnet ``/new_block`` payloads.

Shapes follow ../shared/reference/stacks-sources.md §5 (chainhook-sdk
``serialize_stacks_payload_to_json``): a block holds only the transactions that matched a
``print_event`` predicate (here: a print of one of ``contracts``, successful or not); each
transaction's ``metadata.receipt.events`` lists its committed events in node order, typed
``STXTransferEvent``, ``FTMintEvent``, ``NFTBurnEvent``, ``SmartContractEvent``…, each with
``position.index`` (the node's block-wide ``event_index``). ``drop_position`` removes the
position of chosen events, as older Chainhook releases did.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from typing import Any

from adstack_stacks.txwire import decode_tx_hex

_TYPES = {
    "stx_transfer_event": "STXTransferEvent", "stx_mint_event": "STXMintEvent",
    "stx_burn_event": "STXBurnEvent", "stx_lock_event": "STXLockEvent",
    "ft_transfer_event": "FTTransferEvent", "ft_mint_event": "FTMintEvent",
    "ft_burn_event": "FTBurnEvent", "nft_transfer_event": "NFTTransferEvent",
    "nft_mint_event": "NFTMintEvent", "nft_burn_event": "NFTBurnEvent",
    "contract_event": "SmartContractEvent",
}

DropPosition = Callable[[str, int, dict[str, Any]], bool]
"""(txid, rank in the receipt, observer event) → leave ``position`` out."""


def _keep_all(_txid: str, _rank: int, _event: dict[str, Any]) -> bool:
    return False


def chainhook_block(payload: dict[str, Any], contracts: Collection[str], *,
                    drop_position: DropPosition = _keep_all) -> dict[str, Any]:
    """A Chainhook ``apply``/``rollback`` block for an observer payload."""
    by_tx: dict[str, list[dict[str, Any]]] = {}
    for event in sorted(payload["events"], key=lambda e: e["event_index"]):
        if event.get("committed", True):
            by_tx.setdefault(event["txid"], []).append(event)
    txs = []
    for tx in sorted(payload["transactions"], key=lambda t: t["tx_index"]):
        events = by_tx.get(tx["txid"], [])
        if not any(e["type"] == "contract_event" and e["contract_event"]["topic"] == "print"
                   and e["contract_event"]["contract_identifier"] in contracts
                   for e in events):
            continue
        decoded = decode_tx_hex(tx["raw_tx"])
        receipt = []
        for rank, event in enumerate(events):
            item: dict[str, Any] = {"type": _TYPES[event["type"]],
                                    "data": dict(event[event["type"]])}
            if not drop_position(tx["txid"], rank, event):
                item["position"] = {"index": event["event_index"]}
            receipt.append(item)
        txs.append({
            "transaction_identifier": {"hash": tx["txid"]},
            "operations": [],
            "metadata": {
                "success": tx["status"] == "success", "raw_tx": tx["raw_tx"],
                "result": "(ok true)" if tx["status"] == "success" else "(err u1)",
                "sender": decoded.sender, "fee": decoded.fee, "nonce": decoded.nonce,
                "kind": {"type": "ContractCall", "data": {
                    "contract_identifier": decoded.contract_id,
                    "method": decoded.function_name, "args": []}},
                "position": {"index": tx["tx_index"]},
                "proof": None,
                "execution_cost": tx.get("execution_cost"),
                "description": f"invoked: {decoded.contract_id}::{decoded.function_name}()",
                "receipt": {"mutated_contracts_radius": [decoded.contract_id],
                            "mutated_assets_radius": [], "contract_calls_stack": [],
                            "events": receipt},
            },
        })
    block: dict[str, Any] = {
        "block_identifier": {"index": payload["block_height"],
                             "hash": payload["index_block_hash"]},
        "parent_block_identifier": {"index": payload["block_height"] - 1,
                                    "hash": payload["parent_index_block_hash"]},
        "timestamp": payload["burn_block_time"],
        "metadata": {"bitcoin_anchor_block_identifier": {
            "index": payload["burn_block_height"], "hash": payload["burn_block_hash"]},
            "stacks_block_hash": payload["block_hash"],
            "pox_cycle_index": 1, "pox_cycle_position": 1, "pox_cycle_length": 20,
            "confirm_microblock_identifier": None},
        "transactions": txs}
    if payload.get("block_time") is not None:
        block["metadata"]["block_time"] = payload["block_time"]
    return block


def delivery(apply: Sequence[dict[str, Any]], rollback: Sequence[dict[str, Any]] = (), *,
             contracts: Collection[str], drop_position: DropPosition = _keep_all) -> bytes:
    """The body of one Chainhook ``http_post`` for observer payloads."""
    return json.dumps({
        "apply": [chainhook_block(p, contracts, drop_position=drop_position) for p in apply],
        "rollback": [chainhook_block(p, contracts, drop_position=drop_position)
                     for p in rollback],
        "chainhook": {"uuid": "1", "predicate": {"scope": "print_event",
                                                 "contract_identifier": "*",
                                                 "contains": "*"},
                      "is_streaming_blocks": True}}).encode()
