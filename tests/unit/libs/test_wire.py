"""The wire codec (adstack_protocol.wire): what it builds reads back through its own peeks
and slices, byte for byte, and every frame keeps the shape clients parse today."""

from __future__ import annotations

import json
import subprocess
import sys

import msgspec
import pytest

from adstack_events import ContractEvent, EventReverted
from adstack_protocol import ClientCommand, ErrorCode, ServerEvent, wire

C = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"
TRICKY = {"event": "note-posted", "text": 'a "data": field, braces } { and ünïcødé ✓ 🚀',
          "data": {"data": [1, 2]}, "n": 12}
"""A print whose value holds the text ``"data":``, braces and non-ASCII characters."""


def contract_event(data: object = TRICKY, **changes: object) -> ContractEvent:
    event = ContractEvent(id="ab" * 12, type="note_posted", contractId=C, txId="0x" + "01" * 32,
                          blockHeight=42, blockHash="0x" + "02" * 32,
                          indexBlockHash="0x" + "03" * 32, eventIndex=3,
                          timestamp=1_700_000_000_000, data=data, source="observer",
                          publishedAt=1_700_000_000_123)
    return msgspec.structs.replace(event, **changes)


def test_an_event_frame_round_trips_through_peek_and_slice() -> None:
    event = contract_event()
    data = wire.event_data(wire.event_head(event), 7, "e1f2")
    frame = wire.event_frame(data)
    assert json.loads(frame) == {"event": "event", "data": {
        **msgspec.to_builtins(event), "offset": 7, "epoch": "e1f2"}}
    peek = wire.peek_frame(frame)
    assert (peek.event, peek.data.type, peek.data.offset, peek.data.epoch, peek.data.source,
            peek.data.publishedAt) == ("event", "note_posted", 7, "e1f2", "observer",
                                       1_700_000_000_123)
    assert wire.slice_data(frame) == data
    assert wire.slice_data(frame.decode()) == data
    assert wire.decode_data(frame)["data"] == TRICKY
    stored = wire.peek_data(data)
    assert (stored.id, stored.type, stored.offset, stored.epoch, stored.blockHeight) == (
        "ab" * 12, "note_posted", 7, "e1f2", 42)
    # Non-ASCII text goes as UTF-8, unescaped (what every client already receives).
    assert "🚀".encode() in frame


def test_a_revert_frame_round_trips_and_keeps_the_notice_field_order() -> None:
    notice = EventReverted(contractId=C, ids=["aa", "bb"], blockHash="0x01",
                           indexBlockHash="0x02", blockHeight=9)
    head = wire.revert_head(notice)
    # The form the revert script has always completed: the notice without its ids.
    old = msgspec.json.encode(msgspec.structs.replace(notice, ids=[]))
    assert head == old.replace(b',"ids":[]', b"")[:-1]
    data = wire.revert_data(head, notice.ids, 12, "ep")
    assert list(json.loads(data)) == ["contractId", "blockHash", "indexBlockHash",
                                      "blockHeight", "reason", "ids", "offset", "epoch"]
    frame = wire.revert_frame(data)
    peek = wire.peek_frame(frame)
    assert (peek.event, peek.data.offset, peek.data.epoch) == ("event_reverted", 12, "ep")
    assert wire.slice_data(frame) == data
    assert json.loads(data)["ids"] == ["aa", "bb"]


@pytest.mark.parametrize("request_id", [None, 7, "req-ü-1"])
def test_a_reply_carries_its_request_id_after_the_data(request_id: object) -> None:
    frame = wire.frame(ServerEvent.STATS, {"data": '"data":', "total": 3}, request_id)
    decoded = json.loads(frame)
    assert list(decoded) == (["event", "data"] if request_id is None
                             else ["event", "data", "requestId"])
    assert decoded.get("requestId") == request_id
    assert wire.slice_data(frame) == msgspec.json.encode({"data": '"data":', "total": 3})
    assert wire.peek_frame(frame).event == "stats"


def test_history_frames_splice_stored_objects_as_they_are() -> None:
    one = wire.event_data(wire.event_head(contract_event()), 2, "ep")
    two = wire.event_data(wire.event_head(contract_event(data=1, id="cd" * 12)), 1, "ep")
    push = wire.history_push(C, [one, two])
    assert push == (b'{"event":"history","data":{"contractId":"' + C.encode()
                    + b'","events":[' + one + b"," + two + b'],"count":2}}')
    reply = wire.history_reply(C, [one], limit=5, backfilled=0, request_id="r\u00e9")
    body = json.loads(reply)
    assert body["requestId"] == "r\u00e9"
    assert body["data"] == {"contractId": C, "events": [json.loads(one)], "count": 1,
                            "limit": 5, "backfilled": 0}
    assert wire.slice_data(reply).startswith(b'{"contractId":')
    assert json.loads(wire.history_reply(C, [], limit=1, backfilled=0)) == {
        "event": "history", "data": {"contractId": C, "events": [], "count": 0, "limit": 1,
                                     "backfilled": 0}}


def test_a_stored_object_becomes_a_frame_again() -> None:
    data = wire.event_data(wire.event_head(contract_event()), 4, "ep")
    frame = wire.data_frame(ServerEvent.EVENT, data)
    assert frame == wire.event_frame(data)
    assert wire.slice_data(frame) == data


def test_error_and_gap_notice_shapes() -> None:
    assert wire.error_frame(ErrorCode.FORBIDDEN, "no", 3) == (
        b'{"event":"error","data":{"message":"no","code":"FORBIDDEN"},"requestId":3}')
    notice = wire.gap_notice_data(C, frozenset({"b", "a"}), epoch="ep", offset=4,
                                  reason="gap", now_ms=5)
    assert notice == {"contractId": C, "eventTypes": ["a", "b"], "timestamp": 5,
                      "epoch": "ep", "offset": 4, "recovered": False, "reason": "gap"}
    assert wire.gap_notice_data(C, None, epoch="", offset=0, reason="x")["eventTypes"] == []


def test_feed_frames_and_the_global_events_batch() -> None:
    frame = wire.feed_frame(ServerEvent.BLOCK, {"height": 1})
    assert frame == b'{"event":"block","data":{"height":1}}'
    batch = wire.global_events_frame([(C, "a", 1), (C, "b", 2)])
    assert json.loads(batch)["event"] == wire.GLOBAL_EVENTS  # routed apart: data is a list
    items = wire.GLOBAL_EVENTS_PEEK.decode(batch).data
    assert [(i.contractId, i.type, i.timestamp) for i in items] == [(C, "a", 1), (C, "b", 2)]


@pytest.mark.parametrize("raw", [b"", b"[]", b'{"data":{}}', b'{"event":1}', b"\xff"])
def test_peeking_at_something_that_is_not_a_frame_raises_a_decode_error(raw: bytes) -> None:
    with pytest.raises(wire.DECODE_ERRORS):
        wire.peek_frame(raw)


def test_a_head_must_be_an_object() -> None:
    with pytest.raises(TypeError):
        wire.object_head([1, 2])


def test_every_client_command_has_a_parser() -> None:
    from adstack_gateway.protocol import _PARSERS, parse_command

    assert set(_PARSERS) == set(ClientCommand)
    for name in ClientCommand:
        data = {"contractId": C, "token": "t"}
        assert parse_command(str(name), data) is not None


def test_the_sdk_imports_no_msgspec() -> None:
    """The client SDK packages adstack_protocol with websockets as its only dependency:
    importing it (and the SDK) must not need msgspec; the codec is a separate submodule."""
    code = ("import sys, adstack_protocol, adstack_client\n"
            "assert 'msgspec' not in sys.modules, 'adstack_protocol pulled in msgspec'\n"
            "assert 'adstack_protocol.wire' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("data", [b'{"data":"\\"data\\":}"}', b"[1,{}]", b'"}"', b"null"])
def test_the_bare_slice_equals_the_parsed_one(data: bytes) -> None:
    frame = wire.data_frame(ServerEvent.EVENT, data).decode()
    assert wire.slice_bare_data(frame, "event") == data.decode()
    # Another shape (here: keys in another order) is parsed, not cut at a guess.
    other = '{"data":' + data.decode() + ',"event":"event"}'
    assert wire.slice_bare_data(other, "event") == data.decode()
