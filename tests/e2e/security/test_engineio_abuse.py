"""What an unauthenticated peer can do to the Socket.IO endpoint below Socket.IO itself.

Engine.IO sessions that never join, PING floods from a peer that never reads, garbage and
invalid UTF-8 frames, polling POSTs over the size limit or without a length: each is
answered or closed at once, bounded in memory, counted in
``adstack_protocol_violations_total`` and logged without a traceback, while another client
keeps receiving.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.e2e.security.conftest import Listener, hostile_client, next_ip
from tests.helpers import services
from tests.helpers.events import CAMPAIGN
from tests.helpers.scrape import scrape, total

pytestmark = pytest.mark.e2e

SUITE = "engine.io abuse"
HANDSHAKE_TIMEOUT = 5.0
PENDING_EXPIRY = 15.0
OUTBOX = 256 * 1024
PENDING_PER_IP = 8
PENDING_TOTAL = 200
MAX_PER_IP = 4
VIOLATIONS = "adstack_protocol_violations_total"


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def assert_quiet(gateway: services.Service) -> None:
    logs = gateway.log_path.read_text(errors="replace")
    assert "Traceback" not in logs and " ERROR " not in logs, logs[-3000:]


def exposed_gateway(redis_url: str, log_root: Path,
                    handshake_timeout: float = HANDSHAKE_TIMEOUT) -> services.Service:
    """A gateway with production keepalive (20 s / 20 s) and small caps."""
    return services.gateway(
        redis_url, log_root, HANDSHAKE_TIMEOUT=str(handshake_timeout),
        OUTBOX_MAX_BYTES=str(OUTBOX), MAX_PENDING_HANDSHAKES_PER_IP=str(PENDING_PER_IP),
        MAX_PENDING_HANDSHAKES=str(PENDING_TOTAL), MAX_CONNECTIONS_PER_IP=str(MAX_PER_IP),
        BODY_TIMEOUT="30").start()


@pytest.fixture(scope="module")
def exposed(redis_url: str, log_root: Path) -> Iterator[services.Service]:
    gateway = exposed_gateway(redis_url, log_root)
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture()
async def watcher(exposed: services.Service, redis_url: str) -> AsyncIterator[Listener]:
    client = hostile_client(exposed, "ws")
    async with client:
        await client.wait_for("connected")
        await client.request("subscribe", {"contractId": CAMPAIGN}, "subscribed")
        yield Listener(client, redis_url)


def polling(gateway: services.Service) -> str:
    return f"{gateway.http}/socket.io/?EIO=4&transport=polling"


async def handshake(http: httpx.AsyncClient, gateway: services.Service, ip: str) -> str:
    opened = await http.get(polling(gateway), headers={"X-Forwarded-For": ip})
    assert opened.status_code == 200, opened.text
    return str(httpx.Response(200, content=opened.content[1:]).json()["sid"])


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (payload under 126 bytes)."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x80 | opcode, 0x80 | len(payload)) + mask + masked


async def raw_websocket(gateway: services.Service, ip: str
                        ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket to ``/socket.io/`` opened by hand, with a tiny receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", gateway.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                  f"Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  f"X-Forwarded-For: {ip}\r\n\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def test_a_ping_flood_is_bounded_and_closed(
        exposed: services.Service, watcher: Listener,
        hostile: Callable[[str, str], None]) -> None:
    hostile(SUITE, "PING frames, never reading")
    assert exposed.proc is not None
    before = rss_bytes(exposed.proc.pid)
    violations = total(scrape(exposed.http), VIOLATIONS, kind="control_flood")
    reader, writer = await raw_websocket(exposed, next_ip())
    ping = ws_frame(0x9, b"p" * 125)
    sent = 0
    closed = False
    try:
        for _ in range(2000):  # up to 2000 x 50 x 131 bytes = 13 MB of PINGs
            writer.write(ping * 50)
            await writer.drain()
            sent += 50
    except ConnectionError:
        closed = True
    if not closed:
        # A loaded gateway may still be working through the PINGs the kernel buffered for
        # it: await its verdict (the violation counted), then the end of the stream (the
        # PONGs it did send, then EOF), instead of requiring the close while we write.
        deadline = time.monotonic() + 60
        while (total(scrape(exposed.http), VIOLATIONS, kind="control_flood") <= violations
               and time.monotonic() < deadline):
            await asyncio.sleep(0.2)
        with contextlib.suppress(ConnectionError, TimeoutError):
            async with asyncio.timeout(30):
                while await reader.read(65536):
                    pass
                closed = True
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    grown = rss_bytes(exposed.proc.pid) - before
    assert closed, f"still open after {sent} PINGs; RSS grew {grown / 1e6:.1f} MB"
    assert grown < 64 * 1024 * 1024, f"RSS grew {grown / 1e6:.1f} MB"
    assert total(scrape(exposed.http), VIOLATIONS, kind="control_flood") > violations
    await watcher.still_receives()
    assert_quiet(exposed)


async def test_a_websocket_that_never_joins_is_closed_for_real(
        exposed: services.Service, hostile: Callable[[str, str], None]) -> None:
    hostile(SUITE, "WebSocket that never joins")
    reader, writer = await raw_websocket(exposed, next_ip())
    try:
        # Production keepalive would end it after ~40 s; the handshake timeout ends it.
        received = b""
        async with asyncio.timeout(HANDSHAKE_TIMEOUT + 10):
            while chunk := await reader.read(4096):
                received += chunk
        assert b"\x88" in received  # a close frame came before the end
    finally:
        writer.close()


async def test_pending_handshakes_are_capped_counted_and_freed(
        redis_url: str, log_root: Path, hostile: Callable[[str, str], None]) -> None:
    hostile(SUITE, "Engine.IO handshakes that never join")
    # Long enough that a round's handshakes are all still pending when it ends, on a
    # loaded machine; then the test waits for them to expire.
    with exposed_gateway(redis_url, log_root, PENDING_EXPIRY) as exposed:
        await pending_rounds(exposed)


async def pending_rounds(exposed: services.Service) -> None:
    assert exposed.proc is not None
    ips = [next_ip() for _ in range(PENDING_TOTAL // PENDING_PER_IP)]
    sizes = []
    async with httpx.AsyncClient(timeout=10) as http:
        for _ in range(3):
            answers = await asyncio.gather(*(
                http.get(polling(exposed), headers={"X-Forwarded-For": ip})
                for ip in ips for _ in range(PENDING_PER_IP + 2)))
            statuses = [a.status_code for a in answers]
            # Each IP gets its PENDING_PER_IP handshakes, the rest 429 with Retry-After.
            assert statuses.count(200) == PENDING_TOTAL, statuses
            assert statuses.count(429) == 2 * len(ips), statuses
            refused = next(a for a in answers if a.status_code == 429)
            assert refused.headers["retry-after"] and \
                refused.json()["error"]["code"] == "TOO_MANY_HANDSHAKES"
            # Over the total cap, another IP is refused too.
            assert (await http.get(polling(exposed), headers={
                "X-Forwarded-For": next_ip()})).status_code == 429
            # Pending handshakes hold their IP's connection slots (MAX_CONNECTIONS_PER_IP).
            native = hostile_client(exposed, "ws", ip=ips[0])
            async with native:
                assert await native.wait_closed() == 4004
            sizes.append(rss_bytes(exposed.proc.pid))
            # Expired and freed: the next round gets the same room again.
            await asyncio.sleep(PENDING_EXPIRY + 1)
            deadline = asyncio.get_running_loop().time() + 10
            while True:
                ip = next_ip()
                probe = await http.get(polling(exposed), headers={"X-Forwarded-For": ip})
                if probe.status_code == 200:
                    sid = httpx.Response(200, content=probe.content[1:]).json()["sid"]
                    await http.post(f"{polling(exposed)}&sid={sid}", content="1",
                                    headers={"X-Forwarded-For": ip})  # CLOSE: frees it
                    break
                assert asyncio.get_running_loop().time() < deadline, "never freed"
                await asyncio.sleep(0.2)
    grown = sizes[-1] - sizes[0]
    assert grown < 8 * 1024 * 1024, [f"{s / 1e6:.1f} MB" for s in sizes]
    assert_quiet(exposed)


async def test_every_request_to_a_pending_session_is_answered(
        exposed: services.Service, watcher: Listener,
        hostile: Callable[[str, str], None]) -> None:
    hostile(SUITE, "malformed Socket.IO packet before joining")
    violations = total(scrape(exposed.http), VIOLATIONS, kind="sio_malformed")
    async with httpx.AsyncClient(timeout=10) as http:
        for _ in range(5):
            ip = next_ip()
            sid = await handshake(http, exposed, ip)
            posted = await http.post(f"{polling(exposed)}&sid={sid}", content="4zzzz",
                                     headers={"X-Forwarded-For": ip})
            assert posted.status_code == 200
            after = await http.get(f"{polling(exposed)}&sid={sid}",
                                   headers={"X-Forwarded-For": ip})
            assert after.status_code in (200, 400)  # the CLOSE packet, or the sid is gone
    assert total(scrape(exposed.http), VIOLATIONS, kind="sio_malformed") == violations + 5
    await watcher.still_receives()
    assert_quiet(exposed)


async def test_oversized_and_chunked_polling_posts_are_answered_at_once(
        exposed: services.Service, watcher: Listener,
        hostile: Callable[[str, str], None]) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        for size in (70 * 1024, 1024 * 1024):
            hostile(SUITE, f"polling POST of {size} bytes")
            ip = next_ip()
            sid = await handshake(http, exposed, ip)
            posted = await http.post(f"{polling(exposed)}&sid={sid}", content=b"4" * size,
                                     headers={"X-Forwarded-For": ip})
            assert posted.status_code == 413
            assert posted.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"

        hostile(SUITE, "chunked polling POST")
        ip = next_ip()
        sid = await handshake(http, exposed, ip)

        async def chunks() -> AsyncIterator[bytes]:
            yield b"40"

        posted = await http.post(f"{polling(exposed)}&sid={sid}", content=chunks(),
                                 headers={"X-Forwarded-For": ip})
        assert posted.status_code == 400
        assert posted.json()["error"]["code"] == "LENGTH_REQUIRED"
    await watcher.still_receives()
    assert_quiet(exposed)


async def test_engineio_garbage_is_counted_and_logged_without_traceback(
        exposed: services.Service, watcher: Listener,
        hostile: Callable[[str, str], None]) -> None:
    url = exposed.ws.removesuffix("/ws") + "/socket.io/?EIO=4&transport=websocket"
    before = scrape(exposed.http)
    frames: list[tuple[str, str | bytes, bool]] = [
        ("x", "x", False), ("an empty frame", "", False),
        ("JSON nested 5000 deep", "4" + "[" * 5000 + "]" * 5000, False),
        ("invalid UTF-8 in a text frame", b"4\xff\xfe", True)]
    for _ in range(10):
        for case, frame, as_text in frames:
            hostile(SUITE, case)
            async with websockets.connect(url, additional_headers={
                    "X-Forwarded-For": next_ip()}) as ws:
                assert str(await ws.recv()).startswith("0{")
                await ws.send(frame, text=True) if as_text else await ws.send(frame)
                with pytest.raises(websockets.ConnectionClosed):
                    async with asyncio.timeout(10):
                        while True:
                            await ws.recv()
    async with httpx.AsyncClient(timeout=10) as http:
        for case, body in (("x POSTed", b"x"), ("invalid UTF-8 POSTed", b"4\xff")):
            hostile(SUITE, case)
            ip = next_ip()
            sid = await handshake(http, exposed, ip)
            posted = await http.post(f"{polling(exposed)}&sid={sid}", content=body,
                                     headers={"X-Forwarded-For": ip})
            assert posted.status_code == 400
            assert posted.json()["error"]["code"] == "BAD_PACKET"
    after = scrape(exposed.http)
    assert (total(after, VIOLATIONS, kind="eio_garbage")
            - total(before, VIOLATIONS, kind="eio_garbage")) == 31
    assert (total(after, VIOLATIONS, kind="invalid_utf8")
            - total(before, VIOLATIONS, kind="invalid_utf8")) == 11
    await watcher.still_receives()
    assert_quiet(exposed)
