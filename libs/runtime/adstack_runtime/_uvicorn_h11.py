"""Adapter for uvicorn's h11 protocol: a deadline on each request head (slowloris defence)
and on each request body, and a bound on the head's size.

Relies on (uvicorn ``protocols.http.h11_impl``, checked with uvicorn 0.54.0 from uv.lock and
0.55.0 by ``make test-latest``; fence ``uvicorn>=0.35,<0.55``):

- subclasses ``H11Protocol`` and overrides ``connection_made``, ``connection_lost``,
  ``data_received``, ``handle_events`` and ``on_response_complete`` (calling the originals);
- reads its ``conn`` (the ``h11.Connection``: ``their_state``, ``send``), ``cycle``,
  ``transport``, ``loop`` and ``client``;
- on the current ``RequestResponseCycle``: reads ``response_started`` and ``scope``, sets
  ``disconnected`` and sets ``message_event`` (that is how its ``receive()`` returns
  ``http.disconnect``);
- an upgrade to a WebSocket shows as ``transport.get_protocol()`` no longer being this one.

:func:`require_shape` checks these names at import. The guard tests are
tests/integration/test_head_timeout.py, tests/e2e/security/test_slow_bodies.py and
tests/unit/test_third_party_internals.py. The public names live in
:mod:`adstack_runtime.headtimeout`; nothing else imports this module.

uvicorn starts no timer when a connection opens. A client that connects and sends
nothing (a half-open connection), or sends its request line and headers a byte at a time
(slowloris), held a socket, a file descriptor and a parser for as long as it liked, and
enough of them exhaust the process's descriptors. Here every connection has
``head_timeout`` seconds to deliver a complete request head, and again after each
response on a keep-alive connection; otherwise it is closed.

uvicorn has no deadline on the body either: a client that sends a complete head, then
trickles the body (or sends part of it and stops) held the app's coroutine waiting in
``receive()`` forever, and after an early response the connection. So once a head that
announces a body is in, the whole body must arrive within ``body_timeout`` seconds. If it
does not and the app has not started its response, the client gets ``408`` with a coded
JSON error (``BODY_TIMEOUT``), the app's ``receive()`` returns ``http.disconnect`` (its
scope carries :data:`BODY_TIMEOUT_EXTENSION`, see :func:`body_timed_out`) and the
connection is closed; if a response has already gone out, the connection is just closed.

Long responses, long polls and WebSocket sessions have their own limits: neither timer
runs once the head is in and the body (if any) complete, or after a WebSocket upgrade.

The head's size is bounded too: at most :data:`MAX_HEAD_BYTES` (16 KB) from the request
line to the blank line, else ``400`` with a coded JSON error (``HEAD_TOO_LARGE``) and the
connection is closed. h11's own bound (``max_incomplete_event_size``) only applies to a
head still incomplete after a read, so a 20-120 KB head that arrived in a few reads
passed and was answered 200.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Mapping
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

from adstack_protocol.codes import HttpErrorCode
from adstack_runtime.internals import require_shape

FENCE = "uvicorn>=0.35,<0.55"
"""The dependency line of pyproject.toml that keeps other uvicorn releases out."""

SHAPES = (
    require_shape(
        H11Protocol, fence=FENCE,
        methods=("connection_made", "connection_lost", "data_received", "handle_events",
                 "on_response_complete"),
        attributes=("conn", "cycle", "transport", "loop", "client")),
    require_shape(RequestResponseCycle, fence=FENCE,
                  attributes=("response_started", "disconnected", "message_event", "scope")),
)
"""What this adapter relies on, checked at import (re-checked by the guard tests)."""

log = logging.getLogger(__name__)

HEAD_TIMEOUT_ENV = "ADSTACK_HEAD_TIMEOUT"
BODY_TIMEOUT_ENV = "ADSTACK_BODY_TIMEOUT"
DEFAULT_BODY_TIMEOUT = 30.0
"""Seconds for a whole request body. Enough for the largest body the ingester accepts
(``OBSERVER_MAX_BODY_BYTES``, 64 MiB) at about 2.2 MB/s; a stacks-node on the same network
sends a block of a few MB in well under a second."""
BODY_TIMEOUT_EXTENSION = "adstack.body_timeout"
"""Key in ``scope["extensions"]`` set when the body deadline ended a request: the app's
``receive()`` then returned ``http.disconnect`` and the client already has its 408."""


MAX_HEAD_BYTES = 16 * 1024
"""The largest request head (request line, headers, the blank line) accepted."""
_HEAD_END = re.compile(rb"\n\r?\n")
"""Where a head ends (h11 accepts a bare LF too)."""


def _env_seconds(name: str, default: float) -> float:
    return float(os.environ.get(name, "") or default)


def body_timed_out(scope: Mapping[str, Any]) -> bool:
    """True if the server ended this request because its body was late (see the module)."""
    extensions = scope.get("extensions") or {}
    return BODY_TIMEOUT_EXTENSION in extensions


class HeadTimeoutProtocol(H11Protocol):
    """An ``H11Protocol`` that closes connections whose request head or body is late."""

    head_timeout: float = _env_seconds(HEAD_TIMEOUT_ENV, 10.0)
    """Worker processes of ``--workers N`` import this class by name (a class made by
    :func:`head_timeout_protocol` cannot be pickled), so they read the deadlines from the
    environment the supervisor sets."""
    body_timeout: float = _env_seconds(BODY_TIMEOUT_ENV, DEFAULT_BODY_TIMEOUT)
    max_head_bytes: int = MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_cycle: object | None = None
        """The request whose body the body timer is for."""
        self._head: bytes = b""
        """The start of a request head not yet complete (at most MAX_HEAD_BYTES)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._disarm_body()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            # Waiting for a head: measure it before h11 parses it.
            seen = self._head + data
            end = _HEAD_END.search(seen, max(0, len(self._head) - 3))
            size = end.end() if end is not None else len(seen)
            if size > self.max_head_bytes:
                self._head = b""
                self._refuse_head(size)
                return
            self._head = b"" if end is not None else seen
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        if self.transport.get_protocol() is not self:  # upgraded to a WebSocket
            self._disarm()
            self._disarm_body()
            return
        state = self.conn.their_state
        if state is not h11.IDLE:
            self._disarm()  # the head is complete
        if state is h11.SEND_BODY:
            if self._body_timer is None or self._body_cycle is not self.cycle:
                self._arm_body()
        elif self._body_timer is not None:
            self._disarm_body()  # the body is complete
            if state is h11.IDLE:
                # It finished after an early response: the next head's deadline starts now.
                self._arm()

    def on_response_complete(self) -> None:
        self._arm()  # before: a pipelined request handled inside disarms it again
        super().on_response_complete()
        if self.transport.is_closing():
            self._disarm()
            self._disarm_body()

    # -- request head ------------------------------------------------------------------

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_timeout, self._expire)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _expire(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        log.info("closed a connection from %s: no complete request head within %.1fs",
                 self._peer(), self.head_timeout)
        self.transport.close()

    # -- request body ------------------------------------------------------------------

    def _arm_body(self) -> None:
        self._disarm_body()
        self._body_cycle = self.cycle
        self._body_timer = self.loop.call_later(self.body_timeout, self._body_expired)

    def _disarm_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        self._body_cycle = None

    def _body_expired(self) -> None:
        self._body_timer = None
        cycle, self._body_cycle = self.cycle, None
        if (self.transport.is_closing() or self.transport.get_protocol() is not self
                or self.conn.their_state is not h11.SEND_BODY):
            return
        answered = cycle is not None and not cycle.response_started and not cycle.disconnected
        log.info("closed a connection from %s: request body not complete within %.1fs%s",
                 self._peer(), self.body_timeout, " (408)" if answered else "")
        if answered:
            self._send_408()
        if cycle is not None:
            cycle.scope.setdefault("extensions", {})[BODY_TIMEOUT_EXTENSION] = {
                "seconds": self.body_timeout}
            cycle.disconnected = True  # receive() → http.disconnect; later sends are dropped
            cycle.message_event.set()
        self.transport.close()

    def _send_408(self) -> None:
        body = json.dumps({"error": {
            "code": HttpErrorCode.BODY_TIMEOUT.value,
            "message": f"request body not complete within {self.body_timeout:g}s"}}).encode()
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        try:
            for event in (h11.Response(status_code=408, headers=headers,
                                       reason=b"Request Timeout"),
                          h11.Data(data=body), h11.EndOfMessage()):
                self.transport.write(self.conn.send(event) or b"")
        except h11.LocalProtocolError:
            log.debug("could not answer 408", exc_info=True)

    def _refuse_head(self, size: int) -> None:
        log.info("closed a connection from %s: request head over %d bytes (%d seen)",
                 self._peer(), self.max_head_bytes, size)
        self._disarm()
        body = json.dumps({"error": {
            "code": HttpErrorCode.HEAD_TOO_LARGE.value,
            "message": f"request head over {self.max_head_bytes} bytes"}}).encode()
        self.transport.write(
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n"
            + body)
        self.transport.close()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "a client"


def head_timeout_protocol(seconds: float, body_seconds: float = DEFAULT_BODY_TIMEOUT
                          ) -> type[HeadTimeoutProtocol]:
    """A :class:`HeadTimeoutProtocol` subclass with ``seconds`` as its head deadline and
    ``body_seconds`` as its body deadline."""
    if seconds <= 0:
        raise ValueError("the request head timeout must be positive")
    if body_seconds <= 0:
        raise ValueError("the request body timeout must be positive")
    return type("HeadTimeoutProtocol", (HeadTimeoutProtocol,),
                {"head_timeout": seconds, "body_timeout": body_seconds})
