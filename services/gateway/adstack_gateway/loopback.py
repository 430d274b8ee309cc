"""In-process transports: a client connection without a socket, for tests and tools.

:class:`LoopbackTransport` is a :class:`~adstack_gateway.session.Transport` (the queued
path): it hands each message to an in-memory client that can stop reading (its ``send``
then waits, as a socket whose peer stopped reading does once the buffers are full).
:class:`LoopbackSocket` is a :class:`~adstack_gateway.session.DirectSocket` (the direct
path): it takes complete WebSocket frames and keeps the unread bytes, which is what the
session's ``SLOW`` rule measures. Both record the close code and reason they were given.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from adstack_gateway.outgoing import Outgoing

_decoder = msgspec.json.Decoder()


class LoopbackTransport:
    """A client on the other end of the session's queued path."""

    def __init__(self, *, sid: str | None = None) -> None:
        self.texts: list[str] = []
        """Native frames received, in order."""
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.closed = asyncio.Event()
        self._reading = asyncio.Event()
        self._reading.set()
        if sid is not None:
            self.sid = sid
            """Socket.IO's socket id, when the client plays one (``connected.socketId``)."""

    async def send(self, message: Outgoing) -> None:
        await self._reading.wait()
        self.texts.append(message.text)

    async def close(self, code: int, reason: str) -> None:
        self.close_code, self.close_reason = code, reason
        self._reading.set()
        self.closed.set()

    def stop_reading(self) -> None:
        """Writes wait from now on (a client that stopped reading its socket)."""
        self._reading.clear()

    def resume_reading(self) -> None:
        self._reading.set()

    @property
    def frames(self) -> list[dict[str, Any]]:
        """Every frame received, decoded."""
        return [_decoder.decode(text) for text in self.texts]


class LoopbackSocket:
    """A direct socket: whole server frames in, unread bytes kept until the client reads."""

    def __init__(self) -> None:
        self.unread = bytearray()
        self.writes = 0
        """``write_frames`` calls (the direct path makes one per session per iteration)."""
        self.open = True

    def frames_open(self) -> bool:
        return self.open

    def write_frames(self, data: bytes) -> int:
        self.writes += 1
        self.unread += data
        return len(self.unread)

    def read(self) -> list[dict[str, Any]]:
        """The client reads everything written so far: the frames' payloads, decoded."""
        data, self.unread = bytes(self.unread), bytearray()
        return [_decoder.decode(payload) for payload in split_frames(data)]


def split_frames(data: bytes) -> list[bytes]:
    """The payloads of consecutive unmasked WebSocket frames (server to client)."""
    out: list[bytes] = []
    at = 0
    while at < len(data):
        size = data[at + 1] & 0x7F
        at += 2
        if size == 126:
            size = int.from_bytes(data[at:at + 2], "big")
            at += 2
        elif size == 127:
            size = int.from_bytes(data[at:at + 8], "big")
            at += 8
        out.append(data[at:at + size])
        at += size
    return out
