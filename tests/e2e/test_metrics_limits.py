"""Gateway limits, slow clients, history backfill and the drain, as seen in ``/metrics``.

Real gateway processes, real clients and a real Redis; the Stacks API is a small real
HTTP server. Each counter moves by exactly what the clients did.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import websockets

from adstack_events import ContractEvent
from tests.helpers import services
from tests.helpers.client import WsClient
from tests.helpers.events import AUCTION, CAMPAIGN, make_event, publish
from tests.helpers.fake_hiro_rest import FakeHiro
from tests.helpers.scrape import deltas, scrape, value, wait_until

pytestmark = pytest.mark.e2e

OUTBOX = 262_144
BACKFILL_TXS = 3
DELIVERY_PATH = ("adstack_events_delivered_total", "adstack_feed_messages_delivered_total",
                 "adstack_relay_latency_seconds")


def counters_moved(before: dict[tuple[str, frozenset[tuple[str, str]]], float],
                   after: dict[tuple[str, frozenset[tuple[str, str]]], float]
                   ) -> dict[str, float]:
    return {series: change for series, change in deltas(before, after).items()
            if series.split("{")[0].endswith(("_total", "_bucket", "_count"))
            and not series.startswith(DELIVERY_PATH)}


def big_event(n: int) -> ContractEvent:
    event = make_event(CAMPAIGN, n, "spend_recorded", payload="x" * 16_000)
    return msgspec.structs.replace(event, publishedAt=int(time.time() * 1000))


@pytest.fixture()
def hiro() -> Iterator[FakeHiro]:
    with FakeHiro() as api:
        for i in range(BACKFILL_TXS):
            api.add_tx(AUCTION, f"0x{i + 1:064x}", 100 + i, {0: i}, event_count=1)
        yield api


async def test_limits_slow_clients_and_backfill_are_counted(clean_redis: str, log_dir: Path,
                                                            token: str,
                                                            hiro: FakeHiro) -> None:
    gateway = services.gateway(clean_redis, log_dir, OUTBOX_MAX_BYTES=str(OUTBOX),
                               MAX_CONNECTIONS_PER_IP="3", RATE_LIMIT_PER_SECOND="0.1",
                               RATE_LIMIT_BURST="2", RATE_LIMIT_CLOSE_AFTER="2",
                               STACKS_API_URL=hiro.url).start()
    try:
        before = scrape(gateway.http)
        reader, flooder = WsClient(gateway.ws, token), WsClient(gateway.ws, token)
        for client in (reader, flooder):
            await client.open()
            await client.wait_for("connected")
        # The third connection from this IP: a client that stops reading.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", gateway.port))
        stalled = await websockets.connect(f"{gateway.ws}?token={token}", sock=sock,
                                           max_queue=1, compression=None)
        await stalled.send(json.dumps({"event": "subscribe",
                                       "data": {"contractId": CAMPAIGN}}))
        while json.loads(await stalled.recv())["event"] != "subscribed":
            pass
        # A fourth is refused by the per-IP limit.
        fourth = WsClient(gateway.ws, token)
        await fourth.open()
        assert await fourth.wait_closed() == 4004
        await fourth.aclose()

        # Two commands pass, the third is refused, the fourth closes the connection.
        for _ in range(4):
            await flooder.send("ping")
        assert await flooder.wait_closed() == 4003  # (replies still queued are dropped)

        # History: Redis has nothing for AUCTION, the API has 3 events; then the API fails.
        history = await reader.request("getHistory", {"contractId": AUCTION, "limit": 5},
                                       "history")
        assert history["count"] == BACKFILL_TXS and history["backfilled"] == BACKFILL_TXS
        hiro.fail = True
        history = await reader.request("getHistory", {"contractId": AUCTION, "limit": 6},
                                       "history")
        assert history["count"] == 0 and history["backfilled"] == 0

        # ~4.8 MB to the stalled client: its outbox overflows and it is closed SLOW.
        for start in range(0, 300, 4):
            await publish(clean_redis, [big_event(n) for n in range(start, start + 4)])
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(stalled.recv(), 10)
        assert stalled.close_code == 4001
        await reader.aclose()
        await flooder.aclose()

        def all_gone() -> bool:
            return value(scrape(gateway.http), "adstack_connected_clients") == 0

        await asyncio.to_thread(wait_until, all_gone, 20, "every connection to end")
        assert counters_moved(before, scrape(gateway.http)) == {
            'adstack_connections_total{transport="native"}': 3,
            'adstack_rate_limit_hits_total{limit="connections_per_ip"}': 1,
            'adstack_rate_limit_hits_total{limit="commands"}': 2,
            'adstack_protocol_errors_total{code="RATE_LIMITED"}': 1,
            'adstack_commands_total{command="ping"}': 4,
            'adstack_commands_total{command="subscribe"}': 1,
            'adstack_commands_total{command="getHistory"}': 2,
            'adstack_backfills_total{outcome="ok"}': 1,
            'adstack_backfills_total{outcome="failed"}': 1,
            'adstack_backfilled_events_total': BACKFILL_TXS,
            'adstack_outbox_overflows_total': 1,
            'adstack_disconnects_total{reason="client",transport="native"}': 1,
            'adstack_disconnects_total{reason="rate_limited",transport="native"}': 1,
            'adstack_disconnects_total{reason="slow",transport="native"}': 1,
        }
    finally:
        gateway.stop()


async def test_the_drain_shows_in_metrics(clean_redis: str, log_dir: Path,
                                          token: str) -> None:
    # Two clients over a 3 s window: the first is closed at once, the second 1.2 s later.
    gateway = services.gateway(clean_redis, log_dir, DRAIN_SECONDS="3").start()
    try:
        clients = [WsClient(gateway.ws, token), WsClient(gateway.ws, token)]
        for client in clients:
            await client.open()
            await client.wait_for("connected")
        assert value(scrape(gateway.http), "adstack_draining") == 0
        gateway.signal(signal.SIGTERM)
        closes = [asyncio.create_task(c.wait_closed(timeout=10)) for c in clients]
        first, _pending = await asyncio.wait(closes, return_when=asyncio.FIRST_COMPLETED)
        assert [t.result() for t in first] == [4000]

        def first_close_counted() -> bool:
            return value(scrape(gateway.http), "adstack_disconnects_total", reason="shutdown",
                         transport="native") == 1

        await asyncio.to_thread(wait_until, first_close_counted, 1.0, "the first close")
        assert value(scrape(gateway.http), "adstack_draining") == 1
        assert await asyncio.gather(*closes) == [4000, 4000]
        for client in clients:
            await client.aclose()
    finally:
        gateway.stop()
