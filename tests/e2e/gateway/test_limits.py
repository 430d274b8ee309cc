"""Limits on a real gateway: frame size, command flood, Origin/CORS, connections per IP.

Each abuse is handled as specified while another client keeps receiving events. Clients
claim distinct IPs with ``X-Forwarded-For`` (uvicorn trusts it from 127.0.0.1), so the
per-IP limit of one test does not meet another's clients.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from tests.conftest import make_token
from tests.e2e.gateway.conftest import FAST_KEEPALIVE, TRANSPORTS
from tests.helpers import services
from tests.helpers.client import FrameLog, SioClient, WsClient
from tests.helpers.events import CAMPAIGN, make_event, publish

pytestmark = pytest.mark.e2e

ALLOWED = "https://app.adstack.io"
_ips = (f"10.9.{n // 250}.{n % 250 + 1}" for n in itertools.count())


@pytest.fixture(scope="module")
def limited(redis_url: str, log_root: Path) -> Iterator[services.Service]:
    gateway = services.gateway(
        redis_url, log_root, RATE_LIMIT_PER_SECOND="5", RATE_LIMIT_BURST="10",
        RATE_LIMIT_CLOSE_AFTER="15", MAX_CONNECTIONS_PER_IP="3", ALLOWED_ORIGINS=ALLOWED,
        **FAST_KEEPALIVE).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def make_client(gateway: services.Service, transport: str, *, ip: str,
                origin: str | None = None, token: str | None = None) -> FrameLog:
    headers = {"X-Forwarded-For": ip}
    if origin is not None:
        headers["Origin"] = origin
    if transport == "ws":
        return WsClient(gateway.ws, token or make_token(), additional_headers=headers)
    return SioClient(gateway.http, token or make_token(),
                     transport=transport.removeprefix("sio-"), headers=headers)


class Clients:
    """Opens clients and closes them all at the end."""

    def __init__(self, gateway: services.Service) -> None:
        self.gateway = gateway
        self.opened: list[FrameLog] = []

    async def open(self, transport: str, *, ip: str | None = None, wait: bool = True,
                   **kwargs: Any) -> FrameLog:
        client = make_client(self.gateway, transport, ip=ip or next(_ips), **kwargs)
        await client.open()
        self.opened.append(client)
        if wait:
            await client.wait_for("connected")
        return client

    async def listener(self) -> FrameLog:
        """A well-behaved client subscribed to CAMPAIGN."""
        client = await self.open("ws")
        await client.request("subscribe", {"contractId": CAMPAIGN}, "subscribed")
        return client


@pytest.fixture()
async def clients(limited: services.Service, fresh: str) -> AsyncIterator[Clients]:
    pool = Clients(limited)
    yield pool
    for client in pool.opened:
        await client.aclose()


async def still_receives(listener: FrameLog, redis_url: str, n: int) -> None:
    before = len(listener.of("event"))
    await publish(redis_url, [make_event(CAMPAIGN, n)])
    got = await listener.wait_for("event", before + 1)
    assert got[-1]["data"]["n"] == n


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_oversized_frame_closes_only_that_client(clients: Clients, fresh: str,
                                                       transport: str) -> None:
    listener = await clients.listener()
    await still_receives(listener, fresh, 1)
    big = await clients.open(transport)
    await big.send("subscribe", {"contractId": CAMPAIGN, "pad": "x" * 70_000})
    code = await big.wait_closed()
    if transport == "ws":
        assert code == 1009  # MESSAGE_TOO_BIG
    assert big.of("subscribed") == []
    await still_receives(listener, fresh, 2)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_command_flood_is_rate_limited_then_closed(clients: Clients, fresh: str,
                                                          transport: str) -> None:
    listener = await clients.listener()
    flooder = await clients.open(transport)
    for n in range(60):
        try:
            await flooder.send("ping")
        except Exception:  # already closed by the server
            break
        if n % 8 == 7:
            # Engine.IO refuses a polling POST of more than 16 packets as a whole; let
            # the client flush so that every command reaches the gateway's limiter.
            await asyncio.sleep(0.01)
    assert await flooder.wait_closed() == 4003
    assert flooder.close_reason == "rate limit exceeded"
    assert len(flooder.of("pong")) >= 10, "the burst is served"
    # Closing drops what was still queued for the client, so not every error is seen.
    assert {e["code"] for e in flooder.of("error")} <= {"RATE_LIMITED"}
    await still_receives(listener, fresh, 1)


async def test_a_client_within_the_rate_is_never_limited(clients: Clients) -> None:
    client = await clients.open("ws")
    for _ in range(10):
        await client.request("ping", None, "pong")
    assert client.of("error") == [] and not client.closed


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_origin_is_checked(clients: Clients, fresh: str, transport: str) -> None:
    listener = await clients.listener()
    good = await clients.open(transport, origin=ALLOWED)
    assert good.of("connected")
    if transport == "ws":
        bad = await clients.open(transport, origin="https://evil.example", wait=False)
        assert await bad.wait_closed() == 4502
        assert bad.close_reason == "origin not allowed" and bad.of("connected") == []
    else:  # Engine.IO refuses the handshake itself (HTTP 400): no session is created
        client = make_client(clients.gateway, transport, ip=next(_ips),
                             origin="https://evil.example")
        assert isinstance(client, SioClient)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect()
        await client.aclose()
        assert client.of("connected") == []
    await still_receives(listener, fresh, 1)


async def test_cors_for_http_and_polling(limited: services.Service) -> None:
    async with httpx.AsyncClient() as http:
        ok = await http.get(f"{limited.http}/health", headers={"Origin": ALLOWED})
        assert ok.headers.get("access-control-allow-origin") == ALLOWED
        other = await http.get(f"{limited.http}/health",
                               headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        preflight = await http.options(f"{limited.http}/health", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
        assert preflight.status_code == 400
        poll = f"{limited.http}/socket.io/?EIO=4&transport=polling"
        allowed = await http.get(poll, headers={"Origin": ALLOWED})
        assert allowed.status_code == 200
        assert allowed.headers.get("access-control-allow-origin") == ALLOWED
        # A refused Origin passes Engine.IO (a bare 400 there reached socket.io-client as
        # "xhr poll error", retried forever) and is refused at the namespace with a reason.
        evil = {"Origin": "https://evil.example"}
        opened = await http.get(poll, headers=evil)
        assert opened.status_code == 200
        sid = json.loads(opened.text[1:])["sid"]
        session = f"{poll}&sid={sid}"
        assert (await http.post(session, content="40", headers=evil)).status_code == 200
        refused = await http.get(session, headers=evil)
        assert refused.text.startswith("44")
        assert json.loads(refused.text[2:]) == {"message": "origin not allowed",
                                                "data": {"code": 4502}}


async def test_too_many_connections_from_one_ip(clients: Clients, fresh: str) -> None:
    listener = await clients.listener()
    ip = next(_ips)
    held = [await clients.open(t, ip=ip) for t in ("ws", "sio-websocket", "sio-polling")]
    native = await clients.open("ws", ip=ip, wait=False)
    assert await native.wait_closed() == 4004
    assert native.close_reason == "too many connections from your IP"
    for transport in ("sio-websocket", "sio-polling"):
        sio = make_client(clients.gateway, transport, ip=ip)
        assert isinstance(sio, SioClient)
        error = await sio.refused()
        assert error == {"message": "too many connections from your IP",
                         "data": {"code": 4004}}
    other_ip = await clients.open("sio-websocket")  # someone else is not affected
    assert other_ip.of("connected")
    await still_receives(listener, fresh, 1)
    await held[0].aclose()
    for _ in range(50):  # a slot is free again once the gateway has seen the close
        again = await clients.open("ws", ip=ip, wait=False)
        try:
            await again.wait_for("connected", timeout=5)
            break
        except AssertionError:
            assert again.close_code == 4004
            await asyncio.sleep(0.1)
    assert again.of("connected")
