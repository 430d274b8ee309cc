"""Server-Sent Events: ``GET /sse?contractId=…&eventTypes=…`` for clients without WebSocket.

One contract per stream. Each ``event`` carries ``id: <epoch>:<offset>``; a client that
reconnects with ``Last-Event-ID`` (browsers' ``EventSource`` do it by themselves) resumes
exactly after it — or gets ``subscribed`` with ``recovered: false``. The same session core
as ``/ws`` and Socket.IO runs it, so filtering, limits, auth and slow-client handling are
identical. Auth: ``Authorization: Bearer`` or ``?token=``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from adstack_gateway.core import Gateway, Refused
from adstack_gateway.protocol import handshake_token
from adstack_gateway.routing import Outgoing
from adstack_protocol import CloseCode, close_is_terminal

KEEPALIVE_SECONDS = 15.0
_CLOSED = object()


def parse_last_event_id(value: str | None) -> dict[str, Any] | None:
    """``<epoch>:<offset>`` → a ``since`` object; None when absent or malformed."""
    if not value or ":" not in value:
        return None
    epoch, _, offset = value.rpartition(":")
    if not epoch or not offset.isdigit() or len(epoch) > 64:
        return None
    return {"epoch": epoch, "offset": int(offset)}


def format_sse(message: Outgoing) -> bytes:
    """One SSE record: ``event``, ``id`` for positioned messages, the JSON ``data`` (built
    once per message, however many SSE clients get it)."""
    if message.sse is None:
        message.sse = _sse_record(message)
    return message.sse


def _sse_record(message: Outgoing) -> bytes:
    lines = [f"event: {message.event}"]
    if message.offset and message.epoch:
        lines.append(f"id: {message.epoch}:{message.offset}")
    # The data is one line of JSON (no raw newlines), so SSE needs no escaping. Frames are
    # {"event":…,"data":…} as encoded once for every client: slice the data out of them.
    if message.request_id is None:
        text = message.text
        body = text[text.index('"data":') + 7: -1]
    else:
        body = msgspec.json.encode(message.data).decode()
    lines.append(f"data: {body}")
    return ("\n".join(lines) + "\n\n").encode()


class SseTransport:
    """Hands the session's messages to the streaming response through a bounded queue."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue(maxsize=64)
        self.close_code: int | None = None

    async def send(self, message: Outgoing) -> None:
        await self.queue.put(message)

    async def close(self, code: int, reason: str) -> None:
        self.close_code = code
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(_CLOSED)
        if self.queue.full():
            # A stuck reader: make room for the end marker.
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(_CLOSED)


async def sse_endpoint(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    contracts = request.query_params.getlist("contractId")
    if len(contracts) != 1:
        return JSONResponse({"error": {"code": "INVALID_PAYLOAD",
                                       "message": "give exactly one contractId"}},
                            status_code=400)
    types_param = request.query_params.get("eventTypes")
    event_types = [t for t in types_param.split(",") if t] if types_param else None
    client = request.client
    transport = SseTransport()
    try:
        claims = await gateway.handshake(
            handshake_token(request.headers.get("authorization", ""),
                            request.query_params.get("token")),
            request.headers.get("origin"))
        session = gateway.new_session(claims, transport, remote=client.host if client else "",
                                      kind="sse")
    except Refused as exc:
        status = (401 if exc.code == CloseCode.POLICY_VIOLATION
                  else 403 if close_is_terminal(exc.code) else 503)
        return JSONResponse({"error": {"code": int(exc.code), "message": exc.reason}},
                            status_code=status)
    since = parse_last_event_id(request.headers.get("last-event-id")
                                or request.query_params.get("lastEventId"))

    async def stream() -> AsyncIterator[bytes]:
        try:
            gateway.open(session)
            data: dict[str, Any] = {"contractId": contracts[0], "eventTypes": event_types}
            if since is not None:
                data["since"] = since
            await gateway.handle(session, "subscribe", data, None)
            yield b"retry: 1000\n\n"
            while True:
                try:
                    item = transport.queue.get_nowait()  # no timer while items wait
                except asyncio.QueueEmpty:
                    try:
                        item = await asyncio.wait_for(transport.queue.get(),
                                                      KEEPALIVE_SECONDS)
                    except TimeoutError:
                        yield b": keepalive\n\n"
                        continue
                if item is _CLOSED:
                    if transport.close_code is not None:
                        yield (f"event: closing\ndata: {{\"code\": {transport.close_code}}}"
                               "\n\n").encode()
                    return
                assert isinstance(item, Outgoing)
                yield format_sse(item)
        finally:
            await gateway.close(session)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
