"""The ``history`` frame the original server pushes right after ``subscribed``, and the
opt-in ``global_event``.

On every transport: the newest events (newest first, at most ``SUBSCRIBE_HISTORY``),
filtered by the subscription's types, only when there are any, never with ``since`` (its
replay instead) — and an event published while the subscription is being set up arrives
once, either in the history or live, never both and never neither.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adstack_events import ContractEvent
from tests.conftest import make_token
from tests.e2e.gateway.conftest import FAST_KEEPALIVE, Connect, client_for
from tests.helpers import services
from tests.helpers.events import AUCTION, CAMPAIGN, PAYMENT, keys, make_event, publish, publish_raw

pytestmark = pytest.mark.e2e

TYPES = ["campaign_created", "spend_recorded"]


def events(contract: str, start: int, count: int) -> list[ContractEvent]:
    return [make_event(contract, n, TYPES[n % 2]) for n in range(start, start + count)]


def after(frames: list[dict[str, Any]], event: str) -> str | None:
    """The name of the frame that follows the first ``event`` frame."""
    names = [f["event"] for f in frames]
    index = names.index(event)
    return names[index + 1] if index + 1 < len(names) else None


async def test_history_follows_subscribed_newest_first_and_filtered(
        connect: Connect, fresh: str) -> None:
    published = events(CAMPAIGN, 1, 30)
    await publish(fresh, published)
    client = await connect()
    await client.request("subscribe", {"contractId": CAMPAIGN}, "subscribed")
    (pushed,) = await client.wait_for("history")
    assert after(client.frames, "subscribed") == "history"
    assert set(pushed) == {"contractId", "events", "count"}
    assert [e["id"] for e in pushed["events"]] == [e.id for e in reversed(published)][:10]
    assert pushed["count"] == 10 and pushed["contractId"] == CAMPAIGN

    filtered = await connect()
    await filtered.request("subscribe", {"contractId": CAMPAIGN,
                                         "eventTypes": ["spend_recorded"]}, "subscribed")
    (pushed,) = await filtered.wait_for("history")
    wanted = [e.id for e in reversed(published) if e.type == "spend_recorded"][:10]
    assert [e["id"] for e in pushed["events"]] == wanted
    assert {e["type"] for e in pushed["events"]} == {"spend_recorded"}

    # Live events after it, once each.
    more = events(CAMPAIGN, 31, 4)
    await publish(fresh, more)
    live = await filtered.wait_for("event", 2)
    assert [e["id"] for e in live] == [e.id for e in more if e.type == "spend_recorded"]


async def test_no_history_without_events_and_none_with_since(connect: Connect,
                                                             fresh: str) -> None:
    client = await connect()
    await client.request("subscribe", {"contractId": AUCTION}, "subscribed")
    await client.request("ping", None, "pong")  # replies come in order: nothing in between
    assert client.of("history") == []

    published = events(PAYMENT, 1, 6)
    await publish(fresh, published)
    first = await connect()
    reply = await first.request("subscribe", {"contractId": PAYMENT}, "subscribed")
    await first.wait_for("history")
    resumed = await connect()
    since = {"epoch": reply["epoch"], "offset": 2}
    await resumed.request("subscribe", {"contractId": PAYMENT, "since": since}, "subscribed")
    replayed = await resumed.wait_for("event", 4)
    await resumed.request("ping", None, "pong")
    assert [e["id"] for e in replayed] == [e.id for e in published[2:]]
    assert resumed.of("history") == [], "a subscribe with since gets its replay, not both"


async def test_an_event_published_during_subscribe_arrives_exactly_once(
        connect: Connect, fresh: str) -> None:
    published = events(CAMPAIGN, 1, 120)
    await publish(fresh, published[:5])
    client = await connect()

    async def stream() -> None:
        for event in published[5:]:
            await publish(fresh, [event])

    writer = asyncio.create_task(stream())
    await asyncio.sleep(0)  # the writer is publishing while the subscription is set up
    await client.request("subscribe", {"contractId": CAMPAIGN}, "subscribed")
    await writer
    (pushed,) = await client.wait_for("history")
    newest = pushed["events"][0]["offset"]
    live = await client.wait_for("event", len(published) - newest, timeout=20)
    # The history ends where the live stream begins: no event twice, none missing.
    assert [e["offset"] for e in live] == list(range(newest + 1, len(published) + 1))
    assert len({e["id"] for e in pushed["events"]} | {e["id"] for e in live}) == (
        len(pushed["events"]) + len(live))


@pytest.fixture(scope="module")
def quiet_gw(redis_url: str, log_root: Path) -> Iterator[services.Service]:
    gateway = services.gateway(redis_url, log_root, SUBSCRIBE_HISTORY="0",
                               **FAST_KEEPALIVE).start()
    try:
        yield gateway
    finally:
        gateway.stop()


async def test_subscribe_history_zero_turns_the_push_off(
        connect: Connect, quiet_gw: services.Service, fresh: str) -> None:
    await publish(fresh, events(CAMPAIGN, 1, 3))
    client = await connect(gateway=quiet_gw)
    await client.request("subscribe", {"contractId": CAMPAIGN}, "subscribed")
    await client.request("ping", None, "pong")
    assert client.of("history") == []


async def test_sse_gets_the_history_after_subscribed(gw: services.Service, fresh: str) -> None:
    published = events(CAMPAIGN, 1, 3)
    await publish(fresh, published)
    records: list[dict[str, Any]] = []
    async with (httpx.AsyncClient(timeout=20) as http,
                http.stream("GET", f"{gw.http}/sse", params={"contractId": CAMPAIGN,
                                                             "token": make_token()}) as sse):
        assert sse.status_code == 200
        record: dict[str, Any] = {}
        async for line in sse.aiter_lines():
            if line == "" and "event" in record:
                records.append(record)
                record = {}
                if records[-1]["event"] == "history":
                    break
            elif line and not line.startswith(":"):
                key, _, value = line.partition(": ")
                record[key] = json.loads(value) if key == "data" else value
    assert [r["event"] for r in records][-2:] == ["subscribed", "history"]
    assert [e["id"] for e in records[-1]["data"]["events"]] == [e.id for e in reversed(published)]


@pytest.fixture(scope="module")
def global_gw(redis_url: str, log_root: Path) -> Iterator[services.Service]:
    gateway = services.gateway(redis_url, log_root, GLOBAL_EVENTS="true",
                               **FAST_KEEPALIVE).start()
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.mark.parametrize("transport", ["ws", "sio-websocket", "sio-polling"])
async def test_global_event_is_opt_in_and_bounded_by_the_token(
        gw: services.Service, global_gw: services.Service, fresh: str,
        transport: str) -> None:
    """One batch of global events, then one live event, on one Redis connection: a client
    that gets the live event has had its global events by then (or none)."""
    clients = [client_for(gw, transport, make_token()),
               client_for(global_gw, transport, make_token()),
               client_for(global_gw, transport, make_token(contracts=[AUCTION]))]
    for client, contract in zip(clients, (PAYMENT, PAYMENT, AUCTION), strict=True):
        await client.open()
        await client.wait_for("connected")
        await client.request("subscribe", {"contractId": contract}, "subscribed")
    try:
        batch = [{"contractId": CAMPAIGN, "type": "spend_recorded", "timestamp": 1},
                 {"contractId": AUCTION, "type": "bid_placed", "timestamp": 2}]
        await publish_raw(fresh, keys.GLOBAL_CHANNEL, {"event": "global_events",
                                                       "data": batch})
        await publish(fresh, [make_event(PAYMENT, 1, "payment_sent")])
        await publish(fresh, [make_event(AUCTION, 1, "bid_placed")])
        for client in clients:
            await client.wait_for("event")
        off, everything, bounded = (c.of("global_event") for c in clients)
        assert off == [], "off by default"
        assert everything == batch
        assert bounded == [batch[1]], "only the contracts the token's claim allows"
    finally:
        for client in clients:
            await client.aclose()
