"""The order of a subscription (issue 18 item 14): ``subscribed``, with the offset it starts
after, then only events of that contract strictly after that offset, in order. Measured
while events stream at about 1,000 a second and the client subscribes and unsubscribes
over and over (events used to reach the client before its ``subscribed`` reply: 1,160 times
in 400 subscribes, once with a reply offset lower than events already delivered)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adstack_bus import Publisher, create_redis
from tests.e2e.gateway.conftest import FAST_KEEPALIVE, Connect
from tests.helpers import services
from tests.helpers.events import CAMPAIGN, make_event

pytestmark = pytest.mark.e2e

RATE = 1000
"""Events a second, published in batches of 10."""
CYCLES = 150


async def stream_events(redis_url: str, stop: asyncio.Event, counter: list[int]) -> None:
    redis = create_redis(redis_url)
    numbers = itertools.count(int(time.time() * 1000) % 10**9 * 1000)
    publisher = Publisher(redis, history_limit=1000)
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        while not stop.is_set():
            await publisher.publish_events([make_event(CAMPAIGN, next(numbers))
                                            for _ in range(10)])
            counter[0] += 10
            # Paced to RATE on average (a loaded machine publishes slower, never faster).
            delay = start + counter[0] / RATE - loop.time()
            await asyncio.sleep(max(0.0, delay))
    finally:
        await redis.aclose()


@pytest.fixture(scope="module")
def gw(redis_url: str, log_root: Path) -> Iterator[services.Service]:
    """This module's gateway: no command rate limit (the test subscribes as fast as the
    replies come)."""
    gateway = services.gateway(redis_url, log_root, RATE_LIMIT_PER_SECOND="0",
                               **FAST_KEEPALIVE).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def violations(frames: list[dict[str, Any]]) -> tuple[list[str], int, int]:
    """Walk the frames in arrival order; return what broke the rule, and the counts of
    ``subscribed`` replies and events checked."""
    broken: list[str] = []
    subscribed_at: tuple[str, int] | None = None
    last = 0
    replies = events = 0
    for index, frame in enumerate(frames):
        event, data = frame["event"], frame.get("data") or {}
        if event == "subscribed" and data.get("contractId") == CAMPAIGN:
            replies += 1
            subscribed_at = (data["epoch"], data["offset"])
            last = data["offset"]
        elif event == "unsubscribed" and data.get("contractId") == CAMPAIGN:
            subscribed_at = None
        elif event == "event" and data.get("contractId") == CAMPAIGN:
            events += 1
            if subscribed_at is None:
                broken.append(f"frame {index}: event offset {data['offset']} before its "
                              "subscribed reply")
            elif data["epoch"] == subscribed_at[0] and data["offset"] <= last:
                broken.append(f"frame {index}: event offset {data['offset']} not after "
                              f"{last} (subscribed said it starts after {subscribed_at[1]})")
            else:
                last = data["offset"]
    return broken, replies, events


@pytest.mark.parametrize("transport", ["ws", "sio-websocket"])
async def test_no_event_precedes_its_subscribed_reply_at_1000_events_per_second(
        connect: Connect, redis_url: str) -> None:
    client = await connect()
    stop = asyncio.Event()
    published = [0]
    publisher = asyncio.create_task(stream_events(redis_url, stop, published))
    try:
        for _ in range(CYCLES):
            reply = await client.request("subscribe", {"contractId": CAMPAIGN}, "subscribed")
            assert "error" not in reply, reply
            # Let a few live events through, then leave again (a quick re-subscribe is
            # where a reply and the live stream race).
            before = len(client.of("event"))
            with contextlib.suppress(AssertionError):
                await client.wait_for("event", before + 3, timeout=2)
            reply = await client.request("unsubscribe", {"contractId": CAMPAIGN},
                                         "unsubscribed")
            assert "error" not in reply, reply
    finally:
        stop.set()
        await publisher
    broken, replies, events = violations(client.frames)
    assert replies == CYCLES
    assert events > CYCLES, "events flowed while subscribing"
    assert published[0] > 1000
    assert not broken, f"{len(broken)} out of order, e.g. {broken[:5]}"
