"""Every error code, WebSocket close code and server-initiated close the gateway uses, in one
place.

Error codes travel in ``error`` frames ``{"message", "code"}``; the connection stays open.
Close codes end a connection; a :class:`Disconnect` is one close as a value (code, the reason
text clients see, whether to reconnect), named once here and used by every close.
Following Centrifugo's split, 4000–4499 mean "reconnect (with backoff)" and 4500–4999 mean
"do not reconnect with the same credentials".
docs/protocol.md lists the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import ClassVar


class ErrorCode(StrEnum):
    """Codes of ``error`` frames (the connection stays open)."""

    INVALID_PAYLOAD = "INVALID_PAYLOAD"
    """The frame is not JSON, not an object, or a field has the wrong type or value."""
    UNKNOWN_EVENT = "UNKNOWN_EVENT"
    """The ``event`` name is not a command the server knows."""
    INVALID_CONTRACT = "INVALID_CONTRACT"
    """``contractId`` is not a valid contract principal (``SP….name``)."""
    MAX_SUBSCRIPTIONS = "MAX_SUBSCRIPTIONS"
    """The connection already holds ``MAX_SUBSCRIPTIONS_PER_CLIENT`` subscriptions."""
    NOT_SUBSCRIBED = "NOT_SUBSCRIBED"
    """``unsubscribe`` for a contract this connection is not subscribed to."""
    FORBIDDEN = "FORBIDDEN"
    """The token does not allow this contract."""
    RATE_LIMITED = "RATE_LIMITED"
    """Too many commands; slow down (the connection is closed if it persists)."""
    HISTORY_ERROR = "HISTORY_ERROR"
    """History could not be read (Redis unavailable)."""
    STATS_ERROR = "STATS_ERROR"
    """Stats could not be read (Redis unavailable)."""
    SUBSCRIBE_ERROR = "SUBSCRIBE_ERROR"
    """The subscription could not be set up (Redis unavailable); retry."""
    INVALID_TOKEN = "INVALID_TOKEN"
    """A ``refresh`` carried a token that does not verify."""


class CloseCode(IntEnum):
    """WebSocket close codes."""

    NORMAL = 1000
    GOING_AWAY = 1001
    POLICY_VIOLATION = 1008
    """Handshake refused: bad or missing token, bad Origin (RFC 6455)."""
    MESSAGE_TOO_BIG = 1009
    """A client frame exceeded the maximum frame size."""
    INTERNAL_ERROR = 1011

    # 4000–4499: transient, reconnect with backoff.
    SHUTDOWN = 4000
    """The gateway is shutting down (drain); reconnect, another replica will take you."""
    SLOW = 4001
    """The client fell too far behind: more than ``OUTBOX_MAX_BYTES`` unsent (the socket's
    write buffer, or the outbound queue of a queued connection); reconnect and recover."""
    NO_PONG = 4002
    """Reserved: no pong within the keepalive timeout (the server's WebSocket keepalive
    closes with 1011 today)."""
    RATE_LIMITED = 4003
    """Kept exceeding the command rate limit."""
    TOO_MANY_CONNECTIONS = 4004
    """Too many connections from this client IP."""
    TOKEN_EXPIRED = 4005
    """The token expired and was not refreshed; reconnect with a fresh token."""
    UNAVAILABLE = 4006
    """A dependency is down; reconnect later."""

    # 4500–4999: terminal, do not reconnect with the same credentials. There is no close
    # code for a bad token: the handshake refuses it with POLICY_VIOLATION (1008, what
    # existing clients expect) and ``refresh`` answers an INVALID_TOKEN error frame.
    BAD_REQUEST = 4501
    """The client broke the protocol (e.g. a binary frame on the JSON protocol)."""
    FORBIDDEN_ORIGIN = 4502
    """The ``Origin`` header is not in ``ALLOWED_ORIGINS``."""


def close_is_terminal(code: int) -> bool:
    """True if a client should not reconnect automatically after this close code."""
    return 4500 <= code <= 4999 or code in (CloseCode.POLICY_VIOLATION,)


@dataclass(frozen=True, slots=True)
class Disconnect:
    """One server-initiated close: its code, the reason text the client reads, and whether
    the client should reconnect (centrifuge's disconnects as values).

    The named values below are every close the gateway makes; a transport or a rule picks
    one (``session.close_soon(Disconnect.SLOW)``, ``Refused(Disconnect.SHUTDOWN)``) instead
    of writing a code and a text. Their reasons are wire text: clients and tests match them.
    """

    code: CloseCode
    reason: str

    SHUTDOWN: ClassVar[Disconnect]
    SLOW: ClassVar[Disconnect]
    RATE_LIMITED: ClassVar[Disconnect]
    TOO_MANY_CONNECTIONS: ClassVar[Disconnect]
    TOKEN_EXPIRED: ClassVar[Disconnect]
    AUTH_FAILED: ClassVar[Disconnect]
    FORBIDDEN_ORIGIN: ClassVar[Disconnect]
    BINARY_FRAME: ClassVar[Disconnect]
    BAD_PACKET: ClassVar[Disconnect]

    @property
    def reconnect(self) -> bool:
        """True if the client should reconnect (with backoff) after this close."""
        return not close_is_terminal(self.code)

    def detailed(self, detail: str) -> Disconnect:
        """The same close, its reason followed by ``: detail`` (e.g. why auth failed)."""
        return Disconnect(self.code, f"{self.reason}: {detail}")

    def with_reason(self, reason: str) -> Disconnect:
        """The same close with another reason text (e.g. which packet was malformed)."""
        return Disconnect(self.code, reason)


Disconnect.SHUTDOWN = Disconnect(CloseCode.SHUTDOWN, "gateway shutting down; reconnect")
"""Drain: every session, and every handshake while draining."""
Disconnect.SLOW = Disconnect(CloseCode.SLOW, "too slow: outbound queue overflow")
"""More than ``OUTBOX_MAX_BYTES`` unsent to the client (either write path)."""
Disconnect.RATE_LIMITED = Disconnect(CloseCode.RATE_LIMITED, "rate limit exceeded")
"""``RATE_LIMIT_CLOSE_AFTER`` refused commands in a row."""
Disconnect.TOO_MANY_CONNECTIONS = Disconnect(CloseCode.TOO_MANY_CONNECTIONS,
                                             "too many connections from your IP")
"""Handshake refused: ``MAX_CONNECTIONS_PER_IP``."""
Disconnect.TOKEN_EXPIRED = Disconnect(CloseCode.TOKEN_EXPIRED,
                                      "token expired; reconnect with a new token")
"""The token's ``exp`` (plus leeway) passed without a ``refresh``."""
Disconnect.AUTH_FAILED = Disconnect(CloseCode.POLICY_VIOLATION, "auth failed")
"""Handshake refused: missing or invalid token (``detailed`` with the verifier's message)."""
Disconnect.FORBIDDEN_ORIGIN = Disconnect(CloseCode.FORBIDDEN_ORIGIN, "origin not allowed")
"""Handshake refused: ``Origin`` not in ``ALLOWED_ORIGINS``."""
Disconnect.BINARY_FRAME = Disconnect(CloseCode.BAD_REQUEST, "binary frames are not supported")
"""A binary frame on the native JSON protocol."""
Disconnect.BAD_PACKET = Disconnect(CloseCode.BAD_REQUEST, "malformed Socket.IO packet")
"""A binary or malformed Socket.IO packet (``with_reason`` naming which)."""


class IngestErrorCode(StrEnum):
    """Codes in the ingester's HTTP error bodies ``{"error": {"code", "message"}}``."""

    INVALID_PAYLOAD = "INVALID_PAYLOAD"
    """400: the body is not the JSON the endpoint expects."""
    UNAUTHORIZED = "UNAUTHORIZED"
    """401: missing or wrong observer token / Chainhook authorization header."""
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    """413: the body exceeds ``OBSERVER_MAX_BODY_BYTES``."""
    REDIS_UNAVAILABLE = "REDIS_UNAVAILABLE"
    """503: the event store is unreachable; the sender retries, nothing is lost."""
    NOT_LEADER = "NOT_LEADER"
    """503: this replica is a standby; the sender retries (or goes to the leader)."""
    SOURCE_DISABLED = "SOURCE_DISABLED"
    """404: the endpoint's source is not enabled in ``STACKS_SOURCES``."""


class HttpErrorCode(StrEnum):
    """Codes in HTTP error bodies ``{"error": {"code", "message"}}`` that the HTTP server of
    either service writes itself, before the app has answered (``adstack_runtime``), or
    that the gateway's Engine.IO layer writes before python-engineio sees a request."""

    BODY_TIMEOUT = "BODY_TIMEOUT"
    """408: the request body was not complete within ``BODY_TIMEOUT`` seconds of its head;
    the connection is closed."""
    HEAD_TOO_LARGE = "HEAD_TOO_LARGE"
    """400: the request head (request line and headers) is over 16 KB; the connection is
    closed."""
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    """413: a Socket.IO polling POST announced more than ``MAX_FRAME_BYTES``; answered
    before its body is read, and the connection is closed."""
    LENGTH_REQUIRED = "LENGTH_REQUIRED"
    """400: a Socket.IO polling POST without ``Content-Length`` (chunked); the connection is
    closed. Socket.IO clients always send a length."""
    BAD_PACKET = "BAD_PACKET"
    """400: a Socket.IO polling POST whose body is not an Engine.IO payload (not UTF-8, or
    a packet without a valid type); its Engine.IO session is closed."""
    TOO_MANY_HANDSHAKES = "TOO_MANY_HANDSHAKES"
    """429 (with ``Retry-After``): too many Socket.IO handshakes from this IP, or in total,
    have not joined the namespace yet (``MAX_PENDING_HANDSHAKES_PER_IP``,
    ``MAX_PENDING_HANDSHAKES``)."""
