"""A minimal WebSocket client protocol for load generation (RFC 6455, text frames only).

It costs a few microseconds per received frame, so one load process can take hundreds of
thousands of events per second; the gateway, not the load generator, stays the limit.
Server frames are unmasked; the frames we send are masked, as the RFC requires.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit

OnTexts = Callable[["RawClient", list[bytes]], None]
"""Called with the connection and the text payloads (bytes) of one read."""


def mask_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked client frame (FIN set)."""
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return header + key + masked


class RawClient(asyncio.Protocol):
    """One connection. ``on_texts`` gets it and the text payloads of each read."""

    def __init__(self, path: str, host: str, on_texts: OnTexts) -> None:
        self.path = path
        self.host = host
        self.on_texts = on_texts
        self.transport: asyncio.Transport | None = None
        self.upgraded = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None
        self._buf = bytearray()
        self._handshake_done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; they have the same API.
        self.transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n\r\n".encode())

    def _handshake(self, data: bytes) -> bytes:
        """Read the upgrade answer: the bytes after it once it is complete and ``101``;
        ``b""`` while it is incomplete or when it was refused (the connection is then closed)."""
        buf = self._buf
        buf += data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return b""
        status = bytes(buf[:12])
        del buf[: end + 4]
        if b" 101" not in status:
            if not self.upgraded.done():
                self.upgraded.set_exception(ConnectionError(status.decode(errors="replace")))
            assert self.transport is not None
            self.transport.close()
            return b""
        self._handshake_done = True
        if not self.upgraded.done():
            self.upgraded.set_result(None)
        rest = bytes(buf)
        buf.clear()
        return rest

    def _control(self, opcode: int, payload: bytes) -> None:
        """A frame that is no text: answer a ping, echo a close (others are ignored)."""
        if opcode == 0x9:
            self.send(payload, opcode=0xA)
        elif opcode == 0x8:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.send(payload[:2], opcode=0x8)
            assert self.transport is not None
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        if not self._handshake_done:
            data = self._handshake(data)  # b"" until upgraded: nothing below runs
        elif buf:
            data = b"".join((buf, data))  # one copy of the leftover and the new read
            buf.clear()
        # ``data`` holds whole frames and maybe the start of one: parse it in place.
        pos = 0
        n = len(data)
        texts: list[bytes] = []
        while n - pos >= 2:
            b0 = data[pos]
            length = data[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                head = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                head = 10
            if n - pos < head + length:
                break
            opcode = b0 & 0x0F
            start = pos + head
            pos = start + length
            if opcode <= 0x1:
                texts.append(data[start:pos])
            else:  # ping, close: rare, out of the loop's way
                self._control(opcode, data[start:pos])
        if pos < n:
            buf += memoryview(data)[pos:]
        if texts:
            self.on_texts(self, texts)

    def send(self, payload: bytes, opcode: int = 0x1) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(mask_frame(payload, opcode))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(exc or ConnectionError("closed during handshake"))
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.send(struct.pack("!H", 1000), opcode=0x8)
            self.transport.close()


async def open_raw(url: str, on_texts: OnTexts, timeout: float = 30.0) -> RawClient:
    """Connect to ``ws://host:port/path?query`` and complete the upgrade."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    loop = asyncio.get_running_loop()
    _transport, protocol = await asyncio.wait_for(
        loop.create_connection(lambda: RawClient(path, f"{host}:{port}", on_texts), host, port),
        timeout)
    await asyncio.wait_for(protocol.upgraded, timeout)
    return protocol
