"""The pure block → events transformation, over every real observer payload we have."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from adstack_ingester.payloads import new_block_decoder
from adstack_ingester.pipeline import (
    DecodeFailure,
    block_feed,
    contract_filter,
    extract_events,
)
from adstack_stacks import decode_hex, to_json
from tests.helpers.fixtures import SIGNERS_VOTING, load_bytes, load_json, replay_rows

ALL = contract_filter(("*",))


def test_epoch25_block_yields_its_four_prints_in_event_index_order() -> None:
    raw = load_json("observer_new_block_epoch25_print_events_signers_voting.json")
    block = new_block_decoder.decode(json.dumps(raw).encode())
    events = extract_events(block, ALL, now_ms=123)
    assert [e.eventIndex for e in events] == [0, 1, 2, 3]
    by_index = {e["event_index"]: e for e in raw["events"]}
    for event in events:
        source = by_index[event.eventIndex]
        assert event.contractId == SIGNERS_VOTING
        assert event.txId == source["txid"]
        assert event.blockHeight == 16
        assert event.blockHash == raw["block_hash"]
        assert event.indexBlockHash == raw["index_block_hash"]
        assert event.timestamp == raw["burn_block_time"] * 1000
        assert event.publishedAt == 123
        assert event.data == to_json(decode_hex(source["contract_event"]["raw_value"]))
    assert [e.type for e in events] == ["voted", "voted", "voted",
                                        "approved_aggregate_public_key"]
    assert events[3].data == {
        "event": "approved-aggregate-public-key",
        "key": "0x02dbfbcd3bdfa62e695dc7a3bf8a0ab37f796398712907e14a6c1298162b657e3d",
        "reward-cycle": 12,
        "round": 1,
    }


def test_signer_principals_decode_to_c32_addresses() -> None:
    block = new_block_decoder.decode(
        load_bytes("observer_new_block_epoch25_print_events_signers_voting.json"))
    voted = [(e.data["signer"], e.data["new-total"]) for e in extract_events(block, ALL)
             if e.type == "voted"]
    # The same principals appear (with apostrophes) in the reprs of clarity_value_vectors.json.
    assert voted == [("STRYYQQ9M8KAF4NS7WNZQYY59X93XEKR31JP64CP", 5),
                     ("ST18MDW2PDTBSCR1ACXYRJP2JX70FWNM6YY2VX4SS", 6),
                     ("STF9B75ADQAVXQHNEQ6KGHXTG7JP305J2GRWF3A2", 9)]


def test_event_ids_are_stable_and_distinct() -> None:
    body = load_bytes("observer_new_block_epoch25_print_events_signers_voting.json")
    first = extract_events(new_block_decoder.decode(body), ALL)
    second = extract_events(new_block_decoder.decode(body), ALL)
    assert [e.id for e in first] == [e.id for e in second]
    assert len({e.id for e in first}) == 4


def test_contract_filter_excludes_other_contracts() -> None:
    block = new_block_decoder.decode(
        load_bytes("observer_new_block_epoch25_print_events_signers_voting.json"))
    assert extract_events(block, contract_filter(("SP000000000000000000002Q6VF78.pox",))) == []
    assert len(extract_events(block, contract_filter((SIGNERS_VOTING,)))) == 4


def test_nakamoto_block_has_no_prints_and_uses_block_time() -> None:
    raw = load_json("observer_new_block_nakamoto_tenure_start.json")
    block = new_block_decoder.decode(json.dumps(raw).encode())
    assert extract_events(block, ALL) == []
    feed = block_feed(block)
    assert feed.height == raw["block_height"]
    assert feed.timestamp == raw["block_time"] * 1000
    assert feed.txCount == len(raw["transactions"])


def _mutated(change: Any) -> bytes:
    raw = load_json("observer_new_block_epoch25_print_events_signers_voting.json")
    change(raw)
    return json.dumps(raw).encode()


def test_uncommitted_events_and_failed_transactions_are_skipped() -> None:
    def uncommit(raw: dict[str, Any]) -> None:
        for e in raw["events"]:
            if e["event_index"] == 1:
                e["committed"] = False

    def fail_tx(raw: dict[str, Any]) -> None:
        target = next(e["txid"] for e in raw["events"] if e["event_index"] == 0)
        for tx in raw["transactions"]:
            if tx["txid"] == target:
                tx["status"] = "abort_by_post_condition"

    events = extract_events(new_block_decoder.decode(_mutated(uncommit)), ALL)
    assert [e.eventIndex for e in events] == [0, 2, 3]
    events = extract_events(new_block_decoder.decode(_mutated(fail_tx)), ALL)
    assert [e.eventIndex for e in events] == [1, 2, 3]


def test_post_34_payload_without_value_field_decodes_from_raw_value() -> None:
    def strip_value(raw: dict[str, Any]) -> None:
        for e in raw["events"]:
            e["contract_event"].pop("value", None)
        for tx in raw["transactions"]:
            tx["contract_interface"] = tx.pop("contract_abi", None)

    events = extract_events(new_block_decoder.decode(_mutated(strip_value)), ALL)
    assert len(events) == 4


def test_undecodable_value_is_reported_not_raised() -> None:
    def corrupt(raw: dict[str, Any]) -> None:
        for e in raw["events"]:
            if e["event_index"] == 2:
                e["contract_event"]["raw_value"] = "0x0c0000"

    failures: list[DecodeFailure] = []
    events = extract_events(new_block_decoder.decode(_mutated(corrupt)), ALL,
                            failures=failures)
    assert [e.eventIndex for e in events] == [0, 1, 3]
    assert len(failures) == 1 and failures[0].event_index == 2


def test_non_print_topics_are_ignored() -> None:
    def retopic(raw: dict[str, Any]) -> None:
        for e in raw["events"]:
            e["contract_event"]["topic"] = "custom"

    assert extract_events(new_block_decoder.decode(_mutated(retopic)), ALL) == []


@pytest.mark.parametrize("row", [r for r in replay_rows() if r[1] == "/new_block"],
                         ids=lambda r: r[0])
def test_mainnet_replay_blocks_decode(row: tuple[str, str, bytes]) -> None:
    """Every real 2021 mainnet block decodes; prints match a direct decode of raw_value."""
    _row_id, _path, body = row
    raw = json.loads(body)
    block = new_block_decoder.decode(body)
    events = extract_events(block, ALL)
    expected = sorted(
        (e for e in raw["events"]
         if e["type"] == "contract_event" and e["contract_event"]["topic"] == "print"
         and e.get("committed", True)),
        key=lambda e: e["event_index"])
    ok = {tx["txid"] for tx in raw["transactions"] if tx["status"] == "success"}
    expected = [e for e in expected if e["txid"] in ok]
    assert [(e.txId, e.eventIndex) for e in events] == [
        (e["txid"], e["event_index"]) for e in expected]
    for event, source in zip(events, expected, strict=True):
        assert event.data == to_json(decode_hex(source["contract_event"]["raw_value"]))
        assert event.contractId == source["contract_event"]["contract_identifier"]


def test_garbage_is_a_decode_error() -> None:
    with pytest.raises((msgspec.DecodeError, msgspec.ValidationError)):
        new_block_decoder.decode(b'{"block_height": "x"}')
