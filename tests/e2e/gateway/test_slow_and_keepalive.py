"""A client that stops reading is closed as SLOW without slowing anyone else down; a peer
that stops answering is dropped within the keepalive bound."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
import websockets

from adstack_events import ContractEvent
from adstack_gateway.ws import CLOSE_GRACE
from tests.conftest import make_token
from tests.helpers import services
from tests.helpers.client import WsClient
from tests.helpers.events import CAMPAIGN, make_event, publish

pytestmark = pytest.mark.e2e

PING_INTERVAL, PING_TIMEOUT = 1.0, 1.0
HANDSHAKE = 1.0
OUTBOX = 262_144
"""Per-client outbox budget: far above one publish burst (4 events of 16 KB), far below the
~4.8 MB the stalled client is sent."""


@pytest.fixture(scope="module")
def gateway(redis_url: str, log_root: Path) -> Iterator[services.Service]:
    gw = services.gateway(redis_url, log_root, OUTBOX_MAX_BYTES=str(OUTBOX),
                          HANDSHAKE_TIMEOUT=str(HANDSHAKE),
                          WS_PING_INTERVAL=str(PING_INTERVAL),
                          WS_PING_TIMEOUT=str(PING_TIMEOUT)).start()
    try:
        yield gw
    finally:
        gw.stop()


def big_event(n: int) -> ContractEvent:
    event = make_event(CAMPAIGN, n, "spend_recorded", payload="x" * 16_000)
    return msgspec.structs.replace(event, publishedAt=int(time.time() * 1000))


async def connections(gw: services.Service) -> dict[str, int]:
    async with httpx.AsyncClient() as http:
        body = (await http.get(f"{gw.http}/health")).json()
    return {"ws": body["connections"]["ws"], "sio": body["connections"]["sio"]}


async def test_a_client_that_stops_reading_is_closed_slow(gateway: services.Service,
                                                          fresh: str) -> None:
    # The stalled client: a tiny receive buffer and a one-frame queue, and it never reads.
    sock = small_window_socket(gateway.port)
    stalled = await websockets.connect(f"{gateway.ws}?token={make_token()}", sock=sock,
                                       max_queue=1, compression=None)
    await stalled.send(json.dumps({"event": "subscribe", "data": {"contractId": CAMPAIGN}}))
    while json.loads(await stalled.recv())["event"] != "subscribed":
        pass
    async with WsClient(gateway.ws, make_token()) as normal:
        await normal.request("subscribe", {"contractId": CAMPAIGN}, "subscribed")
        total = 300  # ~4.8 MB: far more than the outbox plus every socket buffer
        for start in range(0, total, 4):
            await publish(fresh, [big_event(n) for n in range(start, start + 4)])
        events = await normal.wait_for("event", total, timeout=30)
        arrived = time.time() * 1000
        assert [e["data"]["n"] for e in events] == list(range(total))
        # Latency from publish to the normal client, generous for a shared 2-core box.
        assert max(arrived - e["publishedAt"] for e in events) < 5000
        deadline = time.monotonic() + 10
        while f"too slow: outbox over {OUTBOX} bytes" not in gateway.logs():
            assert time.monotonic() < deadline, gateway.logs()
            await asyncio.sleep(0.05)
    # Now read what was buffered: the stream ends with the SLOW close.
    received = 0
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(stalled.recv(), 10)
            received += 1
    assert stalled.close_code == 4001
    assert stalled.close_reason == "too slow: outbound queue overflow"
    assert received < total


async def test_a_dead_native_peer_is_dropped(gateway: services.Service) -> None:
    async with WsClient(gateway.ws, make_token()) as live:
        await live.wait_for("connected")
        with socket.create_connection(("127.0.0.1", gateway.port)) as dead:
            dead.sendall(
                f"GET /ws?token={make_token()} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n".encode())
            assert dead.recv(4096).startswith(b"HTTP/1.1 101")
            assert (await connections(gateway))["ws"] == 2
            started = time.monotonic()
            # The dead peer neither reads nor answers pings from here on.
            while (await connections(gateway))["ws"] > 1:
                assert time.monotonic() - started < PING_INTERVAL + PING_TIMEOUT + 5
                await asyncio.sleep(0.1)
        assert (await live.request("ping", None, "pong"))["timestamp"] > 0


async def test_a_dead_socketio_peer_is_dropped(gateway: services.Service) -> None:
    # Engine.IO over polling by hand: open, connect the namespace, then go silent.
    base = f"{gateway.http}/socket.io/?EIO=4&transport=polling"
    async with httpx.AsyncClient() as http:
        opened = (await http.get(base)).text
        sid = json.loads(opened[1:])["sid"]
        body = "40" + json.dumps({"token": make_token()})
        assert (await http.post(f"{base}&sid={sid}", content=body)).text == "OK"
        assert (await http.get(f"{base}&sid={sid}")).text.startswith("40")
        assert (await connections(gateway))["sio"] == 1
        started = time.monotonic()
        while (await connections(gateway))["sio"] > 0:
            assert time.monotonic() - started < PING_INTERVAL + PING_TIMEOUT + 5
            await asyncio.sleep(0.1)


async def test_an_engineio_connection_that_never_joins_is_closed(
        gateway: services.Service) -> None:
    base = f"{gateway.http}/socket.io/?EIO=4&transport=polling"
    async with httpx.AsyncClient() as http:
        sid = json.loads((await http.get(base)).text[1:])["sid"]
        started = time.monotonic()
        while True:  # keeps polling (so pings are no problem) but never sends its token
            poll = await http.get(f"{base}&sid={sid}", timeout=10)
            if poll.status_code != 200 or poll.text.startswith("1"):  # refused, or CLOSE
                break
            if poll.text == "2":
                await http.post(f"{base}&sid={sid}", content="3")
            assert time.monotonic() - started < HANDSHAKE + 5
        assert time.monotonic() - started >= HANDSHAKE * 0.9
        assert (await http.get(f"{base}&sid={sid}")).status_code == 400


def small_window_socket(port: int) -> socket.socket:
    """A client socket with a 4 KB receive buffer: once it stops reading, the gateway's
    unsent bytes pile up on its side at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    return sock


async def flood_until_slow(gateway: services.Service, fresh: str, total: int = 300) -> int:
    """Publish ``total`` big events (a reading client gets them all) until the gateway logs
    that a stalled subscriber went over its outbox. Returns ``total``."""
    async with WsClient(gateway.ws, make_token()) as normal:
        await normal.request("subscribe", {"contractId": CAMPAIGN}, "subscribed")
        for start in range(0, total, 4):
            await publish(fresh, [big_event(n) for n in range(start, start + 4)])
        await normal.wait_for("event", total, timeout=30)
        deadline = time.monotonic() + 10
        while f"too slow: outbox over {OUTBOX} bytes" not in gateway.logs():
            assert time.monotonic() < deadline, gateway.logs()
            await asyncio.sleep(0.05)
    return total


async def test_a_socketio_client_that_stops_reading_is_closed_slow(
        redis_url: str, log_dir: Path, fresh: str) -> None:
    # Default (20 s) keepalive: the stall must be caught by the outbox, not by a ping.
    gateway = services.gateway(redis_url, log_dir, OUTBOX_MAX_BYTES=str(OUTBOX)).start()
    try:
        # Engine.IO v4 / Socket.IO v5 by hand over a WebSocket that then stops reading.
        sock = small_window_socket(gateway.port)
        url = f"ws://127.0.0.1:{gateway.port}/socket.io/?EIO=4&transport=websocket"
        stalled = await websockets.connect(url, sock=sock, max_queue=1, compression=None)
        assert str(await stalled.recv()).startswith("0{")
        await stalled.send("40" + json.dumps({"token": make_token()}))
        await stalled.send('42["subscribe",' + json.dumps({"contractId": CAMPAIGN}) + "]")
        while not str(await stalled.recv()).startswith('42["subscribed"'):
            pass
        total = await flood_until_slow(gateway, fresh)
        packets: list[str] = []
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                packets.append(str(await asyncio.wait_for(stalled.recv(), 10)))
        closing = json.loads(packets[-1][2:])
        assert closing == ["closing", {"code": 4001,
                                       "reason": "too slow: outbound queue overflow"}]
        assert sum(p.startswith('42["event"') for p in packets) < total
        assert (await connections(gateway))["sio"] == 0
    finally:
        gateway.stop()


async def test_a_slow_client_that_reads_too_late_is_dropped(
        redis_url: str, log_dir: Path, fresh: str) -> None:
    # The fan-out benchmark's stuck client: closed SLOW while megabytes were unsent, it
    # reads them all only after the close grace. uvicorn writes a close frame only once
    # the write buffer drains, so that close was never written: the connection stayed open,
    # answering pings, and its closed session sent nothing more, forever. Default (20 s)
    # keepalive, as in production: the client answers pings once it reads.
    gateway = services.gateway(redis_url, log_dir, OUTBOX_MAX_BYTES=str(OUTBOX)).start()
    try:
        sock = small_window_socket(gateway.port)
        stalled = await websockets.connect(f"{gateway.ws}?token={make_token()}", sock=sock,
                                           max_queue=1, compression=None)
        await stalled.send(json.dumps({"event": "subscribe", "data": {"contractId": CAMPAIGN}}))
        while json.loads(await stalled.recv())["event"] != "subscribed":
            pass
        await flood_until_slow(gateway, fresh)
        await asyncio.sleep(CLOSE_GRACE + 2)  # past the close grace, still not reading
        with pytest.raises(websockets.ConnectionClosed):
            while True:  # what was buffered, then the end (not silence)
                await asyncio.wait_for(stalled.recv(), 10)
        started = time.monotonic()
        while (await connections(gateway))["ws"] > 0:
            assert time.monotonic() - started < 5, "the gateway still holds the connection"
            await asyncio.sleep(0.1)
    finally:
        gateway.stop()
