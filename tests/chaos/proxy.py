"""A TCP proxy whose connections can be cut abruptly (a client losing its network)."""

from __future__ import annotations

import asyncio
import contextlib


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to a target; :meth:`cut` aborts every live connection."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.refusing = False
        """While True (see :meth:`down`), new connections are closed at once."""

    async def start(self) -> CuttableProxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                # Forward in two halves so a cut can land in the middle of a frame.
                half = max(1, len(data) // 2)
                writer.write(data[:half])
                await writer.drain()
                writer.write(data[half:])
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except asyncio.CancelledError:
            pass  # the proxy stopped
        finally:
            self._writers -= {writer, up_writer}

    def cut(self) -> int:
        """Abort every proxied connection (RST, no close handshake). Returns how many."""
        cut = 0
        for writer in list(self._writers):
            transport = writer.transport
            if not transport.is_closing():
                transport.abort()
                cut += 1
        self._writers.clear()
        return cut

    def down(self) -> int:
        """Cut every connection and refuse new ones until :meth:`up` (a link that stays
        down, e.g. a network partition between a gateway and Redis)."""
        self.refusing = True
        return self.cut()

    def up(self) -> None:
        self.refusing = False

    async def stop(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
