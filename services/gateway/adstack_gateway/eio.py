"""python-engineio with the gateway's guards: what an unauthenticated peer can make the
Engine.IO layer hold, write or log is bounded, and every request gets an answer.

python-engineio, as the gateway runs it, trusted its peers in ways an attack run showed:

- a polling POST over ``max_http_buffer_size`` (64 KB) was never answered (the library's
  own refusal waits for the client to poll a queue it will never poll); a chunked POST (no
  ``Content-Length``) was read as empty and dropped. Here a POST over the limit gets ``413``
  and one without a length ``400`` (``LENGTH_REQUIRED``) at once, before its body is read,
  and the connection is closed;
- a frame or POST body that is not Engine.IO (``x``, an empty frame, bytes that are not
  UTF-8, JSON nested too deep) raised inside the library and was logged as an ERROR with a
  traceback, once per frame. Here it is checked first (:mod:`adstack_gateway.siopacket`):
  the connection is closed, ``adstack_protocol_violations_total{kind}`` counts it and one
  INFO line (at most one per kind every :data:`LOG_EVERY` seconds, the rest at DEBUG) says
  what happened;
- every handshake created a session before any token was checked, without a cap. Here
  pending handshakes (not yet in the Socket.IO namespace) are capped per client IP and in
  total (:class:`~adstack_gateway.limits.PendingHandshakes`); a handshake over a cap gets
  ``429`` with ``Retry-After`` (a WebSocket one is refused before it is accepted).

The library's own log calls are routed through :class:`LibraryLog`: its chatter goes to
DEBUG and the errors it logs for ordinary client mistakes (an unknown sid, a bad
transport) to INFO; an exception inside a handler still logs its traceback at ERROR.

The library's internals are reached only through :mod:`adstack_gateway._engineio` (the
frame and handshake hooks, closing a session).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from adstack_gateway import metrics as m
from adstack_gateway._engineio import EngineServer, SocketServer
from adstack_gateway.limits import PendingHandshakes
from adstack_gateway.siopacket import eio_payload_problem, eio_text_problem
from adstack_protocol.codes import HttpErrorCode

log = logging.getLogger(__name__)

LOG_EVERY = 10.0
"""Seconds between two INFO lines about the same kind of violation (others go to DEBUG)."""
DISCARD_LIMIT = 4 << 20
"""Bytes of a refused POST body read and dropped after the answer (see :func:`respond`)."""
RETRY_AFTER = 5
"""``Retry-After`` seconds on a handshake refused by a pending-handshake cap."""

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class ViolationLog:
    """One INFO line per kind of violation every ``every`` seconds; the rest at DEBUG.
    Pure apart from the clock it is given."""

    def __init__(self, every: float = LOG_EVERY) -> None:
        self.every = every
        self._last: dict[str, float] = {}

    def level(self, kind: str, now: float) -> int:
        last = self._last.get(kind)
        if last is None or now - last >= self.every:
            self._last[kind] = now
            return logging.INFO
        return logging.DEBUG


violations = ViolationLog()


def report_violation(kind: str, what: str, peer: str) -> None:
    """Count a transport-level protocol violation and log it (never a traceback)."""
    m.record_violation(kind)
    log_refusal(kind, what, peer)


def log_refusal(kind: str, what: str, peer: str) -> None:
    log.log(violations.level(kind, time.monotonic()), "refused %s from %s: %s",
            kind.replace("_", " "), peer or "a client", what)


def peer_of(scope: MutableMapping[str, Any] | None) -> str:
    client = (scope or {}).get("client")
    return str(client[0]) if client else ""


class LibraryLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """python-engineio's logger: INFO → DEBUG, WARNING and plain ERROR → INFO; an
    exception (ERROR with a traceback) stays ERROR."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if level >= logging.ERROR and kwargs.get("exc_info"):
            mapped = logging.ERROR
        elif level >= logging.WARNING:
            mapped = logging.INFO
        else:
            mapped = logging.DEBUG
        self.logger.log(mapped, msg, *args, **kwargs)


async def respond(send: Send, status: int, code: str, message: str, *,
                  headers: list[tuple[bytes, bytes]] | None = None,
                  discard: Receive | None = None) -> None:
    """A coded JSON error ``{"error": {"code", "message"}}`` that closes the connection.

    With ``discard`` (the request's ``receive``), the answer goes out at once and then up
    to :data:`DISCARD_LIMIT` bytes of the unread body are read and dropped before the
    connection is closed: closing on unread bytes makes the kernel reset the connection,
    and a client still sending would lose the answer.
    """
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body, "more_body": discard is not None})
    if discard is not None:
        dropped = 0
        while dropped <= DISCARD_LIMIT:
            chunk = await discard()
            if chunk["type"] != "http.request":
                break
            dropped += len(chunk.get("body", b""))
            if not chunk.get("more_body"):
                break
        await send({"type": "http.response.body", "body": b""})


def _header(scope: MutableMapping[str, Any], name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


class GatewayEngineIO(EngineServer):
    """``engineio.AsyncServer`` with the guards in the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending = PendingHandshakes(None, None)
        """Set by the gateway (``create_sio``) from its settings."""

    async def handle_request(self, scope: MutableMapping[str, Any], receive: Receive,
                             send: Send) -> Any:
        if scope.get("type") == "http" and scope.get("method") == "POST":
            body = await self._read_post(scope, receive, send)
            if body is None:
                return None  # answered (or the client went away)
            replayed = False

            async def replay() -> dict[str, Any]:
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            return await super().handle_request(scope, replay, send)
        return await super().handle_request(scope, receive, send)

    async def _read_post(self, scope: MutableMapping[str, Any], receive: Receive,
                         send: Send) -> bytes | None:
        """The body of a polling POST, or None once the request has been answered."""
        peer = peer_of(scope)
        length = _header(scope, b"content-length")
        if length is None:
            if _header(scope, b"transfer-encoding") is not None:
                report_violation("length_required", "chunked polling POST", peer)
                await respond(send, 400, HttpErrorCode.LENGTH_REQUIRED.value,
                              "a polling POST needs a Content-Length (chunked is refused)",
                              discard=receive)
                return None
            length = b"0"
        size = int(length) if length.isdigit() and len(length) <= 12 else -1
        if size < 0 or size > self.max_http_buffer_size:
            report_violation("body_too_large", f"polling POST of {length[:16]!r} bytes", peer)
            await respond(send, 413, HttpErrorCode.PAYLOAD_TOO_LARGE.value,
                          f"a polling POST carries at most {self.max_http_buffer_size} bytes",
                          discard=receive)
            return None
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client went away (or its body was too slow: 408 sent)
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        problem = eio_payload_problem(body)
        if problem is not None:
            kind = "invalid_utf8" if problem.startswith("not UTF-8") else "eio_garbage"
            report_violation(kind, problem, peer)
            sid = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("sid")
            if sid:
                await self.end_broken(sid[0])
            await respond(send, 400, HttpErrorCode.BAD_PACKET.value,
                          f"the body is {problem}; the Engine.IO session is closed")
            return None
        return body

    def frame_problem(self, text: str, scope: Any) -> str | None:
        """A text WebSocket frame that is not an Engine.IO packet ends its connection."""
        problem = eio_text_problem(text)
        if problem is not None:
            report_violation("eio_garbage", problem, peer_of(scope))
        return problem

    def handshake_refusal(self, environ: dict[str, Any]
                          ) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """``429`` with ``Retry-After`` over a pending-handshake cap."""
        peer = peer_of(environ.get("asgi.scope"))
        if self.pending.has_room(peer):
            # No await between this check and the connect handler that counts the handshake
            # (the library's OPEN packet goes into an unbounded queue without suspending).
            return None
        m.record_rate_limited("pending_handshakes")
        log_refusal("handshake", "too many Engine.IO handshakes pending", peer)
        return ("429 Too Many Requests",
                [("Content-Type", "application/json"),
                 ("Retry-After", str(RETRY_AFTER)), ("Connection", "close")],
                json.dumps({"error": {
                    "code": HttpErrorCode.TOO_MANY_HANDSHAKES.value,
                    "message": "too many pending Socket.IO handshakes; retry later"}}
                ).encode())


class GatewaySocketIO(SocketServer):
    """``socketio.AsyncServer`` on :class:`GatewayEngineIO`."""

    engine_class = GatewayEngineIO
    eio: GatewayEngineIO
