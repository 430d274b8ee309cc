"""Direct frame writes against a real uvicorn server and real WebSocket clients.

The gateway writes relayed frames straight to uvicorn's connection (``_uvicorn_ws.py``),
coalesced once per event-loop iteration (``session.Flusher``). These tests check that such
frames arrive whole and in order among the frames uvicorn writes itself, that one iteration
costs one write per client, that nothing is written once a close has started, that a
compressed connection keeps the ASGI path, and that the gateway app wires it all up.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
import websockets
from starlette.websockets import WebSocket

from adstack_auth import Claims
from adstack_gateway._uvicorn_ws import SEND_KEY, GatewayWebSocketProtocol, direct_socket
from adstack_gateway.app import create_app
from adstack_gateway.outgoing import Outgoing
from adstack_gateway.session import Flusher, Session
from adstack_gateway.settings import GatewaySettings
from adstack_gateway.ws import NativeTransport
from adstack_localredis import free_port
from tests.helpers.events import CAMPAIGN, make_event, publish

App = Callable[[Any, Any, Any], Awaitable[None]]


class CountingProtocol(GatewayWebSocketProtocol):
    """The real protocol; it also counts direct writes."""

    writes = 0

    def write_frames(self, data: bytes) -> int:
        CountingProtocol.writes += 1
        return super().write_frames(data)


@asynccontextmanager
async def serve(app: App, **config: Any) -> AsyncIterator[int]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, ws=config.pop("ws", CountingProtocol),
        ws_per_message_deflate=config.pop("deflate", False), lifespan=config.pop(
            "lifespan", "off"), log_level="warning", log_config=None, **config))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), task
            await asyncio.sleep(0.02)
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def message(n: int) -> Outgoing:
    return Outgoing.from_wire(json.dumps(
        {"event": "event", "data": {"n": n, "type": "t", "offset": n, "epoch": "e"}}).encode())


async def test_direct_frames_arrive_whole_in_order_one_write_per_iteration() -> None:
    seen: dict[str, Any] = {}
    done = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope[SEND_KEY] = send
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        flusher = Flusher()
        session = Session("s1", Claims.anonymous(), NativeTransport(websocket),
                          flusher=flusher)
        session.direct = direct_socket(scope)
        seen["direct"] = session.direct
        before = CountingProtocol.writes
        for n in range(1, 4):  # one iteration: one write for the three frames
            session.offer(message(n))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        seen["writes"] = CountingProtocol.writes - before
        # A frame uvicorn writes itself (the ASGI path) comes after them.
        await websocket.send_text('{"event":"asgi"}')
        session.offer(message(4))
        session.close_soon(4000, "bye")  # frames due this iteration go out before the close
        session.offer(message(5))  # after the close: dropped
        await asyncio.sleep(0.2)
        assert session.direct is not None
        seen["open_after_close"] = session.direct.frames_open()
        done.set()
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    async with serve(app) as port:
        async with websockets.connect(f"ws://127.0.0.1:{port}/", compression=None) as ws:
            frames = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(5)]
            # Next comes the close frame, nothing else (message 5 was offered after the close).
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000
        await asyncio.wait_for(done.wait(), 5)
    assert isinstance(seen["direct"], CountingProtocol)
    assert seen["writes"] == 1
    assert [f.get("data", {}).get("n") for f in frames] == [1, 2, 3, None, 4]
    assert frames[3] == {"event": "asgi"}
    assert seen["open_after_close"] is False


async def test_a_compressed_connection_keeps_the_asgi_path() -> None:
    found: list[object] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope[SEND_KEY] = send
        websocket = WebSocket(scope, receive, send)
        await websocket.accept()
        found.append(direct_socket(scope))
        await websocket.send_text("ok")
        await websocket.receive()

    async with serve(app, deflate=True) as port:
        for compression in ("deflate", None):
            async with websockets.connect(f"ws://127.0.0.1:{port}/",
                                          compression=compression) as ws:
                assert await asyncio.wait_for(ws.recv(), 5) == "ok"
    assert found[0] is None  # permessage-deflate negotiated: websockets must frame
    assert isinstance(found[1], GatewayWebSocketProtocol)


async def test_the_gateway_relays_through_the_direct_path_and_can_turn_it_off(
        clean_redis: str) -> None:
    for direct in (True, False):
        # No history push after subscribed: the second round subscribes where the first
        # published, and this counts frames.
        settings = GatewaySettings(skip_auth=True, redis_url=clean_redis,
                                   ws_direct_write=direct, subscribe_history=0)
        gateway_app = create_app(settings)
        async with (serve(gateway_app, lifespan="on") as port,
                    websockets.connect(f"ws://127.0.0.1:{port}/ws", compression=None) as ws):
            assert json.loads(await ws.recv())["event"] == "connected"
            await ws.send(json.dumps({"event": "subscribe",
                                      "data": {"contractId": CAMPAIGN}}))
            assert json.loads(await ws.recv())["event"] == "subscribed"
            (session,) = gateway_app.gateway.sessions
            assert (session.direct is not None) is direct
            events = [make_event(CAMPAIGN, n + 10 * direct) for n in range(3)]
            await publish(clean_redis, events)
            got = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in events]
            assert [g["data"]["id"] for g in got] == [e.id for e in events]
            assert session.sent == 5  # connected, subscribed and the three events
            assert gateway_app.gateway.hub.delivered == 3


async def test_socketio_over_websocket_moves_to_direct_frames_and_polling_does_not(
        clean_redis: str) -> None:
    """WebSocket from the start, and polling that upgrades, end on direct frames;
    polling only stays on the queued path."""
    import socketio

    gateway_app = create_app(GatewaySettings(skip_auth=True, redis_url=clean_redis))
    async with serve(gateway_app, lifespan="on") as port:
        for transports, n0 in ((["websocket"], 0), (["polling", "websocket"], 10),
                               (["polling"], 20)):
            websocket = "websocket" in transports
            client = socketio.AsyncClient(reconnection=False)
            got: list[dict[str, Any]] = []
            client.on("event", lambda data, got=got: got.append(data))
            await client.connect(f"http://127.0.0.1:{port}", transports=transports,
                                 wait_timeout=10)
            try:
                reply = await client.call("subscribe", {"contractId": CAMPAIGN}, timeout=5)
                assert reply["event"] == "subscribed"
                (session,) = gateway_app.gateway.sessions
                deadline = time.monotonic() + 5
                while websocket and session.direct is None:
                    assert time.monotonic() < deadline, "never moved to direct frames"
                    await asyncio.sleep(0.02)
                assert (session.direct is not None) is websocket
                events = [make_event(CAMPAIGN, n0 + n) for n in range(3)]
                await publish(clean_redis, events)
                while len(got) < len(events):
                    assert time.monotonic() < deadline + 5, got
                    await asyncio.sleep(0.02)
                assert [g["id"] for g in got] == [e.id for e in events]
                # Commands keep working (and ordered) on the direct path.
                pong = await client.call("ping", None, timeout=5)
                assert pong["event"] == "pong"
            finally:
                await client.disconnect()
            deadline = time.monotonic() + 5
            while gateway_app.gateway.sessions:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
