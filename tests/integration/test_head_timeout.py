"""The request-head deadline both services run with, on a real uvicorn server and real
sockets: late heads are closed, nothing that got its head in time is cut."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
import websockets

from adstack_localredis import free_port
from adstack_runtime.headtimeout import head_timeout_protocol
from adstack_runtime.serve import server_config
from tests.helpers.hostile import tcp_held_for

TIMEOUT = 0.5
BOUND = TIMEOUT + 2.5


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message.get("text") or ""})
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(TIMEOUT * 3)  # longer than the head deadline
    body = scope["path"].encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture()
async def port() -> AsyncIterator[int]:
    number = free_port()
    config = server_config(app, host="127.0.0.1", port=number, log_level="warning",
                           head_timeout=TIMEOUT)
    config.log_config = None
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield number
    server.should_exit = True
    await task


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


@pytest.mark.parametrize(("payload", "trickle"), [
    (b"", b""),                                             # half-open
    (b"GET / HTTP/1.1\r\nHost: x\r\n", b""),                 # head never finished
    (b"GET / HTTP/1.1\r\n", b"X-Drip: " + b"a" * 40),        # a byte every 100 ms
])
async def test_a_late_head_is_closed(port: int, payload: bytes, trickle: bytes) -> None:
    held, answer = await tcp_held_for(port, payload, trickle=trickle, every=0.1, limit=10)
    assert TIMEOUT * 0.8 <= held <= BOUND, held
    assert answer == b""


async def test_a_slow_response_is_not_cut(port: int) -> None:
    held, answer = await tcp_held_for(port, get("/slow") + get("/next"), limit=10)
    assert answer.count(b"HTTP/1.1 200") == 2, answer  # pipelined behind it, served too
    assert answer.endswith(b"/next")
    assert held >= TIMEOUT * 3


async def test_each_request_on_a_kept_alive_connection_has_the_deadline(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for path in ("/one", "/two"):
            writer.write(get(path))
            await writer.drain()
            assert (await reader.readuntil(path.encode())).startswith(b"HTTP/1.1 200")
            await asyncio.sleep(TIMEOUT / 2)
        writer.write(b"GET /three HTTP/1.1\r\n")  # half a head, then nothing
        await writer.drain()
        start = time.monotonic()
        assert await asyncio.wait_for(reader.read(), BOUND) == b""
        assert time.monotonic() - start <= BOUND
    finally:
        writer.close()


async def test_a_websocket_outlives_the_deadline(port: int) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
        for n in range(3):
            await asyncio.sleep(TIMEOUT)
            await ws.send(f"m{n}")
            assert await ws.recv() == f"m{n}"


def test_the_deadline_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        head_timeout_protocol(0)
    assert head_timeout_protocol(2.5).head_timeout == 2.5
