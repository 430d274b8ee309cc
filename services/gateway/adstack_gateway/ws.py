"""The native JSON protocol on ``/ws`` (Starlette WebSocket): a thin transport shell."""

from __future__ import annotations

import asyncio
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from adstack_gateway._uvicorn_ws import direct_socket, socket_of
from adstack_gateway.node import Gateway, Refused
from adstack_gateway.outgoing import Outgoing
from adstack_gateway.protocol import handshake_token
from adstack_protocol import Disconnect

log = logging.getLogger(__name__)

CLOSE_GRACE = 5.0
"""Seconds a connection the server closes has to complete the close handshake; then it is
dropped. A slow reader's close frame waits behind its unsent bytes (uvicorn writes it only
once the write buffer drains), and a connection whose close was never written stays open
with a session that sends nothing: the client would wait forever."""


class NativeTransport:
    """Writes native frames to a Starlette WebSocket."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def send(self, message: Outgoing) -> None:
        await self.websocket.send({"type": "websocket.send", "text": message.text})

    async def close(self, code: int, reason: str) -> None:
        protocol = socket_of(self.websocket.scope)
        if protocol is not None:  # a no-op once the connection is gone
            asyncio.get_running_loop().call_later(CLOSE_GRACE, protocol.abort)
        await self.websocket.close(code, reason)


async def ws_endpoint(websocket: WebSocket) -> None:
    gateway: Gateway = websocket.app.state.gateway
    client = websocket.client
    try:
        claims = await gateway.handshake(
            handshake_token(websocket.headers.get("authorization", ""),
                            websocket.query_params.get("token")),
            websocket.headers.get("origin"))
        session = gateway.new_session(claims, NativeTransport(websocket),
                                      remote=client.host if client else "", kind="ws")
    except Refused as exc:
        # Accept, then close with a code and a reason the client can read (a refused
        # upgrade would only give it an HTTP 403).
        await websocket.accept()
        await websocket.close(exc.code, exc.reason)
        return
    try:
        await websocket.accept()
        if gateway.settings.ws_direct_write:
            # Relayed frames are written straight to the socket (see _uvicorn_ws.py).
            session.direct = direct_socket(websocket.scope)
        gateway.open(session)
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            if session.closed:
                continue  # closing: wait for the close handshake, ignore what arrives
            text = message.get("text")
            if text is None:
                session.close_soon(Disconnect.BINARY_FRAME)
                continue
            await gateway.receive_text(session, text)
    except WebSocketDisconnect:
        pass
    finally:
        await gateway.close(session)
