"""One client connection, whatever its transport (the centrifuge "Client").

Delivery never awaits a client. A session has one of two outbound paths:

- **direct** (native ``/ws`` under uvicorn's websockets-sansio): :meth:`Session.offer`
  appends the message's pre-built WebSocket frame to a pending list; once per event-loop
  iteration the :class:`Flusher` joins each session's pending frames and writes them to the
  socket in one ``transport.write()`` — the same bytes for every client, no task switch, no
  await, and one system call per client per iteration however many events it got. A client
  whose unsent bytes in the socket's write buffer exceed its byte budget is closed with the
  ``SLOW`` code.
- **queued** (any transport without a direct socket): a bounded byte outbox drained by the
  session's own writer task, which awaits the transport; overflow closes the session with
  ``SLOW``. The queue and the task are only created when first needed.

A Socket.IO session whose Engine.IO transport is a WebSocket starts queued (its first
frames must follow Engine.IO's own, such as the namespace CONNECT) and moves to the direct
path, with Engine.IO-framed packets, once its outbox and Engine.IO's queue are both empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Protocol

from adstack_auth import Claims
from adstack_gateway import metrics as m
from adstack_gateway.limits import CommandLimiter
from adstack_gateway.outgoing import Outgoing
from adstack_gateway.rules import ClientRules, Subscription
from adstack_protocol import CloseCode, Disconnect

__all__ = ["DirectCapable", "DirectSocket", "Flusher", "Session", "Subscription", "Transport"]
"""``Subscription`` lives in :mod:`adstack_gateway.rules`; re-exported for older imports."""

log = logging.getLogger(__name__)


class Transport(Protocol):
    """What a session needs from a connection (native WebSocket or Socket.IO)."""

    async def send(self, message: Outgoing) -> None:
        """Write one message; may wait for the socket."""

    async def close(self, code: int, reason: str) -> None:
        """Close the connection with a WebSocket close code and reason."""


class DirectCapable(Protocol):
    """A transport that can hand its session a direct socket once earlier frames are out
    (Socket.IO over WebSocket: after Engine.IO has written its queue)."""

    async def direct_ready(self) -> DirectSocket | None:
        """The direct socket once everything queued before is written; None if not now."""


class DirectSocket(Protocol):
    """A connection that takes complete WebSocket frames synchronously (``_uvicorn_ws.py``)."""

    def frames_open(self) -> bool:
        """True while frames may be written (open, no close handshake started)."""

    def write_frames(self, data: bytes) -> int:
        """Write whole frames; returns the bytes still waiting in the write buffer."""


class Flusher:
    """Writes the frames every session got during one event-loop iteration, once per
    iteration, after everything that was ready in that iteration has been routed."""

    __slots__ = ("_after", "_dirty", "_scheduled")

    def __init__(self) -> None:
        self._dirty: list[Session] = []
        self._scheduled = False
        self._after: list[Callable[[], None]] = []

    def add(self, session: Session) -> None:
        """``session`` has pending frames (called once per iteration per session)."""
        self._dirty.append(session)
        if not self._scheduled:
            self.schedule()

    def after_flush(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after the next flush (e.g. to time what it wrote)."""
        self._after.append(callback)
        if not self._scheduled:
            self.schedule()

    def schedule(self) -> None:
        self._scheduled = True
        asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, []
        for session in dirty:
            session.flush()
        if self._after:
            after, self._after = self._after, []
            for callback in after:
                try:
                    callback()
                except Exception:
                    log.exception("after-flush callback failed")


class Session:
    """One client connection: its writer (the only asyncio code of a client) around its
    :class:`~adstack_gateway.rules.ClientRules` (claims, subscriptions, feeds, limits)."""

    def __init__(self, session_id: str, claims: Claims, transport: Transport, *,
                 outbox_max_bytes: int = 1 << 20, remote: str = "",
                 limiter: CommandLimiter | None = None, kind: str = "ws",
                 flusher: Flusher | None = None, max_subscriptions: int | None = None) -> None:
        self.id = session_id
        self.rules = ClientRules(claims, limiter=limiter, max_subscriptions=max_subscriptions)
        """The client's state and rules, sans I/O."""
        self.transport = transport
        self.remote = remote
        """Client IP address (what the per-IP connection limit counts)."""
        self.kind = kind
        """``ws`` (native) or ``sio`` (Socket.IO)."""
        self.registered = False
        self._expiry: asyncio.TimerHandle | None = None
        self.outbox_max_bytes = outbox_max_bytes
        self.direct: DirectSocket | None = None
        """Set (by the transport, before anything is offered) for the direct path."""
        self._flusher = flusher
        self._pending: list[bytes] = []
        self._outbox: deque[Outgoing] | None = None
        self._outbox_bytes = 0
        self._wakeup: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        self.closed = False
        self.close_code: int | None = None
        self.sent = 0

    @property
    def claims(self) -> Claims:
        return self.rules.claims

    @claims.setter
    def claims(self, claims: Claims) -> None:
        self.rules.claims = claims

    @property
    def limiter(self) -> CommandLimiter | None:
        return self.rules.limiter

    @property
    def subscriptions(self) -> dict[str, Subscription]:
        """Contract → subscription (the rules' table)."""
        return self.rules.subscriptions

    @property
    def feeds(self) -> set[str]:
        return self.rules.feeds

    def start(self) -> None:
        """Ready to send. The writer task of the queued path starts on first use."""

    def expire_in(self, delay: float | None) -> None:
        """(Re)arm the token-expiry timer: close with TOKEN_EXPIRED after ``delay`` seconds.

        ``None`` disarms it (a token without ``exp``).
        """
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if delay is not None and not self.closed:
            self._expiry = asyncio.get_running_loop().call_later(
                delay, self.close_soon, Disconnect.TOKEN_EXPIRED)

    def offer(self, message: Outgoing) -> None:
        """Queue ``message`` without waiting. Closes the session (SLOW) on overflow."""
        if self.closed:
            return
        if self.direct is not None and self._flusher is not None:
            pending = self._pending
            if not pending:
                self._flusher.add(self)
            pending.append(message.sio_frame if self.kind == "sio" else message.ws_frame)
            return
        size = len(message.text)
        if self._outbox_bytes + size > self.outbox_max_bytes:
            self.too_slow()
            return
        if self._outbox is None:
            self._outbox = deque()
            self._wakeup = asyncio.Event()
            self._writer = asyncio.create_task(self._write_loop(), name=f"writer-{self.id}")
        self._outbox.append(message)
        self._outbox_bytes += size
        assert self._wakeup is not None, "created with the outbox"
        self._wakeup.set()

    def flush(self) -> None:
        """Direct path: write the pending frames in one write (called by the Flusher)."""
        pending = self._pending
        if not pending:
            return
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        count = len(pending)
        pending.clear()
        direct = self.direct
        if self.closed or direct is None or not direct.frames_open():
            return  # closing: the client gets nothing more
        self.sent += count
        if direct.write_frames(data) > self.outbox_max_bytes:
            self.too_slow()

    def too_slow(self) -> None:
        """The client does not take its frames fast enough: close it with ``SLOW``."""
        log.info("session %s too slow: outbox over %d bytes", self.id, self.outbox_max_bytes)
        self.close_soon(Disconnect.SLOW)

    def close_soon(self, disconnect: Disconnect | int, reason: str = "") -> None:
        """Mark closed and close the transport in the background (never blocks the caller),
        with ``disconnect``'s code and reason (the older spelling ``close_soon(code, reason)``
        is still accepted: the code must be a :class:`CloseCode`).

        Frames already due this iteration are written first (a reply before its close);
        the queued path's outbox is dropped.
        """
        if self.closed:
            return
        if not isinstance(disconnect, Disconnect):
            disconnect = Disconnect(CloseCode(disconnect), reason)
        code, reason = disconnect.code, disconnect.reason
        if code == CloseCode.SLOW:
            m.record_outbox_overflow()
        if self._pending and code != CloseCode.SLOW:
            self.flush()
        self._pending.clear()
        self.closed = True
        self.close_code = code
        if self._outbox is not None:
            self._outbox.clear()
            self._outbox_bytes = 0
        if self._wakeup is not None:
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
        wakeup = self._wakeup
        assert outbox is not None and wakeup is not None, "started by offer()"
        ready = getattr(self.transport, "direct_ready", None)
        try:
            while not self.closed:
                await wakeup.wait()
                wakeup.clear()
                while outbox and not self.closed:
                    message = outbox.popleft()
                    self._outbox_bytes -= len(message.text)
                    await self.transport.send(message)
                    self.sent += 1
                if ready is not None and self._flusher is not None and not self.closed:
                    direct = await ready()
                    if direct is not None and not outbox and not self.closed:
                        # Nothing is queued anywhere: frames from now on go direct.
                        self.direct = direct
                        self._outbox = None
                        self._wakeup = None
                        self._writer = None
                        return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.debug("writer of session %s stopped", self.id, exc_info=True)
            self.closed = True

    async def stop(self) -> None:
        """Stop the writer and timers (the connection is gone)."""
        self.closed = True
        self._pending.clear()
        self.expire_in(None)
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer
