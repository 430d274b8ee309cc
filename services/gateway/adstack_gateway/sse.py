"""Server-Sent Events: ``GET /sse?contractId=…&eventTypes=…`` for clients without WebSocket.

One contract per stream. Each ``event`` carries ``id: <epoch>:<offset>``; a client that
reconnects with ``Last-Event-ID`` (browsers' ``EventSource`` do it by themselves) resumes
exactly after it — or gets ``subscribed`` with ``recovered: false``. The same session core
as ``/ws`` and Socket.IO runs it, so filtering, limits, auth and slow-client handling are
identical. Auth: ``Authorization: Bearer`` or ``?token=``.

Refusals are HTTP statuses, so a browser's ``EventSource`` stops instead of retrying: a
malformed ``Last-Event-ID`` / ``lastEventId`` 400, a bad token 401, a bad origin 403, the
per-IP cap 429 with ``Retry-After``. A subscribe the session core refuses (invalid or
forbidden contract, bad ``eventTypes``) answers its ``error`` record with 400 / 403 and
ends. Whatever happens, the session is closed when the request ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from adstack_gateway.node import Gateway, Refused
from adstack_gateway.outgoing import Outgoing
from adstack_gateway.protocol import ProtocolError, handshake_token, parse_position
from adstack_gateway.session import Session
from adstack_protocol import (
    ClientCommand,
    CloseCode,
    ErrorCode,
    ServerEvent,
    close_is_terminal,
    wire,
)

KEEPALIVE_SECONDS = 15.0
RETRY_AFTER_SECONDS = 5
"""``Retry-After`` of a 429 (the per-IP cap): about when a connection of the IP may end."""
_CLOSED = object()


def parse_last_event_id(value: str | None) -> dict[str, Any] | None:
    """``<epoch>:<offset>`` → a ``since`` object; None when absent.

    Raises:
        ProtocolError: INVALID_PAYLOAD when present but malformed (ASCII digits only, an
            offset up to 2^53-1, an epoch of printable ASCII).
    """
    if not value:
        return None
    position = parse_position(value)
    return {"epoch": position.epoch, "offset": position.offset}


def _refusal(status: int, code: str | int, message: str,
             headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=headers)


_SUBSCRIBE_STATUS: dict[str, int] = {ErrorCode.FORBIDDEN: 403, ErrorCode.RATE_LIMITED: 429}


class _SessionResponse(StreamingResponse):
    """A stream whose session is closed when the response ends, however it ends (sent,
    client gone, cancelled, or an error while streaming)."""

    def __init__(self, gateway: Gateway, session: Session, content: AsyncIterator[bytes],
                 **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._gateway = gateway
        self._session = session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._gateway.close(self._session)


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
    # encoded once for every client: the wire codec slices their data out as it is.
    if message.request_id is None:
        body = wire.slice_bare_data(message.text, message.event)
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


def _subscribe_data(request: Request) -> dict[str, Any]:
    """The ``subscribe`` command a stream's query and ``Last-Event-ID`` ask for.

    Raises:
        ProtocolError: not exactly one ``contractId``, or a malformed position.
    """
    contracts = request.query_params.getlist("contractId")
    if len(contracts) != 1:
        raise ProtocolError(ErrorCode.INVALID_PAYLOAD, "give exactly one contractId")
    types_param = request.query_params.get("eventTypes")
    event_types = [t for t in types_param.split(",") if t] if types_param else None
    since = parse_last_event_id(request.headers.get("last-event-id")
                                or request.query_params.get("lastEventId"))
    data: dict[str, Any] = {"contractId": contracts[0], "eventTypes": event_types}
    if since is not None:
        data["since"] = since
    return data


def _refused(exc: Refused) -> Response:
    """The HTTP refusal of a connection the gateway refused (see the module docstring)."""
    if exc.code == CloseCode.TOO_MANY_CONNECTIONS:
        return _refusal(429, int(exc.code), exc.reason,
                        {"Retry-After": str(RETRY_AFTER_SECONDS)})
    status = (401 if exc.code == CloseCode.POLICY_VIOLATION
              else 403 if close_is_terminal(exc.code) else 503)
    return _refusal(status, int(exc.code), exc.reason)


async def _open(gateway: Gateway, session: Session, data: dict[str, Any]) -> Outgoing | None:
    """Start ``session`` and run its ``subscribe``; the reply (None: closing instead)."""
    try:
        gateway.open(session)
        return await gateway.handle(session, ClientCommand.SUBSCRIBE, data, None)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await gateway.close(session)
        raise


async def _stream(transport: SseTransport) -> AsyncIterator[bytes]:
    """The records of one stream: the retry hint, then messages and keepalives until the
    session closes (a ``closing`` record with the close code, if any)."""
    yield b"retry: 1000\n\n"
    while True:
        try:
            item = transport.queue.get_nowait()  # no timer while items wait
        except asyncio.QueueEmpty:
            try:
                item = await asyncio.wait_for(transport.queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield b": keepalive\n\n"
                continue
        if item is _CLOSED:
            if transport.close_code is not None:
                yield (f"event: {ServerEvent.CLOSING}\ndata: "
                       f"{{\"code\": {transport.close_code}}}\n\n").encode()
            return
        assert isinstance(item, Outgoing)
        yield format_sse(item)


async def sse_endpoint(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    try:
        data = _subscribe_data(request)
    except ProtocolError as exc:
        return _refusal(400, exc.code, exc.message)
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
        return _refused(exc)
    reply = await _open(gateway, session, data)
    if reply is not None and reply.event == ServerEvent.ERROR:
        # Refused: the error record, then the end (a 4xx, so EventSource does not retry).
        code = reply.data.get("code") if isinstance(reply.data, dict) else None
        status = _SUBSCRIBE_STATUS.get(str(code), 400)
        record = format_sse(reply)
        await gateway.close(session)
        return Response(record, status_code=status, media_type="text/event-stream")
    return _SessionResponse(gateway, session, _stream(transport), media_type="text/event-stream",
                            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
