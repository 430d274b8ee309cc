"""Property tests of every ingester payload decoder: any body decodes or raises one of
``PAYLOAD_ERRORS`` (answered 400), never another exception (a 500); and a block that
decodes always turns into events by the pipeline's rules."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adstack_ingester import chainhook, hiro
from adstack_ingester.chainhook import block_record as chainhook_record
from adstack_ingester.payloads import (
    PAYLOAD_ERRORS,
    drop_mempool_decoder,
    mempool_decoder,
    microblocks_decoder,
    new_block_decoder,
    new_burn_block_decoder,
)
from adstack_ingester.pipeline import DecodeFailure, block_record, contract_filter
from adstack_stacks import Int, StringAscii, Tuple, UInt, encode

PROPERTY = settings(max_examples=300, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
ALL = contract_filter(("*",))
CONTRACT = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"

DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    "/new_block": new_block_decoder,
    "/new_burn_block": new_burn_block_decoder,
    "/new_mempool_tx": mempool_decoder,
    "/drop_mempool_tx": drop_mempool_decoder,
    "/new_microblocks": microblocks_decoder,
    "/chainhook": chainhook.delivery_decoder,
    "hiro tx": hiro.tx_decoder,
    "hiro block": hiro.block_decoder,
    "hiro ws": hiro.rpc_decoder,
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False,
                                                          allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=16,
)


def _decode(name: str, body: bytes) -> object | None:
    """The decoded payload, or None when refused with a payload error."""
    try:
        payload = DECODERS[name].decode(body)
    except PAYLOAD_ERRORS:
        return None
    if isinstance(payload, chainhook.Delivery):
        for block in (*payload.apply, *payload.rollback):
            chainhook_record(block, ALL, failures=[])
    if name == "/new_block":
        block_record(payload, ALL, failures=[])
    return payload


@PROPERTY
@given(st.sampled_from(sorted(DECODERS)), json_values)
def test_any_json_decodes_or_is_a_payload_error(name: str, value: Any) -> None:
    _decode(name, json.dumps(value).encode())


@PROPERTY
@given(st.sampled_from(sorted(DECODERS)), st.binary(max_size=200))
def test_any_bytes_decode_or_are_a_payload_error(name: str, body: bytes) -> None:
    _decode(name, body)


@pytest.mark.parametrize("name", sorted(DECODERS))
@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_nesting_in_an_ignored_field_is_a_payload_error(name: str, depth: int) -> None:
    """Regression (fuzzer find): msgspec raised RecursionError, and the ingester said 500."""
    body = b'{"unknown_field":' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(PAYLOAD_ERRORS):
        DECODERS[name].decode(body)


VALUES = [encode(Tuple({"event": StringAscii("campaign-created"), "id": UInt(7)})),
          encode(Int(-5)), encode(StringAscii("hello"))]

events = st.fixed_dictionaries({
    "txid": st.sampled_from(["0xaa", "0xbb", "0xcc"]),
    "type": st.sampled_from(["contract_event", "stx_transfer_event"]),
    "committed": st.booleans(),
    "contract_event": st.fixed_dictionaries({
        "contract_identifier": st.sampled_from([CONTRACT, "SP000.other"]),
        "topic": st.sampled_from(["print", "other"]),
        "raw_value": st.one_of(st.none(), st.just(""),
                               st.sampled_from(VALUES).map(lambda b: "0x" + b.hex()),
                               st.binary(max_size=12).map(lambda b: "0x" + b.hex()),
                               st.text(max_size=6)),
    }),
})
blocks = st.fixed_dictionaries({
    "block_hash": st.just("0x01"), "block_height": st.integers(0, 2**40),
    "index_block_hash": st.just("0x02"),
    "burn_block_time": st.integers(0, 2**33),
    "events": st.lists(events, max_size=12).map(
        lambda items: [{**e, "event_index": i} for i, e in enumerate(items)]),
    "transactions": st.lists(st.fixed_dictionaries({
        "txid": st.sampled_from(["0xaa", "0xbb", "0xcc"]),
        "status": st.sampled_from(["success", "abort_by_response", "abort_by_post_condition"]),
        "raw_tx": st.one_of(st.just("0x00"), st.binary(max_size=40).map(
            lambda b: "0x" + b.hex())),
    }), max_size=3, unique_by=lambda t: t["txid"]),
})


@PROPERTY
@given(blocks, st.randoms(use_true_random=False))
def test_every_print_is_published_or_reported_by_the_rules(raw: dict[str, Any],
                                                          rng: Any) -> None:
    shuffled = dict(raw, events=rng.sample(raw["events"], len(raw["events"])))
    block = new_block_decoder.decode(json.dumps(shuffled).encode())
    failures: list[DecodeFailure] = []
    record = block_record(block, ALL, failures=failures)
    failed_txs = {t["txid"] for t in raw["transactions"] if t["status"] != "success"}
    eligible = [e for e in raw["events"]
                if e["committed"] and e["txid"] not in failed_txs
                and e["type"] == "contract_event" and e["contract_event"]["topic"] == "print"]
    published = [e.eventIndex for e in record.events]
    reported = [f.event_index for f in failures if f.event_index >= 0]
    assert published == sorted(published), "in event_index order, whatever the input order"
    assert sorted(published + reported) == [e["event_index"] for e in eligible]
    assert len({e.id for e in record.events}) == len(record.events)
    for event in record.events:
        assert event.blockHeight == raw["block_height"]
        assert event.timestamp == raw["burn_block_time"] * 1000


@pytest.mark.parametrize("value", [-1, 2**53, 10**30])
@pytest.mark.parametrize(("name", "template"), [
    ("/new_block", '{"block_hash":"0x01","index_block_hash":"0x02","block_height":%d}'),
    ("/new_block", '{"block_hash":"0x01","index_block_hash":"0x02","block_height":1,'
                   '"events":[{"txid":"0x01","type":"x","event_index":%d}]}'),
    ("/new_burn_block", '{"burn_block_hash":"0x01","burn_block_height":%d}'),
    ("/chainhook", '{"apply":[{"block_identifier":{"index":%d,"hash":"0x01"}}]}'),
    ("hiro block", '{"height":%d,"hash":"0x01","index_block_hash":"0x02"}'),
])
def test_numbers_out_of_range_are_payload_errors(name: str, template: str, value: int) -> None:
    """Regression (fuzzer find): a height of 10^30 decoded, then failed to serialize (500)."""
    with pytest.raises(PAYLOAD_ERRORS):
        DECODERS[name].decode((template % value).encode())
    DECODERS[name].decode((template % 7).encode())  # the same body with a sane number
