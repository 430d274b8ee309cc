"""Fixtures for the hostile-input suites: a gateway with tight limits, a well-behaved
listener that must keep receiving whatever the others do, and the tally of inputs tried.

Every hostile client claims its own IP with ``X-Forwarded-For`` (uvicorn trusts it from
127.0.0.1), so the per-IP limit of one case never meets another case's clients.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_token
from tests.e2e.gateway.conftest import FAST_KEEPALIVE
from tests.helpers import services
from tests.helpers.client import FrameLog, SioClient, WsClient
from tests.helpers.events import CAMPAIGN, make_event, publish
from tests.helpers.hostile import HOSTILE

ALLOWED_ORIGIN = "https://app.adstack.io"
HANDSHAKE_TIMEOUT = 1.0
BODY_TIMEOUT = 2.0
MAX_CONNECTIONS_PER_IP = 3

_ips = (f"10.66.{n // 250}.{n % 250 + 1}" for n in itertools.count())
# Event numbers unique to this run: Redis is shared with other tests of the worker and
# not flushed here, and an event id seen before would be dropped as a duplicate.
_event_numbers = itertools.count(int(time.time() * 1000) % 10**9 * 100)


def next_ip() -> str:
    return next(_ips)


@pytest.fixture(scope="module")
def log_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("security-logs")


@pytest.fixture(scope="module")
def guarded(redis_url: str, log_root: Path) -> Iterator[services.Service]:
    """A gateway with tight limits, shared by a module's tests."""
    gateway = services.gateway(
        redis_url, log_root, HANDSHAKE_TIMEOUT=str(HANDSHAKE_TIMEOUT),
        BODY_TIMEOUT=str(BODY_TIMEOUT), MAX_CONNECTIONS_PER_IP=str(MAX_CONNECTIONS_PER_IP),
        ALLOWED_ORIGINS=ALLOWED_ORIGIN,
        **FAST_KEEPALIVE).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def hostile_client(gateway: services.Service, transport: str, token: str | None = None, *,
                   ip: str | None = None, headers: dict[str, str] | None = None,
                   **kwargs: Any) -> FrameLog:
    """An unconnected client of ``transport`` from its own IP."""
    all_headers = {"X-Forwarded-For": ip or next_ip(), **(headers or {})}
    token = token if token is not None else make_token()
    if transport == "ws":
        return WsClient(gateway.ws, token, additional_headers=all_headers, **kwargs)
    return SioClient(gateway.http, token, transport=transport.removeprefix("sio-"),
                     headers=all_headers, **kwargs)


class Listener:
    """A well-behaved client subscribed to CAMPAIGN; :meth:`still_receives` proves that
    what another client just did has not hurt it."""

    def __init__(self, client: FrameLog, redis_url: str) -> None:
        self.client = client
        self.redis_url = redis_url

    async def still_receives(self) -> None:
        n = next(_event_numbers)
        before = len(self.client.of("event"))
        await publish(self.redis_url, [make_event(CAMPAIGN, n)])
        got = await self.client.wait_for("event", before + 1)
        assert got[-1]["data"]["n"] == n
        assert not self.client.closed


@pytest.fixture()
async def listener(guarded: services.Service, redis_url: str) -> AsyncIterator[Listener]:
    client = hostile_client(guarded, "ws")
    async with client:
        await client.wait_for("connected")
        await client.request("subscribe", {"contractId": CAMPAIGN}, "subscribed")
        yield Listener(client, redis_url)


@pytest.fixture()
def hostile(record_property: Callable[[str, object], None]) -> Callable[[str, str], None]:
    """``hostile(suite, case)``: count one hostile input (see ``tests/helpers/tally.py``)."""

    def note(suite: str, case: str) -> None:
        record_property(HOSTILE, f"{suite}|{case}")

    return note


@pytest.fixture(scope="module")
def chain_state() -> dict[str, Any]:
    """One devnet chain per module (see :func:`node`)."""
    return {}


@pytest.fixture()
async def node(system: tuple[services.Service, services.Service],
               chain_state: dict[str, Any]) -> AsyncIterator[Any]:
    """A stacks-node stand-in posting to the module's ``system`` (an ingester and a gateway
    fixture of the test module), with a client subscribed to CAMPAIGN on the gateway."""
    from tests.e2e.security.test_ingester_inputs import subscribed_node

    async with subscribed_node(system, chain_state) as sender:
        yield sender
