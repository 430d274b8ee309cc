"""Property tests of the client protocol on both transports: whatever a client sends, the
parsers answer with a command or a coded ``ProtocolError``, never another exception, and
the native and Socket.IO paths agree."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adstack_events import is_valid_contract_id, is_valid_event_type
from adstack_gateway.protocol import (
    HISTORY_MAX,
    MAX_EVENT_TYPES,
    GetHistory,
    ProtocolError,
    Subscribe,
    parse_command,
    parse_frame,
)
from adstack_gateway.siopacket import (
    BAD_EVENT,
    BINARY,
    MALFORMED,
    UNEXPECTED_ACK,
    command_arguments,
    packet_problem,
)
from adstack_protocol import ClientCommand, ErrorCode
from adstack_stacks import c32_address_decode

PROPERTY = settings(max_examples=400, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

CONTRACT = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False,
                                                          allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=20,
)
names = st.sampled_from([c.value for c in ClientCommand]) | st.text(max_size=20)
contract_ids = st.one_of(
    st.just(CONTRACT),
    st.just(CONTRACT + "\n"),
    st.just(CONTRACT.lower()),
    st.just(CONTRACT.replace("ST1", "SP1")),  # right shape, wrong checksum
    st.builds(lambda n: f"{CONTRACT.split('.', 1)[0]}.{n}", st.text(max_size=140)),
    st.text(max_size=80),
    json_values,
)
# Data shaped like real commands, with hostile values in every field.
command_data = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional={
        "contractId": contract_ids,
        "eventTypes": st.one_of(json_values, st.lists(st.text(max_size=70), max_size=40)),
        "since": st.one_of(json_values, st.fixed_dictionaries(
            {"offset": st.integers() | json_values, "epoch": st.text(max_size=80) | json_values})),
        "limit": st.one_of(st.integers(), json_values),
        "token": json_values,
        "requestId": json_values,
    }),
)


def _check(command: object) -> None:
    """What every accepted command guarantees to the session core."""
    if isinstance(command, Subscribe):
        assert is_valid_contract_id(command.contract_id)
        c32_address_decode(command.contract_id.split(".")[0])
        if command.event_types is not None:
            assert 0 < len(command.event_types) <= MAX_EVENT_TYPES
            assert all(is_valid_event_type(t) for t in command.event_types)
        if command.since is not None:
            assert command.since.offset >= 0 and len(command.since.epoch) <= 64
    if isinstance(command, GetHistory):
        assert 1 <= command.limit <= HISTORY_MAX


def _outcome(event: Any, data: Any, request_id: Any) -> object:
    try:
        command = parse_command(event, data, request_id)
    except ProtocolError as exc:
        assert isinstance(exc.code, ErrorCode)
        assert 0 < len(exc.message) <= 200, "errors never echo unbounded client input"
        assert exc.request_id == request_id
        return ("error", exc.code)
    _check(command)
    return command


@PROPERTY
@given(names | json_values, command_data, st.none() | st.text(max_size=10) | st.integers())
def test_any_command_is_a_command_or_a_coded_error(event: Any, data: Any,
                                                   request_id: Any) -> None:
    _outcome(event, data, request_id)


@PROPERTY
@given(st.text(max_size=300) | st.binary(max_size=300))
def test_any_native_frame_parses_or_is_invalid_payload(text: str | bytes) -> None:
    try:
        event, _data, request_id = parse_frame(text)
    except ProtocolError as exc:
        assert exc.code is ErrorCode.INVALID_PAYLOAD
        return
    assert isinstance(event, str)
    assert request_id is None or isinstance(request_id, str | int)


@PROPERTY
@given(names, command_data, st.none() | st.text(max_size=10) | st.integers(-5, 5))
def test_both_transports_give_the_same_answer(event: str, data: Any, request_id: Any) -> None:
    """A native frame and the Socket.IO event carrying the same command are handled alike."""
    envelope: dict[str, Any] = {"event": event, "data": data}
    if request_id is not None:
        envelope["requestId"] = request_id
    native_event, native_data, native_rid = parse_frame(json.dumps(envelope))
    native = _outcome(native_event, native_data, native_rid)
    # Socket.IO: 2["<event>", data] (the Engine.IO message "42[…]" without its "4"), with
    # the request id inside data when data is an object.
    if isinstance(data, dict) and request_id is not None:
        sio_args: tuple[Any, ...] = ({**data, "requestId": request_id},)
    else:
        sio_args = (data,)
    packet = "2" + json.dumps([event, *sio_args])
    assert packet_problem(packet) is None
    sio_data, sio_rid = command_arguments(json.loads(packet[1:])[1:])
    if isinstance(data, dict) and "requestId" in data and request_id is None:
        return  # a requestId key inside data means different things on the two transports
    if isinstance(data, dict):
        assert sio_rid == native_rid
    assert _outcome(event, sio_data, sio_rid) == native


@PROPERTY
@given(st.text(max_size=200) | st.binary(max_size=50))
def test_any_socketio_message_is_accepted_or_named(message: str | bytes) -> None:
    problem = packet_problem(message)
    assert problem in (None, BINARY, MALFORMED, BAD_EVENT, UNEXPECTED_ACK)


@PROPERTY
@given(st.sampled_from(["0", "1", "2", "3", "4", "5", "6", "7", "9", "x", ""]),
       st.sampled_from(["", "/", "/admin,", "12", "3-", "99999999999-"]), json_values)
def test_socketio_packets_of_every_type_and_shape(kind: str, middle: str,
                                                  payload: Any) -> None:
    message = kind + middle + json.dumps(payload)
    problem = packet_problem(message)
    if kind == "2" and not middle.endswith("-") and problem is None:
        data = json.loads(message[len(kind + middle):]) if payload is not None else None
        assert isinstance(data, list) and data and isinstance(data[0], str)
        name, *args = data
        _outcome(name, *command_arguments(args))
    if kind in ("5", "6"):
        assert problem in (BINARY, MALFORMED)  # binary packets are refused
