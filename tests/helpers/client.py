"""Test clients that record every frame they receive: native ``/ws`` and Socket.IO.

Both offer the same API (``send``, ``of``, ``wait_for``, ``request``, ``wait_closed``,
``close_code``), so protocol tests run unchanged on every transport.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Self

import aiohttp
import socketio
import websockets
from websockets.asyncio.client import ClientConnection


class FrameLog:
    """Received frames in order, and ways to wait for them."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason: str | None = None

    @property
    def closed(self) -> bool:
        raise NotImplementedError

    async def open(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def record(self, event: str, data: Any) -> None:
        self.frames.append({"event": event, "data": data})
        self._changed.set()

    def changed(self) -> None:
        self._changed.set()

    async def send(self, event: str, data: Any = None, **extra: Any) -> None:
        raise NotImplementedError

    def of(self, event: str) -> list[Any]:
        """Data of every received frame named ``event``, in order."""
        return [f["data"] for f in self.frames if f["event"] == event]

    async def _until(self, check: Any, what: str, timeout: float) -> Any:
        async def loop() -> Any:
            while True:
                result = check()
                if result is not None:
                    return result
                if self.closed:
                    raise AssertionError(
                        f"closed ({self.close_code} {self.close_reason}) waiting for {what}")
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(loop(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"timed out waiting for {what}; got "
                f"{[f['event'] for f in self.frames][-20:]}") from None

    async def wait_for(self, event: str, count: int = 1, timeout: float = 10.0) -> list[Any]:
        """Wait until at least ``count`` frames named ``event`` arrived; return their data."""
        return list(await self._until(
            lambda: self.of(event) if len(self.of(event)) >= count else None,
            f"{count} {event!r}", timeout))

    async def request(self, event: str, data: Any, reply: str, timeout: float = 10.0,
                      **extra: Any) -> Any:
        """Send a command and wait for the next ``reply`` (or ``error``: ``{"error": …}``)."""
        before_reply, before_error = len(self.of(reply)), len(self.of("error"))
        await self.send(event, data, **extra)

        def check() -> Any:
            if len(self.of(reply)) > before_reply:
                return self.of(reply)[before_reply]
            if len(self.of("error")) > before_error:
                return {"error": self.of("error")[before_error]}
            return None

        return await self._until(check, reply, timeout)

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        await self._until(lambda: True if self.closed else None, "close", timeout)
        return self.close_code


class WsClient(FrameLog):
    """Native-protocol client (``websockets``); the token goes in the ``token`` query."""

    def __init__(self, url: str, token: str | None = None, **connect_kwargs: Any) -> None:
        super().__init__()
        if token:
            url += ("&" if "?" in url else "?") + f"token={token}"
        self.url = url
        self.connect_kwargs = connect_kwargs
        self.ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self.ws = await websockets.connect(self.url, compression=None, **self.connect_kwargs)
        self._reader = asyncio.create_task(self._read())

    async def aclose(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.wait([self._reader], timeout=5)

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                self.frames.append(frame)
                self.changed()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason
            self.changed()

    @property
    def closed(self) -> bool:
        return self._reader is not None and self._reader.done()

    async def send(self, event: str, data: Any = None, **extra: Any) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps({"event": event, "data": data, **extra}))


class _ReadPostReplies(aiohttp.ClientResponse):
    """python-engineio's polling client never reads its POST replies; read them at once so
    their connections go back to the pool (otherwise aiohttp warns when they are
    garbage-collected, possibly during a later test)."""

    async def start(self, connection: Any) -> aiohttp.ClientResponse:
        response = await super().start(connection)
        if self.method == "POST":
            await self.read()
        return response


class SioClient(FrameLog):
    """Socket.IO client (python-socketio ``AsyncClient``) on one transport.

    The token goes in ``auth.token``. ``close_code`` comes from the server's ``closing``
    event. A ``requestId`` passed to :meth:`send` travels inside ``data``, as Socket.IO
    clients must send it.
    """

    def __init__(self, base_url: str, token: str | None = None, *,
                 transport: str = "websocket", auth: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None, reconnection: bool = False,
                 **client_kwargs: Any) -> None:
        super().__init__()
        self.base_url = base_url
        self.transport = transport
        self.auth = auth if auth is not None else ({"token": token} if token else None)
        self.headers = headers or {}
        self.http = aiohttp.ClientSession(response_class=_ReadPostReplies)
        self.sio = socketio.AsyncClient(reconnection=reconnection, http_session=self.http,
                                        **client_kwargs)
        self.connect_error: Any = None
        self.disconnected = asyncio.Event()
        self.disconnect_reason: str | None = None
        self.connects = 0

        @self.sio.on("*")
        async def any_event(event: str, *args: Any) -> None:
            data = args[0] if args else None
            if event == "closing":
                self.close_code, self.close_reason = data["code"], data["reason"]
            self.record(event, data)

        @self.sio.event
        async def connect() -> None:
            self.connects += 1
            self.disconnected.clear()
            self.changed()

        @self.sio.event
        async def connect_error(data: Any) -> None:
            self.connect_error = data
            self.changed()

        @self.sio.event
        async def disconnect(reason: str = "") -> None:
            self.disconnect_reason = reason
            self.disconnected.set()
            self.changed()

    async def connect(self) -> None:
        await self.sio.connect(self.base_url, auth=self.auth, headers=self.headers,
                               transports=[self.transport], wait_timeout=10)

    async def refused(self) -> dict[str, Any]:
        """Connect expecting a refusal; the ``connect_error`` data (``{message, data}``)."""
        try:
            await self.connect()
        except socketio.exceptions.ConnectionError:
            pass
        else:
            await self.sio.disconnect()
            raise AssertionError("connection was accepted")
        await self.aclose()
        assert isinstance(self.connect_error, dict), self.connect_error
        return self.connect_error

    async def open(self) -> None:
        await self.connect()

    async def aclose(self) -> None:
        await self.sio.disconnect()
        await self.http.close()

    @property
    def closed(self) -> bool:
        return self.disconnected.is_set()

    async def send(self, event: str, data: Any = None, **extra: Any) -> None:
        if "requestId" in extra:
            data = {**(data or {}), "requestId": extra.pop("requestId")}
        assert not extra, f"Socket.IO events carry no envelope fields: {extra}"
        await self.sio.emit(event, data)

    async def call(self, event: str, data: Any = None, timeout: float = 10.0) -> Any:
        """Emit with an acknowledgement and return what the server acknowledged."""
        return await self.sio.call(event, data, timeout=timeout)
