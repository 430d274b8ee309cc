"""The native JSON protocol on ``/ws`` (Starlette WebSocket)."""

from __future__ import annotations

import logging

from starlette.websockets import WebSocket, WebSocketDisconnect

from adstack_auth import AuthError
from adstack_gateway.core import Gateway, new_session_id
from adstack_gateway.protocol import ProtocolError, parse_frame
from adstack_gateway.routing import Outgoing
from adstack_gateway.session import Session
from adstack_protocol import CloseCode

log = logging.getLogger(__name__)


class NativeTransport:
    """Writes native frames to a Starlette WebSocket."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def send(self, message: Outgoing) -> None:
        await self.websocket.send({"type": "websocket.send", "text": message.text})

    async def close(self, code: int, reason: str) -> None:
        await self.websocket.close(code, reason)


def token_from(websocket: WebSocket) -> str | None:
    """The token from ``Authorization: Bearer …`` or the ``token`` query parameter."""
    header = websocket.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return websocket.query_params.get("token") or None


def origin_allowed(origin: str | None, allowed: tuple[str, ...]) -> bool:
    """Browsers always send Origin; non-browser clients may omit it (allowed)."""
    if origin is None or "*" in allowed:
        return True
    return origin.rstrip("/") in {o.rstrip("/") for o in allowed}


async def ws_endpoint(websocket: WebSocket) -> None:
    gateway: Gateway = websocket.app.state.gateway
    settings = gateway.settings
    if not origin_allowed(websocket.headers.get("origin"), settings.allowed_origins):
        await websocket.accept()
        await websocket.close(CloseCode.FORBIDDEN_ORIGIN, "origin not allowed")
        return
    try:
        claims = gateway.authenticate(token_from(websocket))
    except AuthError as exc:
        await websocket.accept()
        await websocket.close(CloseCode.POLICY_VIOLATION, f"auth failed: {exc.message}")
        return
    await websocket.accept()
    client = websocket.client
    session = Session(new_session_id(), claims, NativeTransport(websocket),
                      outbox_max_bytes=settings.outbox_max_bytes,
                      remote=client.host if client else "")
    gateway.open(session)
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                session.close_soon(CloseCode.BAD_REQUEST, "binary frames are not supported")
                break
            try:
                event, data, request_id = parse_frame(text)
            except ProtocolError as exc:
                gateway.error(session, exc.code, exc.message)
                continue
            await gateway.handle(session, event, data, request_id)
    except WebSocketDisconnect:
        pass
    finally:
        await gateway.close(session)
