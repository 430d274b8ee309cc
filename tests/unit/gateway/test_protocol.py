"""The pure client-protocol parser."""

from __future__ import annotations

from typing import Any

import pytest

from adstack_gateway.outgoing import Outgoing, matches
from adstack_gateway.protocol import (
    Feed,
    GetHistory,
    GetStats,
    Ping,
    ProtocolError,
    Since,
    Subscribe,
    Unsubscribe,
    parse_command,
    parse_frame,
)
from adstack_protocol import ErrorCode

C = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"


def test_subscribe_normalises_event_types() -> None:
    cmd = parse_command("subscribe", {"contractId": C,
                                      "eventTypes": ["campaign-created", "spend_recorded"]})
    assert cmd == Subscribe(C, frozenset({"campaign_created", "spend_recorded"}))


def test_empty_event_types_mean_no_filter() -> None:
    assert parse_command("subscribe", {"contractId": C, "eventTypes": []}) == Subscribe(C, None)


def test_since_is_parsed() -> None:
    cmd = parse_command("subscribe", {"contractId": C, "since": {"offset": 5, "epoch": "ab"}})
    assert isinstance(cmd, Subscribe) and cmd.since == Since(5, "ab")


@pytest.mark.parametrize(("event", "data", "expected"), [
    ("unsubscribe", {"contractId": C}, Unsubscribe(C)),
    ("getHistory", {"contractId": C}, GetHistory(C, 50)),
    ("getHistory", {"contractId": C, "limit": 500}, GetHistory(C, 100)),
    ("getStats", {"contractId": C}, GetStats(C)),
    ("subscribeBlocks", None, Feed("block", True)),
    ("unsubscribeTransactions", {}, Feed("transaction", False)),
    ("ping", None, Ping()),
])
def test_commands(event: str, data: Any, expected: object) -> None:
    assert parse_command(event, data) == expected


@pytest.mark.parametrize(("event", "data", "code"), [
    ("nope", {}, ErrorCode.UNKNOWN_EVENT),
    ("subscribe", {}, ErrorCode.INVALID_CONTRACT),
    ("subscribe", {"contractId": "not-a-contract"}, ErrorCode.INVALID_CONTRACT),
    ("subscribe", {"contractId": "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGN.promo-manager"},
     ErrorCode.INVALID_CONTRACT),  # bad checksum
    ("subscribe", {"contractId": C, "eventTypes": "x" * 200}, ErrorCode.INVALID_PAYLOAD),
    ("subscribe", {"contractId": C, "eventTypes": [1]}, ErrorCode.INVALID_PAYLOAD),
    ("subscribe", {"contractId": C, "since": {"offset": -1, "epoch": "a"}},
     ErrorCode.INVALID_PAYLOAD),
    ("subscribe", [1, 2], ErrorCode.INVALID_PAYLOAD),
    ("getHistory", {"contractId": C, "limit": 0}, ErrorCode.INVALID_PAYLOAD),
    ("getHistory", {"contractId": C, "limit": "5"}, ErrorCode.INVALID_PAYLOAD),
    ("getHistory", {"contractId": C, "limit": True}, ErrorCode.INVALID_PAYLOAD),
])
def test_bad_commands_get_codes(event: str, data: Any, code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_command(event, data, request_id=7)
    assert info.value.code is code
    assert info.value.request_id == 7


@pytest.mark.parametrize("text", ["", "nope", "[]", '{"data": {}}', '{"event": 5}', "1"])
def test_bad_frames(text: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_frame(text)
    assert info.value.code is ErrorCode.INVALID_PAYLOAD


def test_frame_with_request_id() -> None:
    assert parse_frame('{"event":"ping","requestId":"r1"}') == ("ping", None, "r1")


def test_outgoing_encodes_once_and_decodes_lazily() -> None:
    raw = b'{"event":"event","data":{"type":"voted","offset":3,"epoch":"e1","x":[1]}}'
    message = Outgoing.from_wire(raw)
    assert (message.event, message.event_type, message.offset, message.epoch) == (
        "event", "voted", 3, "e1")
    assert message.text is message.text
    assert message.data == {"type": "voted", "offset": 3, "epoch": "e1", "x": [1]}


def test_matching_is_exact() -> None:
    assert matches(None, "anything")
    assert matches(frozenset({"a"}), "a")
    assert not matches(frozenset({"a"}), "b")


def test_socketio_packet_splices_the_published_data_unchanged() -> None:
    raw = b'{"event":"event","data":{"type":"voted","offset":3,"epoch":"e1","x":[1, 2]}}'
    message = Outgoing.from_wire(raw)
    assert message.sio_packet == '2["event",{"type":"voted","offset":3,"epoch":"e1","x":[1, 2]}]'
    assert message.sio_packet is message.sio_packet  # encoded once


def test_socketio_reply_carries_the_request_id_inside_data() -> None:
    reply = Outgoing("subscribed", data={"contractId": C}, request_id="r-9")
    assert reply.sio_packet == f'2["subscribed",{{"contractId":"{C}","requestId":"r-9"}}]'
    assert reply.envelope() == {"event": "subscribed", "data": {"contractId": C},
                                "requestId": "r-9"}
    assert Outgoing("pong", data={"t": 1}).envelope() == {"event": "pong", "data": {"t": 1}}


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_a_deeply_nested_frame_is_invalid_payload(depth: int) -> None:
    """Regression (fuzzer find): msgspec raised RecursionError and the connection died."""
    text = '{"event":"subscribe","data":' + "[" * depth + "]" * depth + "}"
    with pytest.raises(ProtocolError) as info:
        parse_frame(text)
    assert info.value.code is ErrorCode.INVALID_PAYLOAD
    assert info.value.message == "frame is nested too deeply"


@pytest.mark.parametrize("event", [None, 1, 1.5, True, [], {}, ["subscribe"]])
def test_an_event_name_that_is_not_a_string_is_invalid_payload(event: Any) -> None:
    """Regression (fuzzer find): Socket.IO ``2[null]`` raised TypeError in the error path."""
    with pytest.raises(ProtocolError) as info:
        parse_command(event, {"contractId": C}, request_id="r")
    assert info.value.code is ErrorCode.INVALID_PAYLOAD
    assert info.value.request_id == "r"


@pytest.mark.parametrize("contract", [C + "\n", C + "\r\n", "\n" + C, C + " ", C + "\x00"])
def test_a_contract_id_with_trailing_or_leading_junk_is_invalid(contract: str) -> None:
    """Regression: the contract-id regex ended with ``$``, which matches before a final
    newline, so ``SP….name\\n`` was accepted as a (different) contract."""
    with pytest.raises(ProtocolError) as info:
        parse_command("subscribe", {"contractId": contract})
    assert info.value.code is ErrorCode.INVALID_CONTRACT


def test_a_request_id_is_echoed_to_at_most_64_characters() -> None:
    """Issue 18 item 12: a 60,000-character requestId was echoed in full."""
    from adstack_gateway.protocol import bound_request_id

    assert parse_frame('{"event":"ping","requestId":"' + "r" * 60_000 + '"}')[2] == "r" * 64
    assert parse_frame('{"event":"ping","requestId":' + "9" * 500 + "}")[2] is None
    assert parse_frame('{"event":"ping","requestId":12}')[2] == 12
    assert bound_request_id(True) is None and bound_request_id(["x"]) is None
    assert bound_request_id("é" * 100) == "é" * 64


@pytest.mark.parametrize("since", [
    {"offset": 2**53, "epoch": "e"}, {"offset": 10**400, "epoch": "e"},
    {"offset": 1, "epoch": "\u00b2"}, {"offset": 1, "epoch": "a b"},
    {"offset": 1, "epoch": "e" * 65}, {"offset": True, "epoch": "e"},
])
def test_since_is_bounded(since: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_command("subscribe", {"contractId": C, "since": since})
    assert info.value.code == ErrorCode.INVALID_PAYLOAD


def test_since_at_the_bounds_is_accepted() -> None:
    command = parse_command("subscribe", {"contractId": C,
                                          "since": {"offset": 2**53 - 1, "epoch": "e" * 64}})
    assert isinstance(command, Subscribe) and command.since is not None
    assert command.since.offset == 2**53 - 1
