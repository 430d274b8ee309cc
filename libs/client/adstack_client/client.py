"""The reconnecting WebSocket client."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from adstack_client.backoff import full_jitter
from adstack_client.models import Event, RecoveryFailed, Reverted, SubscriptionItem
from adstack_client.positions import parse_epoch, parse_offset
from adstack_protocol import ClientCommand, ServerEvent, close_is_terminal

log = logging.getLogger(__name__)


class ClientClosed(Exception):
    """The client stopped: closed by you, or the server refused it for good."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class RequestError(Exception):
    """The server answered a request with an ``error`` frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


_END = object()

class _Subscription:
    def __init__(self, contract_id: str, event_types: tuple[str, ...] | None) -> None:
        self.contract_id = contract_id
        self.event_types = event_types
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.epoch = ""
        self.offset = 0

    def request(self) -> dict[str, Any]:
        data: dict[str, Any] = {"contractId": self.contract_id}
        if self.event_types:
            data["eventTypes"] = list(self.event_types)
        if self.epoch:
            data["since"] = {"offset": self.offset, "epoch": self.epoch}
        return data


class Client:
    """One logical connection to a set of equivalent gateways.

    On any non-terminal disconnect it reconnects (rotating through ``urls``) with
    exponential backoff and full jitter, and re-subscribes with ``since`` so that every
    subscription continues exactly where it stopped — or yields :class:`RecoveryFailed`.
    """

    def __init__(self, urls: str | Sequence[str], *, token: str | None = None,
                 max_backoff: float = 5.0, request_timeout: float = 10.0) -> None:
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        self.token = token
        self.max_backoff = max_backoff
        self.request_timeout = request_timeout
        self._subs: dict[str, _Subscription] = {}
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._ws: ClientConnection | None = None
        self._runner: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closed: ClientClosed | None = None
        self.connections = 0
        """How many times a connection was established (1 + reconnects)."""

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        return self._closed is not None

    async def start(self, timeout: float = 10.0) -> None:
        """Connect (retrying) and start the background reader."""
        self._runner = asyncio.create_task(self._run(), name="adstack-client")
        waiter = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait({waiter, self._runner}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            if self._runner.done() and self._runner.exception() is not None:
                raise self._runner.exception()  # type: ignore[misc]
            raise TimeoutError("could not connect to any gateway")

    async def close(self) -> None:
        self._shutdown(ClientClosed("client closed"))
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner

    def _shutdown(self, reason: ClientClosed) -> None:
        if self._closed is not None:
            return
        self._closed = reason
        for sub in self._subs.values():
            sub.queue.put_nowait(_END)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(reason)

    def _url(self, attempt: int) -> str:
        url = self.urls[attempt % len(self.urls)]
        if self.token:
            url += ("&" if "?" in url else "?") + f"token={self.token}"
        return url

    async def _run(self) -> None:
        attempt = 0
        failures = 0
        while self._closed is None:
            url = self._url(attempt)
            attempt += 1
            try:
                async with websockets.connect(url, compression=None, open_timeout=5,
                                              max_size=2**22) as ws:
                    self._ws = ws
                    self.connections += 1
                    failures = 0
                    await self._resubscribe(ws)
                    self._ready.set()
                    async for raw in ws:
                        self._dispatch(json.loads(raw))
                    code = ws.close_code
            except websockets.ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else None
            except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
                # (the base URL: the one tried carries the token)
                log.debug("connect to %s failed: %s", self.urls[(attempt - 1) % len(self.urls)],
                          exc)
                code = None
            finally:
                self._ws = None
                self._ready.clear()
                for future in self._pending.values():
                    if not future.done():
                        future.set_exception(ConnectionError("disconnected"))
                self._pending.clear()
            if self.is_closed:
                break
            if code is not None and close_is_terminal(code):
                self._shutdown(ClientClosed(f"server closed the connection ({code})", code))
                break
            await asyncio.sleep(full_jitter(failures, cap=self.max_backoff))
            failures += 1

    async def _resubscribe(self, ws: ClientConnection) -> None:
        """Send every subscription again (with ``since``) right after connecting."""
        for sub in self._subs.values():
            await ws.send(json.dumps({"event": ClientCommand.SUBSCRIBE, "data": sub.request()}))

    # -- frames ---------------------------------------------------------------------------

    def _dispatch(self, frame: dict[str, Any]) -> None:
        event = frame.get("event")
        data = frame.get("data") or {}
        if not isinstance(data, dict):
            return
        request_id = frame.get("requestId")
        # A position that does not parse strictly never moves the client's own position
        # (nor raises here, which would end the connection loop).
        offset = parse_offset(data.get("offset", 0))
        epoch = parse_epoch(data.get("epoch", ""))
        if event == ServerEvent.EVENT:
            self._on_event(data, offset, epoch)
        elif event == ServerEvent.EVENT_REVERTED:
            self._on_reverted(data, offset, epoch)
        elif event == ServerEvent.SUBSCRIBED and "contractId" in data:
            self._on_subscribed(data, offset, epoch)
        if request_id is not None:
            future = self._pending.pop(str(request_id), None)
            if future is not None and not future.done():
                if event == ServerEvent.ERROR:
                    future.set_exception(RequestError(data.get("code", ""),
                                                      data.get("message", "")))
                else:
                    future.set_result(data)

    def _on_event(self, data: dict[str, Any], offset: int | None, epoch: str | None) -> None:
        sub = self._subs.get(data.get("contractId", ""))
        if sub is None:
            return
        if offset and epoch == sub.epoch and offset <= sub.offset:
            return  # already delivered (overlap at a reconnect seam)
        if offset and epoch is not None:
            sub.offset, sub.epoch = offset, epoch
        sub.queue.put_nowait(Event(data))

    def _on_reverted(self, data: dict[str, Any], offset: int | None,
                     epoch: str | None) -> None:
        sub = self._subs.get(data.get("contractId", ""))
        if sub is not None:
            if offset and epoch is not None:
                sub.offset, sub.epoch = max(sub.offset, offset), epoch
            sub.queue.put_nowait(Reverted(sub.contract_id, list(data.get("ids", [])), data))

    def _on_subscribed(self, data: dict[str, Any], offset: int | None,
                       epoch: str | None) -> None:
        sub = self._subs.get(data["contractId"])
        if sub is not None:
            if data.get("recovered") is False:
                sub.queue.put_nowait(RecoveryFailed(sub.contract_id, epoch or "",
                                                    offset or 0))
            if ((data.get("recovered") is False or not sub.epoch)
                    and offset is not None and epoch is not None):
                sub.epoch, sub.offset = epoch, offset

    # -- API ------------------------------------------------------------------------------

    async def request(self, event: str, data: dict[str, Any] | None = None) -> Any:
        """Send a command and return its reply's ``data`` (raises :class:`RequestError`)."""
        if self._closed is not None:
            raise self._closed
        await asyncio.wait_for(self._ready.wait(), self.request_timeout)
        ws = self._ws
        assert ws is not None, "ready implies a connection"
        request_id = str(next(self._ids))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        await ws.send(json.dumps({"event": event, "data": data, "requestId": request_id}))
        return await asyncio.wait_for(future, self.request_timeout)

    async def history(self, contract_id: str, limit: int = 50) -> list[dict[str, Any]]:
        reply = await self.request(ClientCommand.GET_HISTORY,
                                   {"contractId": contract_id, "limit": limit})
        return list(reply["events"])

    async def stats(self, contract_id: str) -> dict[str, Any]:
        return dict(await self.request(ClientCommand.GET_STATS, {"contractId": contract_id}))

    async def subscribe(self, contract_id: str, *, event_types: Sequence[str] | None = None
                        ) -> AsyncIterator[SubscriptionItem]:
        """Subscribe and yield the contract's events (and reverts / recovery failures).

        Use as ``async for item in client.subscribe(...)``; leaving the loop unsubscribes.
        Raises :class:`ClientClosed` if the server ends the connection for good.
        """
        if contract_id in self._subs:
            raise ValueError(f"already subscribed to {contract_id}")
        sub = _Subscription(contract_id, tuple(event_types) if event_types else None)
        self._subs[contract_id] = sub
        try:
            reply = await self.request(ClientCommand.SUBSCRIBE, sub.request())
            offset = parse_offset(reply.get("offset", 0))
            epoch = parse_epoch(reply.get("epoch", ""))
            if not sub.epoch and offset is not None and epoch is not None:
                sub.epoch, sub.offset = epoch, offset
            while True:
                item = await sub.queue.get()
                if item is _END:
                    if self._closed is not None and self._closed.code is not None:
                        raise self._closed
                    return
                assert isinstance(item, Event | Reverted | RecoveryFailed)
                yield item
        finally:
            if self._subs.get(contract_id) is sub:
                del self._subs[contract_id]
                if self._closed is None and self._ws is not None:
                    with contextlib.suppress(Exception):
                        await self.request(ClientCommand.UNSUBSCRIBE,
                                           {"contractId": contract_id})


@asynccontextmanager
async def connect(urls: str | Sequence[str], *, token: str | None = None,
                  max_backoff: float = 5.0) -> AsyncIterator[Client]:
    """Connect to one of ``urls``; the client reconnects by itself until the block exits."""
    client = Client(urls, token=token, max_backoff=max_backoff)
    await client.start()
    try:
        yield client
    finally:
        await client.close()
