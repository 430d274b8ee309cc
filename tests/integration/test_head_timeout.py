"""The request-head and request-body deadlines both services run with, on a real uvicorn
server and real sockets: late heads are closed, late bodies get 408 and are closed, the app
waiting for a late body is released, and nothing that got its head (and body) in time is
cut."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
import websockets

from adstack_localredis import free_port
from adstack_runtime.headtimeout import body_timed_out, head_timeout_protocol
from adstack_runtime.serve import server_config
from tests.helpers.hostile import tcp_held_for

TIMEOUT = 0.5
BOUND = TIMEOUT + 2.5
BODY_TIMEOUT = 1.0
BODY_BOUND = BODY_TIMEOUT + 2.5

ended: list[tuple[str, bool]] = []
"""How each request that read a body ended: (the last ASGI message type, body_timed_out)."""


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
    if scope["path"].startswith("/read"):
        size, message = 0, {"more_body": True}
        while message.get("more_body"):
            message = await receive()
            size += len(message.get("body", b""))
            if message["type"] == "http.disconnect":
                ended.append((message["type"], body_timed_out(scope)))
                return
        ended.append((message["type"], body_timed_out(scope)))
        if scope["path"] == "/read-then-think":
            await asyncio.sleep(BODY_TIMEOUT * 2)  # longer than the body deadline
        scope = {**scope, "path": f"/read {size}"}
    body = scope["path"].encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def serving(head_timeout: float) -> AsyncIterator[int]:
    number = free_port()
    config = server_config(app, host="127.0.0.1", port=number, log_level="warning",
                           head_timeout=head_timeout, body_timeout=BODY_TIMEOUT)
    config.log_config = None
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield number
    server.should_exit = True
    await task


@pytest.fixture()
async def port() -> AsyncIterator[int]:
    async with serving(TIMEOUT) as number:
        yield number


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def post(path: str, length: int | None) -> bytes:
    """A POST head: ``Content-Length: length``, or chunked when ``length`` is None."""
    framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    return f"POST {path} HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n".encode()


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


KEPT_ALIVE_TIMEOUT = 2.0
"""Head deadline of the kept-alive test: its idle gaps (half of it) keep 1 s to spare."""


async def test_each_request_on_a_kept_alive_connection_has_the_deadline() -> None:
    async with serving(KEPT_ALIVE_TIMEOUT) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            # Three requests 1 s apart: the connection outlives one deadline (2 s), each
            # request keeps its own.
            for path in ("/one", "/two", "/three"):
                writer.write(get(path))
                await writer.drain()
                assert (await reader.readuntil(path.encode())).startswith(b"HTTP/1.1 200")
                await asyncio.sleep(KEPT_ALIVE_TIMEOUT / 2)
            writer.write(b"GET /four HTTP/1.1\r\n")  # half a head, then nothing
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), KEPT_ALIVE_TIMEOUT + 10) == b""
        finally:
            writer.close()


async def test_a_websocket_outlives_the_deadline(port: int) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
        for n in range(3):
            await asyncio.sleep(TIMEOUT)
            await ws.send(f"m{n}")
            assert await ws.recv() == f"m{n}"


@pytest.mark.parametrize(("payload", "trickle"), [
    (post("/read", 1000) + b"x" * 100, b""),                  # part of the body, then nothing
    (post("/read", 1000), b"x" * 40),                          # a byte every 100 ms
    (post("/read", None) + b"10\r\n" + b"x" * 16 + b"\r\n", b"1\r\nx\r\n" * 10),  # chunked
], ids=["stalled", "trickled", "chunked-trickled"])
async def test_a_late_body_gets_408_and_the_app_is_released(
        port: int, payload: bytes, trickle: bytes) -> None:
    ended.clear()
    held, answer = await tcp_held_for(port, payload, trickle=trickle, every=0.1, limit=10)
    assert BODY_TIMEOUT * 0.8 <= held <= BODY_BOUND, held  # closed at the deadline
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer
    assert b"connection: close" in head.lower()
    assert json.loads(body)["error"]["code"] == "BODY_TIMEOUT"
    assert ended == [("http.disconnect", True)]  # receive() returned, marked as timed out


async def test_a_body_that_arrives_in_time_is_served(port: int) -> None:
    """The deadline is for the whole body: pieces spread over most of it are fine."""
    ended.clear()
    held, answer = await tcp_held_for(port, post("/read", 8), trickle=b"x" * 8, every=0.08,
                                      limit=BODY_TIMEOUT * 3)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"/read 8"), answer
    assert ended == [("http.request", False)]
    assert held >= 8 * 0.08  # the last byte came late in the deadline


async def test_an_app_slower_than_the_deadline_after_the_body_is_not_cut(port: int) -> None:
    held, answer = await tcp_held_for(port, post("/read-then-think", 3) + b"abc" + get("/next"),
                                      limit=BODY_TIMEOUT * 4)
    assert answer.count(b"HTTP/1.1 200") == 2, answer
    assert b"/read 3" in answer and answer.endswith(b"/next")
    assert held >= BODY_TIMEOUT * 2


async def test_a_body_trickled_after_an_early_answer_is_cut(port: int) -> None:
    """An app that answers without reading the body: the connection no longer lives on as
    long as the client keeps trickling (uvicorn's keep-alive timer restarts on every byte)."""
    held, answer = await tcp_held_for(port, post("/early", 1000), trickle=b"x" * 60,
                                      every=0.1, limit=10)
    assert answer.startswith(b"HTTP/1.1 200") and b"408" not in answer, answer
    assert BODY_TIMEOUT * 0.8 <= held <= BODY_BOUND, held


async def test_a_websocket_outlives_the_body_deadline(port: int) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
        await asyncio.sleep(BODY_TIMEOUT * 1.5)
        await ws.send("still here")
        assert await ws.recv() == "still here"


def test_the_deadlines_must_be_positive() -> None:
    with pytest.raises(ValueError, match="head timeout must be positive"):
        head_timeout_protocol(0)
    with pytest.raises(ValueError, match="body timeout must be positive"):
        head_timeout_protocol(1, 0)
    protocol = head_timeout_protocol(2.5, 7)
    assert (protocol.head_timeout, protocol.body_timeout) == (2.5, 7)


def test_workers_get_the_deadlines_through_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADSTACK_HEAD_TIMEOUT", "")
    monkeypatch.setenv("ADSTACK_BODY_TIMEOUT", "")
    config = server_config("tests.integration.test_head_timeout:app", host="127.0.0.1",
                           port=0, head_timeout=3, body_timeout=4.5, workers=2)
    assert config.http == "adstack_runtime.headtimeout:HeadTimeoutProtocol"
    assert os.environ["ADSTACK_HEAD_TIMEOUT"] == "3"
    assert os.environ["ADSTACK_BODY_TIMEOUT"] == "4.5"


async def exchange(port: int, data: bytes, *, pieces: int = 1) -> bytes:
    """Send ``data`` (in ``pieces`` writes) and read the answer until the server closes or
    one response is complete."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        step = -(-len(data) // pieces)
        for start in range(0, len(data), step):
            writer.write(data[start:start + step])
            await writer.drain()
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith((b"}", b"0")):
            chunk = await asyncio.wait_for(reader.read(65536), BOUND)
            if not chunk:
                break
            answer += chunk
            if answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"/ok"):
                break
        return answer
    finally:
        writer.close()


def head_of(size: int, path: str = "/ok") -> bytes:
    """A GET head of exactly ``size`` bytes (one padding header)."""
    base = f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Pad: \r\n\r\n".encode()
    return base.replace(b"X-Pad: ", b"X-Pad: " + b"a" * (size - len(base)))


@pytest.mark.parametrize("size", [16 * 1024 + 1, 20 * 1024, 120 * 1024])
@pytest.mark.parametrize("pieces", [1, 7])
async def test_a_head_over_16_kb_gets_400_and_is_closed(port: int, size: int,
                                                         pieces: int) -> None:
    """Issue 18 item 11: 20-120 KB heads were answered 200 (h11 bounds only a head still
    incomplete after a read)."""
    answer = await exchange(port, head_of(size), pieces=pieces)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["code"] == "HEAD_TOO_LARGE"


@pytest.mark.parametrize("size", [200, 16 * 1024])
async def test_a_head_up_to_16_kb_is_served(port: int, size: int) -> None:
    answer = await exchange(port, head_of(size), pieces=3)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


async def test_a_big_body_sent_with_its_head_is_not_counted_as_head(port: int) -> None:
    body = b"b" * 100_000
    answer = await exchange(port, post("/read", len(body)) + body)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"/read 100000")


async def test_every_head_of_a_kept_alive_connection_is_bounded(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head_of(1000))
        first = await asyncio.wait_for(reader.readuntil(b"/ok"), BOUND)
        assert first.startswith(b"HTTP/1.1 200 ")
        writer.write(head_of(40 * 1024))
        second = await asyncio.wait_for(reader.read(), BOUND)  # until closed
        assert second.startswith(b"HTTP/1.1 400 ") and b"HEAD_TOO_LARGE" in second
    finally:
        writer.close()
