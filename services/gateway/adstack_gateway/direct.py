"""Direct frame writes to a native ``/ws`` connection served by uvicorn (websockets-sansio).

uvicorn's ``websocket.send`` costs an ASGI message dict, an await, a websockets framing
call and a ``transport.write`` per message per client. For relayed events the frame is the
same for every client, so the gateway builds it once (``Outgoing.ws_frame``) and writes it
straight to each connection's asyncio transport.

That is safe because every write — ours and uvicorn's own ping, pong and close frames —
happens on the event-loop thread and writes whole frames, so frames never interleave; and
:meth:`UvicornSocket.open` stops our writes as soon as a close handshake has started
(either side) or the connection is gone. Connections with a negotiated extension (e.g.
permessage-deflate) keep the ASGI path: their frames must go through websockets.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from websockets.protocol import State
from websockets.server import ServerProtocol

log = logging.getLogger(__name__)

SEND_KEY = "adstack.server_send"
"""Scope key under which the gateway app keeps the server's own ASGI ``send`` callable."""


class UvicornSocket:
    """Writes pre-built frames to one connection of uvicorn's websockets-sansio protocol."""

    __slots__ = ("_conn", "_protocol", "_transport")

    def __init__(self, protocol: Any, conn: ServerProtocol,
                 transport: asyncio.WriteTransport) -> None:
        self._protocol = protocol
        self._conn = conn
        self._transport = transport

    @classmethod
    def attach(cls, scope: Any) -> UvicornSocket | None:
        """The direct socket of an accepted WebSocket ``scope``, or None if the server is
        not uvicorn's websockets-sansio or the connection negotiated an extension."""
        send = scope.get(SEND_KEY) if isinstance(scope, dict) else None
        protocol = getattr(send, "__self__", None)
        conn = getattr(protocol, "conn", None)
        transport = getattr(protocol, "transport", None)
        if (not isinstance(conn, ServerProtocol) or transport is None
                or not hasattr(transport, "get_write_buffer_size")
                or not hasattr(protocol, "close_sent") or not hasattr(protocol, "disconnected")):
            return None
        if conn.extensions or conn.state is not State.OPEN:
            return None
        return cls(protocol, conn, transport)

    def open(self) -> bool:
        protocol = self._protocol
        return (not protocol.close_sent and not protocol.disconnected
                and self._conn.state is State.OPEN and not self._transport.is_closing())

    def write(self, data: bytes) -> int:
        transport = self._transport
        transport.write(data)
        return transport.get_write_buffer_size()
