"""Every recorded observer payload decodes; blocks yield exactly their print events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adstack_events import event_id
from adstack_ingester.payloads import (
    drop_mempool_decoder,
    mempool_decoder,
    microblocks_decoder,
    new_block_decoder,
    new_burn_block_decoder,
)
from adstack_ingester.pipeline import block_record, contract_filter
from adstack_stacks import decode_hex, to_json
from adstack_stacks.txwire import decode_tx_hex
from tests.helpers.fixtures import load_bytes, load_json, replay_rows
from tests.helpers.paths import stacks_fixture
from tests.helpers.sources import (
    chainhook_events,
    hiro_events,
    identity,
    observer_events,
    rest_events,
)

ALL = contract_filter(("*",))


def _blocks() -> list[tuple[str, bytes]]:
    out = [(name, load_bytes(name)) for name in (
        "observer_new_block_epoch25_print_events_signers_voting.json",
        "observer_new_block_nakamoto_tenure_start.json")]
    out += [(f"replay row {row}", body) for row, path, body in replay_rows()
            if path == "/new_block"]
    return out


def _expected(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The print events, computed straight from the JSON (independently of the pipeline)."""
    ok = {t["txid"] for t in raw["transactions"] if t["status"] == "success"}
    per_tx: dict[str, int] = {}
    out = []
    for e in sorted(raw["events"], key=lambda e: e["event_index"]):
        if not e.get("committed", True):
            continue
        index = per_tx.get(e["txid"], 0)
        per_tx[e["txid"]] = index + 1
        body = e.get("contract_event")
        if e["type"] != "contract_event" or e["txid"] not in ok or body["topic"] != "print":
            continue
        data = to_json(decode_hex(body["raw_value"]))
        out.append({"id": event_id(raw["index_block_hash"], e["txid"], index),
                    "contractId": body["contract_identifier"], "txId": e["txid"],
                    "blockHeight": raw["block_height"], "eventIndex": e["event_index"],
                    "data": data,
                    "type": data["event"].replace("-", "_")
                    if isinstance(data, dict) and isinstance(data.get("event"), str)
                    else "print"})
    return out


@pytest.mark.parametrize(("name", "body"), _blocks(), ids=[n for n, _ in _blocks()])
def test_every_recorded_block_yields_exactly_its_prints(name: str, body: bytes) -> None:
    raw = json.loads(body)
    record = block_record(new_block_decoder.decode(body), ALL)
    got = [{"id": e.id, "contractId": e.contractId, "txId": e.txId,
            "blockHeight": e.blockHeight, "eventIndex": e.eventIndex, "data": e.data,
            "type": e.type} for e in record.events]
    assert got == _expected(raw)
    assert record.index_block_hash == raw["index_block_hash"]
    assert record.parent == raw["parent_index_block_hash"]
    assert record.tx_count == len(raw["transactions"])
    calls = [decode_tx_hex(t["raw_tx"]) for t in raw["transactions"] if t["raw_tx"] != "0x00"]
    assert [t.txId for t in record.txs] == [c.txid for c in calls
                                            if c.payload_type == "contract_call"]


@pytest.mark.parametrize(("name", "body"), _blocks(), ids=[n for n, _ in _blocks()])
def test_every_source_maps_a_recorded_print_to_the_same_event(name: str, body: bytes) -> None:
    """The recorded block as Chainhook, the Hiro API and the REST backfill would give it:
    each yields the observer's events (one mapping of a print, ``print_event``)."""
    raw = json.loads(body)
    contracts = sorted({e["contract_event"]["contract_identifier"] for e in raw["events"]
                        if e["type"] == "contract_event"})
    observer = observer_events(raw, contracts)
    assert [e.id for e in observer] == [e["id"] for e in _expected(raw)]
    for source, events in (("chainhook", chainhook_events(raw, contracts)),
                           ("hiro", hiro_events(raw, contracts)),
                           ("api", rest_events(raw, contracts))):
        assert identity(events) == identity(observer), source
        assert {e.source for e in events} <= {source}


def test_the_recorded_blocks_include_prints_and_a_nakamoto_block() -> None:
    total = sum(len(_expected(json.loads(body))) for _, body in _blocks())
    assert total == 6  # 4 signers-voting + a bns print in each block of the mainnet fork
    assert new_block_decoder.decode(
        load_bytes("observer_new_block_nakamoto_tenure_start.json")).nakamoto
    assert not new_block_decoder.decode(
        load_bytes("observer_new_block_epoch25_print_events_signers_voting.json")).nakamoto


def test_other_observer_payloads_decode() -> None:
    burn = new_burn_block_decoder.decode(load_bytes("observer_new_burn_block_nakamoto.json"))
    assert burn.burn_block_height == load_json(
        "observer_new_burn_block_nakamoto.json")["burn_block_height"]
    new_burn_block_decoder.decode(load_bytes("observer_doc_example_new_burn_block.json"))
    assert len(mempool_decoder.decode(load_bytes("observer_new_mempool_tx.json"))) == 1
    drop = drop_mempool_decoder.decode(load_bytes("observer_drop_mempool_tx.json"))
    assert len(drop.dropped_txids) == 27 and drop.reason == "StaleGarbageCollect"
    drop_mempool_decoder.decode(load_bytes("observer_doc_example_drop_mempool_tx.json"))
    for name in ("observer_new_microblocks_mainnet_2021.json",
                 "observer_doc_example_new_microblocks.json"):
        micro = microblocks_decoder.decode(load_bytes(name))
        assert micro.parent_index_block_hash.startswith("0x")
    rows = {path for _row, path, _body in replay_rows()}
    assert rows == {"/new_block", "/new_microblocks"}


def test_every_fixture_file_is_covered() -> None:
    names = {p.name for p in stacks_fixture("x").parent.iterdir()
             if p.name.startswith("observer_")}
    covered = {
        "observer_new_block_epoch25_print_events_signers_voting.json",
        "observer_new_block_nakamoto_tenure_start.json",
        "observer_event_replay_mainnet_reorg_scenario2.tsv",
        "observer_new_burn_block_nakamoto.json", "observer_doc_example_new_burn_block.json",
        "observer_new_mempool_tx.json", "observer_drop_mempool_tx.json",
        "observer_doc_example_drop_mempool_tx.json",
        "observer_new_microblocks_mainnet_2021.json",
        "observer_doc_example_new_microblocks.json",
        # accepted and ignored paths (posted by the e2e test):
        "observer_doc_example_attachments_new.json",
        "observer_doc_example_stackerdb_chunks.json",
        "observer_doc_example_proposal_response.json",
    }
    assert names == covered
