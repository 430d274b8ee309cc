"""The wire codec (adstack_protocol.wire): what it builds reads back through its own peeks
and slices, byte for byte, and every frame keeps the shape clients parse today."""

from __future__ import annotations

import json
import subprocess
import sys
import time

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


def test_the_connected_frame_bytes() -> None:
    data = wire.connected_data("sock-1", "user-1", max_subscriptions=50, max_frame_bytes=65536,
                               history_limit=100, rate_per_second=10.0, rate_burst=20,
                               now_ms=1_700_000_000_000)
    assert wire.frame(ServerEvent.CONNECTED, data) == (
        b'{"event":"connected","data":{"message":"Connected to AdStack real-time gateway",'
        b'"socketId":"sock-1","userId":"user-1","timestamp":1700000000000,"limits":'
        b'{"maxSubscriptions":50,"maxFrameBytes":65536,"historyLimit":100,'
        b'"ratePerSecond":10.0,"rateBurst":20}}}')


def test_subscribed_and_the_gap_notice_share_one_shape() -> None:
    types = frozenset({"b", "a"})
    plain = wire.subscribed_data(C, types, epoch="ep", offset=4, now_ms=5)
    assert wire.frame(ServerEvent.SUBSCRIBED, plain, "r") == (
        b'{"event":"subscribed","data":{"contractId":"' + C.encode()
        + b'","eventTypes":["a","b"],"timestamp":5,"epoch":"ep","offset":4},"requestId":"r"}')
    since = wire.subscribed_data(C, None, epoch="ep", offset=4, recovered=True, now_ms=5)
    assert since == {**plain, "eventTypes": [], "recovered": True}
    assert list(since) == ["contractId", "eventTypes", "timestamp", "epoch", "offset",
                           "recovered"]
    notice = wire.gap_notice_data(C, types, epoch="ep", offset=4, reason="history_gap",
                                  now_ms=5)
    assert notice == wire.subscribed_data(C, types, epoch="ep", offset=4, recovered=False,
                                          reason="history_gap", now_ms=5)
    assert list(notice) == [*plain, "recovered", "reason"]


def test_unsubscribed_feed_refreshed_pong_and_global_event_shapes() -> None:
    assert wire.frame(ServerEvent.UNSUBSCRIBED, wire.unsubscribed_data(C, now_ms=7)) == (
        b'{"event":"unsubscribed","data":{"contractId":"' + C.encode() + b'","timestamp":7}}')
    dropped = wire.unsubscribed_data(C, reason=wire.FORBIDDEN, now_ms=7)
    assert wire.frame(ServerEvent.UNSUBSCRIBED, dropped) == (
        b'{"event":"unsubscribed","data":{"contractId":"' + C.encode()
        + b'","reason":"forbidden","timestamp":7}}')
    assert wire.feed_ack_data("block", now_ms=8) == {"feed": "block", "timestamp": 8}
    assert wire.frame(ServerEvent.REFRESHED, wire.refreshed_data(None)) == (
        b'{"event":"refreshed","data":{"expiresAt":null}}')
    assert wire.refreshed_data(1_800_000_000) == {"expiresAt": 1_800_000_000}
    assert wire.frame(ServerEvent.PONG, wire.pong_data(9), 1) == (
        b'{"event":"pong","data":{"timestamp":9},"requestId":1}')
    assert wire.frame(ServerEvent.GLOBAL_EVENT, wire.global_event_data(C, "a", 3)) == (
        b'{"event":"global_event","data":{"contractId":"' + C.encode()
        + b'","type":"a","timestamp":3}}')
    # The bus-only batch lists its items in the same shape.
    assert json.loads(wire.global_events_frame([(C, "a", 3)]))["data"] == [
        wire.global_event_data(C, "a", 3)]


def test_replies_without_now_take_the_clock_in_milliseconds() -> None:
    before = int(time.time() * 1000)
    stamps = [wire.pong_data()["timestamp"], wire.feed_ack_data("block")["timestamp"],
              wire.unsubscribed_data(C)["timestamp"],
              wire.subscribed_data(C, None, epoch="", offset=0)["timestamp"],
              wire.connected_data("s", "u", max_subscriptions=1, max_frame_bytes=1,
                                  history_limit=1, rate_per_second=1, rate_burst=1)[
                                      "timestamp"]]
    after = int(time.time() * 1000)
    assert all(before <= stamp <= after for stamp in stamps)


def test_stats_carry_the_original_servers_stats_object() -> None:
    data = wire.stats_data(C, total=3, by_type={"a": 2, "b": 1}, last_updated=1_700_000_000)
    assert wire.frame(ServerEvent.STATS, data) == (
        b'{"event":"stats","data":{"contractId":"' + C.encode() + b'","total":3,'
        b'"byType":{"a":2,"b":1},"lastUpdated":1700000000,"stats":{"totalEvents":3,'
        b'"eventsByType":{"a":2,"b":1},"lastUpdated":1700000000}}}')
    empty = wire.stats_data(C, total=0, by_type={}, last_updated=None)
    assert empty["stats"] == {"totalEvents": 0, "eventsByType": {}, "lastUpdated": None}


def test_the_closing_notice_carries_a_plain_close_code() -> None:
    from adstack_protocol import CloseCode

    data = wire.closing_data(CloseCode.SHUTDOWN, "gateway shutting down; reconnect")
    assert data == {"code": 4000, "reason": "gateway shutting down; reconnect"}
    assert type(data["code"]) is int
    assert wire.frame(ServerEvent.CLOSING, data) == (
        b'{"event":"closing","data":{"code":4000,"reason":"gateway shutting down; reconnect"}}')
