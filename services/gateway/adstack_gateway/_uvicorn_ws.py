"""Adapter for uvicorn's websockets-sansio protocol: the gateway's WebSocket server
protocol, lighter per connection and able to take pre-built frames directly.

Relies on (uvicorn ``websockets_sansio_impl.WebSocketsSansIOProtocol``, checked with uvicorn
0.54.0 from uv.lock and 0.55.0 by ``make test-latest``; fence ``uvicorn>=0.35,<0.55``; the
class first appeared in 0.35):

- subclasses it and replaces two instance attributes set in its ``__init__``: ``queue``
  (an ``asyncio.Queue`` the app's ``receive`` reads: ``put_nowait``/``get``/``empty``/
  ``qsize``) with :class:`_Inbox`, and ``writable`` (an ``asyncio.Event`` for write flow
  control: ``set``/``clear``/``is_set``/``wait``) with :class:`_Flag`;
- overrides ``handle_ping``, ``send_receive_event_to_app`` and ``send`` (calling the
  originals) and calls ``handle_parser_exception``;
- reads ``transport``, ``conn`` (the websockets ``ServerProtocol``: ``state``,
  ``extensions``, ``send_close``), ``close_sent``, ``disconnected``, ``frames``,
  ``curr_msg_data_type`` and ``client``; sets ``request``/``response`` to None after the
  handshake;
- the ASGI ``send`` callable uvicorn gives the app is the protocol's bound ``send`` method
  (:func:`socket_of` finds the protocol through ``send.__self__``).

:func:`require_shape` checks these names at import. The guard tests are
tests/integration/test_direct_write.py, tests/unit/gateway/test_frames.py and
tests/unit/test_third_party_internals.py.

Why: uvicorn's ``websocket.send`` costs an ASGI message dict, an await, a websockets framing
call and a ``transport.write`` per message per client. A relayed event's frame is the same
for every client, so the gateway builds it once (``Outgoing.ws_frame``) and writes it
straight to each connection with :meth:`GatewayWebSocketProtocol.write_frames` — coalesced
per event-loop iteration by the session's flusher (``session.py``).

That is safe because every write — ours and uvicorn's own ping, pong and close frames —
happens on the event-loop thread and writes whole frames, so frames never interleave; and
:meth:`GatewayWebSocketProtocol.frames_open` turns false as soon as a close handshake has
started (either side) or the connection is gone. A connection with a negotiated extension
(permessage-deflate) never takes direct frames: its frames must go through websockets.

Memory per connection is what limits how many clients one process holds. Compared with
the stock protocol this one keeps its inbox and write-flow flag in small slotted objects
instead of an ``asyncio.Queue`` and an ``asyncio.Event`` (five deques of ~760 bytes), and
drops the handshake request and response once the connection is accepted.

What a peer can make the server write without reading is bounded too: websockets answers
every PING frame with a PONG, and a peer that sends PINGs and never reads grew the write
buffer without limit (one connection took a gateway from 81 MB to 861 MB in 45 s). Once
what the connection has not sent exceeds :attr:`GatewayWebSocketProtocol.outbox_max_bytes`
(``OUTBOX_MAX_BYTES``) after a control frame from the peer, the connection is dropped
(``adstack_protocol_violations_total{kind="control_flood"}``). A text frame that is not
UTF-8 is refused with 1007 and counted, without uvicorn's ERROR traceback.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from adstack_gateway.eio import report_violation
from adstack_runtime.internals import require_shape

FENCE = "uvicorn>=0.35,<0.55"
"""The dependency line of pyproject.toml that keeps other uvicorn releases out."""

SHAPES = (
    require_shape(
        WebSocketsSansIOProtocol, fence=FENCE,
        methods=("handle_ping", "send_receive_event_to_app", "handle_parser_exception", "send"),
        attributes=("queue", "writable", "transport", "conn", "close_sent", "disconnected",
                    "frames", "curr_msg_data_type", "client", "request", "response")),
)
"""What this adapter relies on, checked at import (re-checked by the guard tests)."""

SEND_KEY = "adstack.server_send"
"""Scope key under which the gateway app keeps the server's own ASGI ``send`` callable."""


class _Inbox:
    """The protocol's receive queue: one consumer (the app's ``receive``), unbounded."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    async def get(self) -> Any:
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class _Flag:
    """``asyncio.Event`` without the deque: set, clear, is_set, wait."""

    __slots__ = ("_set", "_waiters")

    def __init__(self, value: bool) -> None:
        self._set = value
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        await waiter
        return True


class GatewayWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol with direct frame writes (pass it as ``ws=``)."""

    outbox_max_bytes: int = 1 << 20
    """Unsent bytes beyond which a peer's control frame drops the connection; the gateway
    sets it from ``OUTBOX_MAX_BYTES`` (``create_sio``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Flag(True)  # type: ignore[assignment]
        self._pong_backlog = 0
        """Bytes of PONG frames written since the write buffer was last empty."""

    def handle_ping(self) -> None:
        before = self.transport.get_write_buffer_size()
        super().handle_ping()
        after = self.transport.get_write_buffer_size()
        # Only what the peer's PINGs add counts here: a backlog of data frames is the
        # session's to judge (it closes a slow reader with 4001).
        self._pong_backlog = 0 if after == 0 else self._pong_backlog + max(0, after - before)
        if not self.disconnected and self._pong_backlog > self.outbox_max_bytes:
            report_violation("control_flood", "PING frames while not reading "
                             f"(over {self.outbox_max_bytes} bytes of PONGs unsent)",
                             self._peer())
            self.abort()

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and not self.close_sent:
            data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
            try:
                data.decode()
            except UnicodeDecodeError:
                self.frames = []
                report_violation("invalid_utf8", "a text frame that is not UTF-8",
                                 self._peer())
                self.conn.send_close(1007)
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

    def abort(self) -> None:
        """Drop the connection now, whatever is left unsent."""
        if not self.disconnected:
            self.transport.abort()

    def _peer(self) -> str:
        return str(self.client[0]) if self.client else ""

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept":
            # Only the handshake needs them; the app keeps what it wants from the scope.
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]

    def frames_open(self) -> bool:
        """True while whole frames may be written: open, and no close started by either
        side (a received close is answered and the transport closed in the same callback)."""
        return not self.close_sent and not self.disconnected and not self.transport.is_closing()

    def write_frames(self, data: bytes) -> int:
        """Write complete server frames; returns the bytes still in the write buffer."""
        transport = self.transport
        transport.write(data)
        return transport.get_write_buffer_size()


def socket_of(scope: Any) -> GatewayWebSocketProtocol | None:
    """The connection of a WebSocket ``scope`` (any state), if it is one of ours."""
    protocol = getattr(scope.get(SEND_KEY), "__self__", None) if scope else None
    return protocol if isinstance(protocol, GatewayWebSocketProtocol) else None


def direct_socket(scope: Any) -> GatewayWebSocketProtocol | None:
    """The connection of an accepted WebSocket ``scope`` if it takes direct frames."""
    send = scope.get(SEND_KEY)
    protocol = getattr(send, "__self__", None)
    if (isinstance(protocol, GatewayWebSocketProtocol) and protocol.frames_open()
            and protocol.conn.state is State.OPEN and not protocol.conn.extensions):
        return protocol
    return None
