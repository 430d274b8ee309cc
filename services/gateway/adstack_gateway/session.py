"""One client connection, whatever its transport (the centrifuge "Client").

A session owns its subscriptions and a bounded outbox drained by its own writer task.
Delivery never awaits a client: :meth:`Session.offer` only appends, and a client whose
outbox exceeds its byte budget is closed with the ``SLOW`` code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Protocol

from adstack_auth import Claims
from adstack_gateway import metrics as m
from adstack_gateway.limits import CommandLimiter
from adstack_gateway.routing import Outgoing
from adstack_protocol import CloseCode

log = logging.getLogger(__name__)


class Transport(Protocol):
    """What a session needs from a connection (native WebSocket or Socket.IO)."""

    async def send(self, message: Outgoing) -> None:
        """Write one message; may wait for the socket."""

    async def close(self, code: int, reason: str) -> None:
        """Close the connection with a WebSocket close code and reason."""


class Subscription:
    """A session's subscription to one contract."""

    __slots__ = ("buffer", "epoch", "event_types", "last_offset")

    def __init__(self, event_types: frozenset[str] | None) -> None:
        self.event_types = event_types
        self.last_offset = 0
        """Highest offset delivered; anything at or below is a duplicate and dropped."""
        self.epoch = ""
        self.buffer: list[Outgoing] | None = None
        """While recovering from history, live messages wait here."""


class Session:
    """Transport-independent state of one client connection."""

    def __init__(self, session_id: str, claims: Claims, transport: Transport, *,
                 outbox_max_bytes: int = 1 << 20, remote: str = "",
                 limiter: CommandLimiter | None = None, kind: str = "ws") -> None:
        self.id = session_id
        self.claims = claims
        self.transport = transport
        self.remote = remote
        """Client IP address (what the per-IP connection limit counts)."""
        self.kind = kind
        """``ws`` (native) or ``sio`` (Socket.IO)."""
        self.limiter = limiter
        self.registered = False
        self._expiry: asyncio.TimerHandle | None = None
        self.subscriptions: dict[str, Subscription] = {}
        self.feeds: set[str] = set()
        self.outbox_max_bytes = outbox_max_bytes
        self._outbox: deque[Outgoing] = deque()
        self._outbox_bytes = 0
        self._wakeup = asyncio.Event()
        self.closed = False
        self.close_code: int | None = None
        self.sent = 0
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the writer task."""
        self._writer = asyncio.create_task(self._write_loop(), name=f"writer-{self.id}")

    def expire_in(self, delay: float | None) -> None:
        """(Re)arm the token-expiry timer: close with TOKEN_EXPIRED after ``delay`` seconds.

        ``None`` disarms it (a token without ``exp``).
        """
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if delay is not None and not self.closed:
            self._expiry = asyncio.get_running_loop().call_later(
                delay, self.close_soon, CloseCode.TOKEN_EXPIRED,
                "token expired; reconnect with a new token")

    def offer(self, message: Outgoing) -> None:
        """Queue ``message`` without waiting. Closes the session (SLOW) on overflow."""
        if self.closed:
            return
        size = len(message.text)
        if self._outbox_bytes + size > self.outbox_max_bytes:
            log.info("session %s too slow: outbox over %d bytes", self.id, self.outbox_max_bytes)
            self.close_soon(CloseCode.SLOW, "too slow: outbound queue overflow")
            return
        self._outbox.append(message)
        self._outbox_bytes += size
        self._wakeup.set()

    def close_soon(self, code: int, reason: str) -> None:
        """Mark closed and close the transport in the background (never blocks the caller)."""
        if self.closed:
            return
        if code == CloseCode.SLOW:
            m.record_outbox_overflow()
        self.closed = True
        self.close_code = code
        self._outbox.clear()
        self._outbox_bytes = 0
        self._wakeup.set()
        task = asyncio.create_task(self._close(code, reason))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def _close(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self.transport.close(code, reason), timeout=5)
        except Exception:  # the peer may already be gone
            log.debug("close of session %s failed", self.id, exc_info=True)

    async def _write_loop(self) -> None:
        outbox = self._outbox
        try:
            while not self.closed:
                await self._wakeup.wait()
                self._wakeup.clear()
                while outbox and not self.closed:
                    message = outbox.popleft()
                    self._outbox_bytes -= len(message.text)
                    await self.transport.send(message)
                    self.sent += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            log.debug("writer of session %s stopped", self.id, exc_info=True)
            self.closed = True

    async def stop(self) -> None:
        """Stop the writer and timers (the connection is gone)."""
        self.closed = True
        self.expire_in(None)
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer
