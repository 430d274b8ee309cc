"""Clients that misbehave on purpose: raw Socket.IO over a plain WebSocket, raw TCP, and
the tally of hostile inputs that ``make test`` reports.

The well-behaved clients in :mod:`tests.helpers.client` cannot send what a hostile peer
sends (a malformed Socket.IO packet, half an HTTP request), so these speak the wire
formats directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

HOSTILE = "hostile"
"""``record_property`` name of one hostile input: ``"<suite>|<case>"``."""


class RawSocketIO:
    """A Socket.IO v4 client written by hand over ``/socket.io/?EIO=4&transport=websocket``.

    Engine.IO messages are ``4`` + a Socket.IO packet; ``40`` joins the namespace, ``42``
    carries an event. It answers the server's pings so only what the test sends matters.
    """

    def __init__(self, base_ws: str, headers: dict[str, str] | None = None) -> None:
        self.url = base_ws.removesuffix("/ws") + "/socket.io/?EIO=4&transport=websocket"
        self.headers = headers or {}
        self.ws: ClientConnection | None = None
        self.messages: list[str | bytes] = []
        self.closed = asyncio.Event()
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> RawSocketIO:
        self.ws = await websockets.connect(self.url, compression=None, max_size=None,
                                           additional_headers=self.headers)
        self._reader = asyncio.create_task(self._read())
        await self.wait_for(lambda m: isinstance(m, str) and m.startswith("0{"), "OPEN")
        return self

    async def join(self, token: str) -> dict[str, Any]:
        """Join the namespace with ``token``; the ``connected`` event's data."""
        await self.send("40" + json.dumps({"token": token}))
        frame = await self.wait_for(lambda m: isinstance(m, str)
                                    and m.startswith('42["connected"'), "connected")
        assert isinstance(frame, str)
        data: dict[str, Any] = json.loads(frame[2:])[1]
        return data

    async def send(self, message: str | bytes) -> None:
        assert self.ws is not None
        await self.ws.send(message)

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for message in self.ws:
                if message == "2":  # Engine.IO ping
                    await self.ws.send("3")
                    continue
                self.messages.append(message)
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()
            self._changed.set()

    async def wait_for(self, match: Any, what: str, timeout: float = 10.0) -> str | bytes:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for message in self.messages[seen:]:
                if match(message):
                    return message
            seen = len(self.messages)
            if self.closed.is_set():
                raise AssertionError(f"closed waiting for {what}; got {self.messages[-5:]}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}; got {self.messages[-5:]}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    def events(self, name: str) -> list[Any]:
        """Data of every ``42["<name>", data]`` received."""
        out = []
        for message in self.messages:
            if isinstance(message, str) and message.startswith("42["):
                decoded = json.loads(message[2:])
                if decoded[0] == name:
                    out.append(decoded[1] if len(decoded) > 1 else None)
        return out

    async def closing(self, timeout: float = 10.0) -> tuple[int, str]:
        """``(code, reason)`` of the server's ``closing`` event."""
        frame = await self.wait_for(lambda m: isinstance(m, str)
                                    and m.startswith('42["closing"'), "closing", timeout)
        assert isinstance(frame, str)
        data = json.loads(frame[2:])[1]
        return int(data["code"]), str(data["reason"])

    async def wait_closed(self, timeout: float = 10.0) -> float:
        """Seconds until the server closed the WebSocket."""
        start = time.monotonic()
        await asyncio.wait_for(self.closed.wait(), timeout)
        return time.monotonic() - start

    async def aclose(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.wait([self._reader], timeout=5)


async def tcp_held_for(port: int, payload: bytes = b"", *, trickle: bytes = b"",
                       every: float = 0.2, limit: float = 15.0) -> tuple[float, bytes]:
    """Open a TCP connection, send ``payload``, then ``trickle`` one byte at a time.

    Returns how long the server kept the connection open (capped at ``limit``) and what
    it sent back.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.monotonic()
    received = b""
    try:
        if payload:
            writer.write(payload)
            await writer.drain()

        async def read_until_closed() -> None:
            nonlocal received
            while chunk := await reader.read(4096):
                received += chunk

        async def drip() -> None:
            for byte in trickle:
                await asyncio.sleep(every)
                writer.write(bytes([byte]))
                await writer.drain()
            await asyncio.sleep(limit)

        dripping = asyncio.create_task(drip())
        try:
            await asyncio.wait_for(read_until_closed(), limit)
        except (TimeoutError, ConnectionError):
            pass
        finally:
            dripping.cancel()
            await asyncio.gather(dripping, return_exceptions=True)
        return time.monotonic() - start, received
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
