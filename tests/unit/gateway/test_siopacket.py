"""The pure check of Socket.IO packets before python-socketio handles them."""

from __future__ import annotations

from typing import Any

import pytest

from adstack_gateway.siopacket import (
    BAD_EVENT,
    BINARY,
    EIO_GARBAGE,
    MALFORMED,
    NOT_UTF8,
    UNEXPECTED_ACK,
    command_arguments,
    eio_payload_problem,
    eio_text_problem,
    packet_problem,
)

C = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"


@pytest.mark.parametrize("message", [
    '0{"token":"a.b.c"}', "0", "1", '2["ping"]', '21["ping"]', '2["ping",{"a":1}]',
    f'2["subscribe",{{"contractId":"{C}"}}]', '2/other,["ping"]', '0/admin,{}',
])
def test_packets_real_clients_send_are_accepted(message: str) -> None:
    assert packet_problem(message) is None


@pytest.mark.parametrize(("message", "problem"), [
    (b"\x00\x01", BINARY),  # a binary Engine.IO message
    ('51-["ping",{"_placeholder":true,"num":0}]', BINARY),
    ('599999-["ping",{"_placeholder":true,"num":0}]', BINARY),  # the memory-growth attack
    ('61-[{"_placeholder":true,"num":0}]', BINARY),
    ("2{}", BAD_EVENT), ("2[]", BAD_EVENT), ("2[null]", BAD_EVENT), ("2[1,2]", BAD_EVENT),
    ('2"ping"', BAD_EVENT), ("2", BAD_EVENT), ("2null", BAD_EVENT),
    ("3[]", UNEXPECTED_ACK), ('31["x"]', UNEXPECTED_ACK),
    ("2[", MALFORMED), ("2[" * 5000, MALFORMED), ("2" + "[" * 5000 + "]" * 5000, MALFORMED),
    ("4", MALFORMED), ('4"nope"', MALFORMED), ("7", MALFORMED), ("9[]", MALFORMED),
    ("", BAD_EVENT), ("x", MALFORMED), ("2" + "1" * 120 + '["ping"]', MALFORMED),
    ('299999999999-["ping"]', MALFORMED),
])
def test_hostile_packets_are_named(message: str | bytes, problem: str) -> None:
    assert packet_problem(message) == problem


@pytest.mark.parametrize(("args", "expected"), [
    ((), (None, None)),
    (({"contractId": C},), ({"contractId": C}, None)),
    (({"contractId": C, "requestId": 7},), ({"contractId": C}, 7)),
    (({"requestId": "r"},), ({}, "r")),
    (({"requestId": True},), ({}, None)),
    (({"requestId": {"x": 1}},), ({}, None)),
    (("a", "b"), (["a", "b"], None)),
    ((None,), (None, None)),
])
def test_command_arguments(args: tuple[Any, ...], expected: tuple[Any, Any]) -> None:
    original = [dict(a) if isinstance(a, dict) else a for a in args]
    assert command_arguments(args) == expected
    assert list(args) == original, "the client's data is not modified"


@pytest.mark.parametrize("frame", ["0", "2", "3probe", "40", '42["ping"]', "4zzzz", "5", "6",
                                   "bAAEC"])
def test_engineio_packets_pass(frame: str) -> None:
    assert eio_text_problem(frame) is None


@pytest.mark.parametrize("frame", ["", "x", "7", "9", " 2", "4" + "[" * 5000 + "]" * 5000])
def test_engineio_garbage_is_named(frame: str) -> None:
    assert eio_text_problem(frame) == EIO_GARBAGE


@pytest.mark.parametrize("body", [b"", b"40", b"40\x1e2", b'42["ping"]\x1e3', b"4zzzz"])
def test_polling_payloads_pass(body: bytes) -> None:
    assert eio_payload_problem(body) is None


@pytest.mark.parametrize(("body", "problem"), [
    (b"x", EIO_GARBAGE), (b"40\x1ex", EIO_GARBAGE), (b"40\x1e", EIO_GARBAGE),
    (b"7", EIO_GARBAGE), (b"\x1e".join([b"2"] * 17), EIO_GARBAGE),
    (b"4\xff", NOT_UTF8), (b"\xc3", NOT_UTF8)])
def test_polling_garbage_is_named(body: bytes, problem: str) -> None:
    assert eio_payload_problem(body) == problem
