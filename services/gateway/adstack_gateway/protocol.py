"""The client protocol's pure core: parse and validate commands. No I/O.

A frame is a JSON text ``{"event": "<name>", "data": {…}}`` with an optional ``requestId``
(echoed on the reply). Both transports (native ``/ws`` and Socket.IO) feed their decoded
``(event, data)`` through :func:`parse_command`, so validation exists once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec

from adstack_events import is_valid_contract_id, is_valid_event_type
from adstack_protocol import ClientCommand, ErrorCode, ServerEvent
from adstack_stacks import C32Error, c32_address_decode

MAX_EVENT_TYPES = 32
HISTORY_DEFAULT = 50
HISTORY_MAX = 100
MAX_OFFSET = 2**53 - 1
"""The largest offset a position may name (JavaScript's safe integers: browsers parse it)."""
MAX_EPOCH_CHARS = 64
ECHO_MAX_CHARS = 64
"""Client input echoed in a reply (``requestId``, names in messages) is cut to this."""

_OFFSET_TEXT = re.compile(r"[0-9]{1,16}")
"""ASCII digits only (``str.isdigit`` also takes ``²`` and other scripts' digits)."""
_EPOCH_TEXT = re.compile(r"[!-~]{1,64}")
"""Printable ASCII, no spaces."""


def handshake_token(authorization: str, query_token: str | None) -> str | None:
    """The client's token: ``Authorization: Bearer <token>``, else the ``token`` query
    parameter (browsers cannot set headers on a WebSocket). Every transport uses this."""
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return query_token or None


class ProtocolError(Exception):
    """A command was refused; ``code`` goes to the client in an ``error`` frame."""

    def __init__(self, code: ErrorCode, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


class Since(msgspec.Struct, frozen=True):
    offset: int
    epoch: str


class Subscribe(msgspec.Struct, frozen=True):
    contract_id: str
    event_types: frozenset[str] | None
    since: Since | None = None


class Unsubscribe(msgspec.Struct, frozen=True):
    contract_id: str


class GetHistory(msgspec.Struct, frozen=True):
    contract_id: str
    limit: int


class GetStats(msgspec.Struct, frozen=True):
    contract_id: str


class Feed(msgspec.Struct, frozen=True):
    feed: str
    """``block`` or ``transaction``."""
    on: bool


class Refresh(msgspec.Struct, frozen=True):
    token: str


class Ping(msgspec.Struct, frozen=True):
    pass


Command = Subscribe | Unsubscribe | GetHistory | GetStats | Feed | Refresh | Ping


class Envelope(msgspec.Struct):
    event: str
    data: Any = None
    requestId: Any = None


_envelope_decoder = msgspec.json.Decoder(Envelope)


def parse_frame(text: str | bytes) -> tuple[str, Any, Any]:
    """Split a native JSON frame into ``(event, data, request_id)``.

    Raises:
        ProtocolError: INVALID_PAYLOAD if it is not a JSON object with a string ``event``.
    """
    try:
        envelope = _envelope_decoder.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ProtocolError(ErrorCode.INVALID_PAYLOAD,
                            "frame must be a JSON object {\"event\": string, \"data\": object}"
                            ) from exc
    except RecursionError:
        # msgspec gives up on deep nesting (about 1000 levels, a 2 KB frame) with a
        # RecursionError, not a DecodeError (a fuzzer find: it used to end the connection).
        raise ProtocolError(ErrorCode.INVALID_PAYLOAD, "frame is nested too deeply") from None
    return envelope.event, envelope.data, bound_request_id(envelope.requestId)


def _contract(data: dict[str, Any], request_id: Any) -> str:
    value = data.get("contractId")
    if not isinstance(value, str) or not value:
        raise ProtocolError(ErrorCode.INVALID_CONTRACT, "contractId is required", request_id)
    if not is_valid_contract_id(value):
        raise ProtocolError(ErrorCode.INVALID_CONTRACT,
                            "contractId must be a contract principal like SP….name", request_id)
    try:
        c32_address_decode(value.split(".", 1)[0])
    except C32Error as exc:
        raise ProtocolError(ErrorCode.INVALID_CONTRACT,
                            "contractId has an invalid address checksum", request_id) from exc
    return value


def _data_object(data: Any, request_id: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.INVALID_PAYLOAD, "data must be an object", request_id)
    return data


def parse_command(event: Any, data: Any, request_id: Any = None) -> Command:
    """Validate one client command.

    ``event`` is whatever the client sent as the name: a Socket.IO event name is any JSON
    value until checked.

    Raises:
        ProtocolError: UNKNOWN_EVENT, INVALID_PAYLOAD or INVALID_CONTRACT.
    """
    if not isinstance(event, str):
        raise ProtocolError(ErrorCode.INVALID_PAYLOAD, "the event name must be a string",
                            request_id)
    try:
        name = ClientCommand(event)
    except ValueError:
        raise ProtocolError(ErrorCode.UNKNOWN_EVENT, f"unknown event {echo(event)!r}",
                            request_id) from None
    body = _data_object(data, request_id)
    return _PARSERS[name](body, request_id)


def _subscribe(body: dict[str, Any], request_id: Any) -> Subscribe:
    contract = _contract(body, request_id)
    return Subscribe(contract, _event_types(body.get("eventTypes"), request_id),
                     _since(body.get("since"), request_id))


def _refresh(body: dict[str, Any], request_id: Any) -> Refresh:
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise ProtocolError(ErrorCode.INVALID_PAYLOAD, "refresh needs a token", request_id)
    return Refresh(token)


def _feed(feed: str, on: bool) -> Callable[[dict[str, Any], Any], Feed]:
    return lambda _body, _request_id: Feed(feed, on)


_PARSERS: dict[ClientCommand, Callable[[dict[str, Any], Any], Command]] = {
    ClientCommand.SUBSCRIBE: _subscribe,
    ClientCommand.UNSUBSCRIBE: lambda body, rid: Unsubscribe(_contract(body, rid)),
    ClientCommand.GET_HISTORY: lambda body, rid: GetHistory(
        _contract(body, rid), _limit(body.get("limit"), rid)),
    ClientCommand.GET_STATS: lambda body, rid: GetStats(_contract(body, rid)),
    ClientCommand.SUBSCRIBE_BLOCKS: _feed(ServerEvent.BLOCK, True),
    ClientCommand.UNSUBSCRIBE_BLOCKS: _feed(ServerEvent.BLOCK, False),
    ClientCommand.SUBSCRIBE_TRANSACTIONS: _feed(ServerEvent.TRANSACTION, True),
    ClientCommand.UNSUBSCRIBE_TRANSACTIONS: _feed(ServerEvent.TRANSACTION, False),
    ClientCommand.REFRESH: _refresh,
    ClientCommand.PING: lambda _body, _rid: Ping(),
}
"""Each command's validation (every :class:`ClientCommand` has one)."""


def _event_types(value: Any, request_id: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or len(value) > MAX_EVENT_TYPES:
        raise ProtocolError(ErrorCode.INVALID_PAYLOAD,
                            f"eventTypes must be a list of at most {MAX_EVENT_TYPES} names",
                            request_id)
    types: set[str] = set()
    for item in value:
        if not isinstance(item, str):
            raise ProtocolError(ErrorCode.INVALID_PAYLOAD, "eventTypes must be strings",
                                request_id)
        normalised = item.strip().lower().replace("-", "_")
        if not is_valid_event_type(normalised):
            raise ProtocolError(ErrorCode.INVALID_PAYLOAD,
                                f"invalid event type {echo(item)!r}", request_id)
        types.add(normalised)
    # An empty list means "no filter", as in the original server.
    return frozenset(types) or None


def _since(value: Any, request_id: Any) -> Since | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProtocolError(ErrorCode.INVALID_PAYLOAD, "since must be {offset, epoch}",
                            request_id)
    offset, epoch = value.get("offset"), value.get("epoch")
    if (not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET
            or not isinstance(epoch, str)
            or (epoch and _EPOCH_TEXT.fullmatch(epoch) is None)):
        raise ProtocolError(ErrorCode.INVALID_PAYLOAD,
                            "since must be {offset: integer 0…2^53-1, epoch: up to "
                            f"{MAX_EPOCH_CHARS} printable ASCII characters}}", request_id)
    return Since(offset, epoch)


def parse_offset(text: str) -> int | None:
    """A position's offset written as text: 1 to 16 ASCII digits, at most
    :data:`MAX_OFFSET`; None for anything else (never raises)."""
    if _OFFSET_TEXT.fullmatch(text) is None:
        return None
    offset = int(text)
    return offset if offset <= MAX_OFFSET else None


def parse_position(text: str) -> Since:
    """``<epoch>:<offset>`` (an SSE ``Last-Event-ID``) as a :class:`Since`.

    Raises:
        ProtocolError: INVALID_PAYLOAD naming the expected form (the value is not echoed).
    """
    epoch, colon, offset_text = text.rpartition(":")
    offset = parse_offset(offset_text) if colon else None
    if offset is None or _EPOCH_TEXT.fullmatch(epoch) is None:
        raise ProtocolError(
            ErrorCode.INVALID_PAYLOAD,
            f"a position must be <epoch>:<offset>: an epoch of 1-{MAX_EPOCH_CHARS} printable "
            "ASCII characters, an offset of ASCII digits up to 2^53-1")
    return Since(offset, epoch)


def echo(value: str) -> str:
    """Client text as it may appear in a reply: at most :data:`ECHO_MAX_CHARS` characters."""
    return value[:ECHO_MAX_CHARS]


def bound_request_id(request_id: Any) -> Any:
    """The ``requestId`` a reply may echo: a string cut to :data:`ECHO_MAX_CHARS`
    characters, an integer only while its digits fit in that, anything else dropped."""
    if isinstance(request_id, bool):
        return None
    if isinstance(request_id, str):
        return request_id[:ECHO_MAX_CHARS]
    if isinstance(request_id, int):
        return request_id if -(10**63) < request_id < 10**63 else None
    return None


def _limit(value: Any, request_id: Any) -> int:
    if value is None:
        return HISTORY_DEFAULT
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ProtocolError(ErrorCode.INVALID_PAYLOAD, "limit must be a positive integer",
                            request_id)
    return min(value, HISTORY_MAX)

