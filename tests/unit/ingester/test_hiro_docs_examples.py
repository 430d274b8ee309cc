"""The upstream Hiro API examples (../shared/fixtures/stacks/hiro_docs_example_*) parse with
the Hiro source's decoders and map to the events they describe, field by field.

Known quirks of the examples (fixtures README): their ``repr`` strings predate today's API
(a buffer shown as a string, ``1`` for ``u1``, principals without the leading ``'``); the
mapping reads only ``hex``, so the asserted values come from the hex.
"""

from __future__ import annotations

import msgspec

from adstack_events import event_id
from adstack_ingester import hiro
from adstack_ingester.pipeline import contract_filter
from adstack_stacks import decode_hex, to_repr
from tests.helpers.fixtures import load_bytes, load_json

ALL = contract_filter(("*",))


class EventPage(msgspec.Struct):
    """``/extended/v1/tx/events`` (``events``) and ``/contract/{id}/events`` (``results``)."""

    limit: int
    offset: int
    events: list[hiro.HiroEvent] = msgspec.field(default_factory=list)
    results: list[hiro.HiroEvent] = msgspec.field(default_factory=list)


def test_block_example() -> None:
    block = hiro.block_decoder.decode(load_bytes("hiro_docs_example_v1_block.json"))
    assert block.canonical is True
    assert block.height == 3275
    assert block.hash == "0xe77ba8cf6bb7c0e4f64adc83356289ed467d31a22354907b4bb814590058430f"
    assert block.index_block_hash == (
        "0x918697ef63f9d8bdf844c3312b299e72a231cde542f3173f7755bb8c1cdaf3a7")
    assert block.parent_block_hash == (
        "0x75ab21ef25cbff2caa14c27d830ed7886a4d1522e1b6f9e5dc3b59ccf73ed49f")
    assert (block.burn_block_time, block.burn_block_height, block.block_time) == (
        1594233639, 654439, 1594233639)
    assert block.txs == load_json("hiro_docs_example_v1_block.json")["txs"]
    assert len(block.txs) == 3
    # The WS ``block`` notification carries the same object: the record it maps to.
    record = hiro.block_record(block, "0xparent", [], ALL)
    assert (record.index_block_hash, record.block_hash, record.height, record.parent,
            record.burn_height, record.timestamp, record.tx_count, record.source) == (
        block.index_block_hash, block.hash, 3275, "0xparent", 654439, 1594233639000, 3,
        "hiro")
    assert record.events == [] and record.txs == []


def test_tx_events_example_maps_its_print_and_skips_the_nft_transfer() -> None:
    page = msgspec.json.decode(load_bytes("hiro_docs_example_v1_tx_events.json"),
                               type=EventPage)
    assert (page.limit, page.offset) == (96, 0)
    nft, log = page.events
    assert (nft.event_index, nft.event_type, nft.contract_log) == (
        0, "non_fungible_token_asset", None)
    assert log.event_index == 1 and log.event_type == "smart_contract_log"
    assert log.contract_log is not None
    assert log.contract_log.contract_id == "ST000000000000000000002AMW42H.bns"
    assert log.contract_log.topic == "print"
    txid = "0x05ccc123db703a2808afaaf88b6b3240f14391d14fde701bd20d7206c9133af6"
    assert nft.tx_id == log.tx_id == txid
    # Today's repr of the hex is the example's, plus the apostrophe on the principal.
    example_repr = log.contract_log.value.repr
    assert to_repr(decode_hex(log.contract_log.value.hex)) == example_repr.replace(
        "(tx-sender ", "(tx-sender '")
    tx = hiro.HiroTx(tx_id=txid, tx_status="success", tx_type="contract_call",
                     event_count=2, events=page.events)
    block = hiro.HiroBlock(height=10, hash="0x" + "11" * 32, index_block_hash="0x" + "22" * 32,
                           burn_block_time=1_600_000_000, txs=[txid])
    [event] = hiro.block_record(block, "0x" + "33" * 32, [tx], ALL).events
    assert event.id == event_id(block.index_block_hash, txid, 1)
    assert (event.type, event.contractId, event.txId, event.blockHeight, event.blockHash,
            event.indexBlockHash, event.eventIndex, event.timestamp, event.source) == (
        "print", "ST000000000000000000002AMW42H.bns", txid, 10, block.hash,
        block.index_block_hash, 1, 1_600_000_000_000, "hiro")
    assert event.data == {"attachment": {
        "attachment-index": 643,
        "hash": "0xb472a266d0bd89c13706a4132ccfb16f7c3b9fcb",
        "metadata": {"name": "0x62696c616c7465737435", "namespace": "0x627463",
                     "op": "name-transfer",
                     "tx-sender": "STKVDRCTN8C81T22QHR9PG9GPD3V3WPQYBYFHPT4"}}}
    # Only the configured contracts: another contract's print is not ours.
    other = contract_filter(("ST000000000000000000002AMW42H.pox-4",))
    assert hiro.block_record(block, "", [tx], other).events == []


def test_contract_events_example_is_a_buffer_print() -> None:
    page = msgspec.json.decode(load_bytes("hiro_docs_example_v1_contract_events.json"),
                               type=EventPage)
    [log] = page.results
    assert (log.event_index, log.event_type, log.tx_id) == (1, "smart_contract_log", "")
    assert log.contract_log is not None
    contract = "ST2P7B9G6Y55QWZJ9B93DVSEG5S6Z4PFJHB3XRKHW.hello_world"
    assert (log.contract_log.contract_id, log.contract_log.topic) == (contract, "print")
    # The example's repr says a string; the hex is a buffer (fixtures README).
    assert log.contract_log.value.repr == '"Event! Hello world"'
    assert to_repr(decode_hex(log.contract_log.value.hex)) == (
        "0x4576656e74212048656c6c6f20776f726c64")
    assert bytes.fromhex(log.contract_log.value.hex[12:]) == b"Event! Hello world"
    tx = hiro.HiroTx(tx_id="0x" + "44" * 32, events=[log])
    block = hiro.HiroBlock(height=1, hash="0x" + "55" * 32, index_block_hash="0x" + "66" * 32)
    [event] = hiro.block_record(block, "", [tx], ALL).events
    assert (event.type, event.contractId, event.eventIndex, event.data) == (
        "print", contract, 1, "0x4576656e74212048656c6c6f20776f726c64")
    assert event.id == event_id(block.index_block_hash, tx.tx_id, 1)


def test_smart_contract_tx_example_maps_its_one_print_among_asset_events() -> None:
    raw = load_bytes("hiro_docs_example_v1_tx_smart_contract_with_events.json")
    tx = hiro.tx_decoder.decode(raw)
    txid = "0x8122b7ae041120ddc9e2f8108e165912e40ad146399d42d6e6cbca7fd2c8ac28"
    assert (tx.tx_id, tx.tx_status, tx.tx_type, tx.sender_address, tx.block_height,
            tx.block_hash, tx.canonical, tx.microblock_canonical, tx.contract_call) == (
        txid, "success", "smart_contract", "STJTXEJPJPPVDNA9B052NSRRBGQCFNKVS178VGH1", 3196,
        "0x105685d3d4f251d73b75865b192cefb111dd49f67b8970a95094dc7ecf826caa", True, True,
        None)
    assert [(e.event_index, e.event_type) for e in tx.events] == [
        (0, "fungible_token_asset"), (1, "non_fungible_token_asset"),
        (2, "non_fungible_token_asset"), (3, "smart_contract_log"),
        (4, "fungible_token_asset"), (5, "non_fungible_token_asset")]
    contract = "STJTXEJPJPPVDNA9B052NSRRBGQCFNKVS178VGH1.hello_world"
    # The events come in any order from a page; the mapping sorts them.
    shuffled = msgspec.structs.replace(tx, events=list(reversed(tx.events)))
    block = hiro.HiroBlock(height=3196, hash=tx.block_hash or "",
                           index_block_hash="0x" + "77" * 32, burn_block_time=1594228322,
                           txs=[txid])
    record = hiro.block_record(block, "0x" + "88" * 32, [shuffled], ALL)
    [event] = record.events
    assert event.id == event_id(block.index_block_hash, txid, 3)
    assert (event.type, event.contractId, event.txId, event.eventIndex, event.blockHeight,
            event.timestamp, event.data) == (
        "print", contract, txid, 3, 3196, 1594228322000,
        "0x4576656e74212048656c6c6f20776f726c64")
    assert record.txs == [], "a deploy is not a contract call: no transaction feed"
    # A failed or non-canonical transaction publishes nothing.
    for changed in (msgspec.structs.replace(tx, tx_status="abort_by_response"),
                    msgspec.structs.replace(tx, canonical=False),
                    msgspec.structs.replace(tx, microblock_canonical=False)):
        assert hiro.block_record(block, "", [changed], ALL).events == []
