"""A native-protocol WebSocket test client that records every frame it receives."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection


class WsClient:
    """Connects, records frames in order, and lets tests wait for what they expect."""

    def __init__(self, url: str, token: str | None = None, **connect_kwargs: Any) -> None:
        if token:
            url += ("&" if "?" in url else "?") + f"token={token}"
        self.url = url
        self.connect_kwargs = connect_kwargs
        self.frames: list[dict[str, Any]] = []
        self.ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason: str | None = None

    async def __aenter__(self) -> WsClient:
        self.ws = await websockets.connect(self.url, compression=None, **self.connect_kwargs)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.wait([self._reader], timeout=5)

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                self.frames.append(json.loads(raw))
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason
            self._changed.set()

    @property
    def closed(self) -> bool:
        return self._reader is not None and self._reader.done()

    async def send(self, event: str, data: Any = None, **extra: Any) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps({"event": event, "data": data, **extra}))

    def of(self, event: str) -> list[dict[str, Any]]:
        """Data of every received frame named ``event``, in order."""
        return [f["data"] for f in self.frames if f["event"] == event]

    async def wait_for(self, event: str, count: int = 1, timeout: float = 10.0) -> list[Any]:
        """Wait until at least ``count`` frames named ``event`` arrived; return their data."""
        async def cond() -> None:
            while len(self.of(event)) < count:
                if self.closed:
                    raise AssertionError(
                        f"closed ({self.close_code} {self.close_reason}) waiting for {event}")
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(cond(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"timed out waiting for {count} {event!r}; got {len(self.of(event))}: "
                f"{[f['event'] for f in self.frames][-20:]}") from None
        return self.of(event)

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        assert self._reader is not None
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.close_code

    async def request(self, event: str, data: Any, reply: str, timeout: float = 10.0) -> Any:
        """Send a command and wait for the next ``reply`` (or ``error``) frame."""
        before_reply, before_error = len(self.of(reply)), len(self.of("error"))
        await self.send(event, data)

        async def cond() -> Any:
            while True:
                if len(self.of(reply)) > before_reply:
                    return self.of(reply)[before_reply]
                if len(self.of("error")) > before_error:
                    return {"error": self.of("error")[before_error]}
                if self.closed:
                    raise AssertionError(f"closed ({self.close_code}) waiting for {reply}")
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(cond(), timeout)
