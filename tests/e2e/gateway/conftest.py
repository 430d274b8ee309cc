"""Fixtures for gateway end-to-end tests: a real gateway process and real clients.

``connect`` opens a client on the transport the test is parametrized with: the native
protocol (``websockets``) or Socket.IO (python-socketio ``AsyncClient``) over websocket or
HTTP long-polling.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
import redis

from tests.conftest import make_token
from tests.helpers import services
from tests.helpers.client import FrameLog, SioClient, WsClient

TRANSPORTS = ["ws", "sio-websocket", "sio-polling"]

# Short keepalive so Socket.IO polling clients (which wait for a poll to end) and dead
# peers are handled in about a second.
FAST_KEEPALIVE = {"WS_PING_INTERVAL": "1", "WS_PING_TIMEOUT": "3"}


def client_for(gateway: services.Service, transport: str, token: str | None,
               **kwargs: Any) -> FrameLog:
    """An (unconnected) client of ``gateway`` on ``transport``."""
    if transport == "ws":
        return WsClient(gateway.ws, token, **kwargs)
    return SioClient(gateway.http, token, transport=transport.removeprefix("sio-"), **kwargs)


class Connect(Protocol):
    def __call__(self, token: str | None = ..., *, transport: str | None = ...,
                 gateway: services.Service | None = ...) -> Awaitable[FrameLog]: ...


@pytest.fixture(scope="module")
def log_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gateway-logs")


@pytest.fixture(scope="module")
def gw(redis_url: str, log_root: Path) -> Iterator[services.Service]:
    """One gateway process shared by a module's tests (state lives in Redis, flushed)."""
    gateway = services.gateway(redis_url, log_root, **FAST_KEEPALIVE).start()
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture()
def fresh(redis_url: str) -> str:
    """The shared Redis, flushed."""
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    client.close()
    return redis_url


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture()
async def connect(gw: services.Service, transport: str) -> AsyncIterator[Connect]:
    """Open a connected client (``connected`` received); all are closed after the test."""
    opened: list[FrameLog] = []
    default_transport = transport

    async def factory(token: str | None = None, *, transport: str | None = None,
                      gateway: services.Service | None = None) -> FrameLog:
        client = client_for(gateway or gw, transport or default_transport,
                            token if token is not None else make_token())
        await client.open()
        opened.append(client)
        await client.wait_for("connected")
        return client

    yield factory
    for client in opened:
        await client.aclose()
