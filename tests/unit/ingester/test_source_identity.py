"""One identity across sources on mainnet-shaped devnet blocks (pure mappings, no I/O).

The same block through the observer, as a Chainhook delivery (with and without
``position`` on receipt events), through the Hiro API shapes and through the gateway's REST
backfill mapping gives the same events: the same ids, in the same order, with the same
values (every source maps a decoded print with ``adstack_events.print_event``).
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from adstack_devnet import DEFAULT_CONTRACTS
from adstack_devnet.chain import Chain
from adstack_events import ContractEvent
from adstack_ingester import chainhook, hiro
from adstack_ingester.payloads import new_block_decoder
from adstack_ingester.pipeline import block_record, contract_filter
from tests.helpers.chainhook import chainhook_block, delivery
from tests.helpers.fake_hiro import hiro_block, hiro_txs
from tests.helpers.sources import identity, rest_events

CONTRACTS = tuple(DEFAULT_CONTRACTS.values())
ALLOW = contract_filter(CONTRACTS)


def observer_events(payload: dict[str, Any]) -> list[ContractEvent]:
    return block_record(new_block_decoder.decode(json.dumps(payload).encode()), ALLOW).events


def chainhook_events(payload: dict[str, Any], **kwargs: Any) -> list[ContractEvent]:
    body = json.dumps(chainhook_block(payload, CONTRACTS, **kwargs)).encode()
    block = chainhook.msgspec.json.decode(body, type=chainhook.Block)
    return chainhook.block_record(block, ALLOW).events


def hiro_events(payload: dict[str, Any]) -> list[ContractEvent]:
    block = hiro.block_decoder.decode(json.dumps(hiro_block(payload)).encode())
    txs = [hiro.tx_decoder.decode(json.dumps(tx).encode()) for tx in hiro_txs(payload)]
    return hiro.block_record(block, payload["parent_index_block_hash"], txs, ALLOW).events


def key(events: list[ContractEvent]) -> list[tuple[str, str, str, Any]]:
    return [(e.id, e.txId, e.contractId, e.data) for e in events]


@pytest.mark.parametrize("nakamoto", [False, True], ids=["2.x", "nakamoto"])
def test_mainnet_shaped_blocks_give_the_same_events_through_every_source(
        nakamoto: bool) -> None:
    chain = Chain(DEFAULT_CONTRACTS, seed=7, events_per_block=6, shape="mainnet",
                  nakamoto=nakamoto, start_time=1_700_000_000)
    rng = random.Random(3)
    several = failed = 0
    for _ in range(40):
        block = chain.next_block()
        payload = block.payload
        observer = observer_events(payload)
        assert [e.txId for e in observer] == [p["txId"] for p in block.prints]
        assert len(observer) == 6
        assert key(chainhook_events(payload)) == key(observer)
        # Older Chainhook releases: some receipt events have no position.
        dropped = chainhook_events(payload, drop_position=lambda *_: rng.random() < 0.5)
        assert key(dropped) == key(observer)
        assert key(hiro_events(payload)) == key(observer)
        assert key(rest_events(payload, CONTRACTS)) == key(observer)
        for other in (chainhook_events(payload), hiro_events(payload),
                      rest_events(payload, CONTRACTS)):
            assert identity(other) == identity(observer), "one mapping of a print"
        per_tx = [e.txId for e in observer]
        several += any(per_tx.count(t) > 1 for t in per_tx)
        failed += any(t["status"] != "success" for t in payload["transactions"])
    assert several and failed, "the blocks exercised several prints per tx and failed txs"


def test_receipt_event_without_position_takes_its_rank() -> None:
    """The issue's example: ``[STX transfer (0), print A (1), print B (no position)]``:
    B is the transaction's event 2 and comes after A, as the observer gives it."""
    a = "0x0c00000001056576656e740d0000000161"  # {event: "a"}
    b = "0x0c00000001056576656e740d0000000162"  # {event: "b"}
    txid, index_hash = "0x" + "ab" * 32, "0x" + "cd" * 32
    observer_payload = {
        "block_hash": "0x" + "01" * 32, "block_height": 5, "index_block_hash": index_hash,
        "parent_index_block_hash": "0x" + "02" * 32, "burn_block_time": 1_700_000_000,
        "transactions": [{"txid": txid, "tx_index": 0, "status": "success",
                          "raw_tx": "0x00"}],
        "events": [
            {"txid": txid, "event_index": 2, "committed": True, "type": "contract_event",
             "contract_event": {"contract_identifier": CONTRACTS[0], "topic": "print",
                                "raw_value": b}},
            {"txid": txid, "event_index": 0, "committed": True, "type": "stx_transfer_event",
             "stx_transfer_event": {"amount": "1", "sender": "S", "recipient": "R"}},
            {"txid": txid, "event_index": 1, "committed": True, "type": "contract_event",
             "contract_event": {"contract_identifier": CONTRACTS[0], "topic": "print",
                                "raw_value": a}}]}
    block = chainhook.msgspec.convert({
        "block_identifier": {"index": 5, "hash": index_hash},
        "timestamp": 1_700_000_000,
        "transactions": [{"transaction_identifier": {"hash": txid}, "metadata": {
            "success": True, "receipt": {"events": [
                {"type": "STXTransferEvent", "data": {}, "position": {"index": 0}},
                {"type": "SmartContractEvent", "position": {"index": 1}, "data": {
                    "contract_identifier": CONTRACTS[0], "topic": "print", "raw_value": a}},
                {"type": "SmartContractEvent", "data": {
                    "contract_identifier": CONTRACTS[0], "topic": "print",
                    "raw_value": b}}]}}}]}, chainhook.Block)
    events = chainhook.block_record(block, ALLOW).events
    assert [e.data for e in events] == [{"event": "a"}, {"event": "b"}]
    assert [e.eventIndex for e in events] == [1, 2]
    assert key(events) == key(observer_events(observer_payload))


def test_chainhook_delivery_round_trips_through_the_decoder() -> None:
    chain = Chain(DEFAULT_CONTRACTS, seed=5, events_per_block=3, shape="mainnet",
                  start_time=1_700_000_000)
    blocks = [chain.next_block() for _ in range(3)]
    decoded = chainhook.delivery_decoder.decode(
        delivery([b.payload for b in blocks], contracts=CONTRACTS))
    ids = [e.id for b in decoded.apply for e in chainhook.block_record(b, ALLOW).events]
    assert ids == [e.id for b in blocks for e in observer_events(b.payload)]
