"""uvicorn's h11 protocol with a deadline on each request head (slowloris defence).

uvicorn starts no timer when a connection opens. A client that connects and sends
nothing (a half-open connection), or sends its request line and headers a byte at a time
(slowloris), held a socket, a file descriptor and a parser for as long as it liked, and
enough of them exhaust the process's descriptors. Here every connection has
``head_timeout`` seconds to deliver a complete request head, and again after each
response on a keep-alive connection; otherwise it is closed. Once the head is in (an
HTTP request or a WebSocket upgrade), the timer is off: bodies, long polls and WebSocket
sessions have their own limits.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

HEAD_TIMEOUT_ENV = "ADSTACK_HEAD_TIMEOUT"


class HeadTimeoutProtocol(H11Protocol):
    """An ``H11Protocol`` that closes connections whose request head is late."""

    head_timeout: float = float(os.environ.get(HEAD_TIMEOUT_ENV, "10") or "10")
    """Worker processes of ``--workers N`` import this class by name (a class made by
    :func:`head_timeout_protocol` cannot be pickled), so they read the deadline from the
    environment the supervisor sets."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:
            self._disarm()  # the head is complete

    def on_response_complete(self) -> None:
        self._arm()  # before: a pipelined request handled inside disarms it again
        super().on_response_complete()
        if self.transport.is_closing():
            self._disarm()

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
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.info("closed a connection from %s: no complete request head within %.1fs",
                 client, self.head_timeout)
        self.transport.close()


def head_timeout_protocol(seconds: float) -> type[HeadTimeoutProtocol]:
    """A :class:`HeadTimeoutProtocol` subclass with ``seconds`` as its deadline."""
    if seconds <= 0:
        raise ValueError("the request head timeout must be positive")
    return type("HeadTimeoutProtocol", (HeadTimeoutProtocol,), {"head_timeout": seconds})
