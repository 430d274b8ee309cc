"""No silent gap after a gateway's Redis link comes back, or after Redis restarts empty.

Whenever the gateway cannot prove continuity for a contract (the offset after the last one
delivered is gone from the history, or the epoch changed), each subscriber is told
``subscribed {recovered: false}`` and then gets every event the history still holds — the
verdict: every client either has every event or was told of its gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis as sync_redis

from adstack_bus import BusUnavailable, Publisher, create_redis, keys
from adstack_client import Client, Event, RecoveryFailed, connect
from adstack_events import ContractEvent
from adstack_localredis import LocalRedis
from tests.chaos.proxy import CuttableProxy
from tests.chaos.verdict import Item, Verdict, check
from tests.helpers import services
from tests.helpers.client import WsClient

pytestmark = pytest.mark.e2e

C1 = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"
RETAIN = 50
"""The history kept per contract in these tests (``HISTORY_RETAIN``), small to stay fast."""


def make_event(n: int) -> ContractEvent:
    return ContractEvent(id=f"gap-{n}", type="spend_recorded", contractId=C1,
                         txId=f"0x{n:064x}", blockHeight=n, blockHash="0x" + "ab" * 32,
                         indexBlockHash="0x" + "cd" * 32, eventIndex=0, timestamp=n,
                         data={"n": n})


class Sdk:
    """One SDK client subscribed to C1, recording what it yields in order."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.items: list[Item] = []
        self.ids: set[str] = set()
        self.task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        async for item in self.client.subscribe(C1):
            if isinstance(item, Event):
                self.items.append(Item("event", item.epoch, item.offset))
                self.ids.add(item.id)
            elif isinstance(item, RecoveryFailed):
                self.items.append(Item("gap", item.epoch, item.offset))

    @property
    def position(self) -> tuple[str, int] | None:
        events = [i for i in self.items if i.kind == "event"]
        return (events[-1].epoch, events[-1].offset) if events else None


@contextlib.asynccontextmanager
async def sdk_clients(url: str, token: str, count: int) -> AsyncIterator[list[Sdk]]:
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(connect(url, token=token, max_backoff=0.5))
                   for _ in range(count)]
        sdks = [Sdk(c) for c in clients]
        try:
            yield sdks
        finally:
            for sdk in sdks:
                sdk.task.cancel()


async def warm_up(publisher: Publisher, sdks: list[Sdk]) -> int:
    """Publish one event at a time until every client got one (its subscription is live);
    returns the last number published."""
    n = 0
    while not all(s.items for s in sdks):
        n += 1
        await publisher.publish_events([make_event(n)])
        await asyncio.sleep(0.05)
    return n


async def until(check_: Any, what: str, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check_():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def final_position(url: str) -> tuple[str, int]:
    r = sync_redis.Redis.from_url(url)
    try:
        epoch, offset = r.hmget(keys.meta(C1), "epoch", "offset")
    finally:
        r.close()
    assert epoch is not None
    return epoch.decode(), int(offset)


def verdicts(sdks: list[Sdk], final: tuple[str, int]) -> list[Verdict]:
    return [check(sdk.items, final) for sdk in sdks]


async def test_link_cut_longer_than_the_history_is_told_never_silent(
        clean_redis: str, log_dir: Path, token: str) -> None:
    """One gateway's link to Redis goes down while 4 × HISTORY_RETAIN events are published;
    its clients must each get recovered:false and then every retained event."""
    redis = create_redis(clean_redis)
    publisher = Publisher(redis, history_limit=RETAIN)
    target = urlsplit(clean_redis).port
    assert target is not None
    proxy = await CuttableProxy("127.0.0.1", target).start()
    gw = services.gateway(f"redis://127.0.0.1:{proxy.port}/0", log_dir).start()
    try:
        async with sdk_clients(gw.ws, token, 2) as sdks, WsClient(gw.ws, token) as raw:
            await raw.request("subscribe", {"contractId": C1}, "subscribed")
            n = await warm_up(publisher, sdks)
            proxy.down()
            cut_from = n + 1
            for start in range(cut_from, cut_from + 4 * RETAIN, 20):
                await publisher.publish_events([make_event(i) for i in range(start, start + 20)])
            n = cut_from + 4 * RETAIN - 1
            proxy.up()
            await until(lambda: len(raw.of("subscribed")) >= 2 or len(raw.of("event")) > n - 200,
                        "the gateway to resume")
            await publisher.publish_events([make_event(i) for i in range(n + 1, n + 21)])
            final = final_position(clean_redis)
            assert final[1] == n + 20
            await until(lambda: all(s.position == final for s in sdks), "every client caught up")
            for result in verdicts(sdks, final):
                assert result.ok, result
                assert result.notices == 1
            # Every event the history still held came after the notice: nothing recoverable
            # was given up.
            kept = range(n - RETAIN + 1, n + 21)
            assert all({f"gap-{i}" for i in kept} <= s.ids for s in sdks)
            notice = raw.of("subscribed")[1]
            assert notice["recovered"] is False and notice["reason"] == "history_gap"
            assert (notice["epoch"], notice["offset"]) == (final[0], n - RETAIN)
            assert [e["offset"] for e in raw.of("event")] == [*range(1, cut_from), *kept]
    finally:
        gw.stop()
        await proxy.stop()
        await redis.aclose()


async def test_redis_restart_empty_mid_stream_is_told_and_loses_nothing_retained(
        log_dir: Path, token: str) -> None:
    """Redis is killed mid-stream and comes back empty (a new epoch): clients connected
    through it are told recovered:false and get the new epoch from its first offset; a client
    that resumes with `since` of the old epoch gets every event of the new one."""
    server = LocalRedis().start()
    redis = create_redis(server.url)
    publisher = Publisher(redis, history_limit=RETAIN)
    gw = services.gateway(server.url, log_dir).start()
    published: list[str] = []
    stop = asyncio.Event()
    running = asyncio.Event()
    running.set()
    idle = asyncio.Event()
    """Set while the feeder waits for ``running`` (no publish in flight)."""

    async def publish_steadily() -> None:
        n = 1
        while not stop.is_set():
            if not running.is_set():
                idle.set()
                await running.wait()
                idle.clear()
            try:
                await publisher.publish_events([make_event(n)])
            except BusUnavailable:
                await asyncio.sleep(0.02)  # like the node: re-send until it is taken
                continue
            published.append(f"gap-{n}")
            n += 1
            await asyncio.sleep(0.005)

    try:
        async with sdk_clients(gw.ws, token, 2) as sdks:
            feeder = asyncio.create_task(publish_steadily())
            await until(lambda: all(s.position and s.position[1] >= 20 for s in sdks),
                        "events before the restart")
            old_epoch, old_offset = final_position(server.url)
            server.kill()
            await asyncio.sleep(1.0)
            server.start()
            # Some of the new epoch (fewer events than the history keeps), then a client
            # that resumes with `since` of the old epoch.
            await until(lambda: (final_position_or_none(server.url) or ("", 0))[1] >= 20,
                        "the new epoch")
            running.clear()
            await idle.wait()
            epoch, offset = final_position(server.url)
            assert offset < RETAIN
            async with WsClient(gw.ws, token) as late:
                reply = await late.request("subscribe", {
                    "contractId": C1, "since": {"offset": old_offset, "epoch": old_epoch}},
                    "subscribed")
                assert reply["recovered"] is False
                assert (reply["epoch"], reply["offset"]) == (epoch, 0)
                await late.wait_for("event", offset)
                # The new epoch from its first offset: nothing still in the history is lost.
                assert [e["offset"] for e in late.of("event")] == list(range(1, offset + 1))
            running.set()
            stop.set()
            await feeder
            final = final_position(server.url)
            assert final[0] != old_epoch
            await until(lambda: all(s.position == final for s in sdks), "every client caught up")
            for sdk, result in zip(sdks, verdicts(sdks, final), strict=True):
                assert result.ok, result
                assert result.notices >= 1
                # Nothing published in the new epoch was lost.
                new_epoch = [i for i in sdk.items if i.kind == "event" and i.epoch == final[0]]
                assert [i.offset for i in new_epoch] == list(range(1, final[1] + 1))
    finally:
        gw.stop()
        await redis.aclose()
        server.cleanup()


def final_position_or_none(url: str) -> tuple[str, int] | None:
    try:
        return final_position(url)
    except (AssertionError, sync_redis.RedisError):
        return None


JS_WATCHER = """
import { AdStackClient } from %(module)s;
const [url, token, contract] = process.argv.slice(2);
const out = (o) => console.log(JSON.stringify(o));
const client = new AdStackClient(url, { token });
client.on("event", (e) => out({ kind: "event", epoch: e.epoch, offset: e.offset }));
client.on("recovery", (r) => out({ kind: "recovery", recovered: r.recovered }));
client.on("subscribed", ({ reply }) => out({ kind: "subscribed", reply }));
client.connect();
await client.subscribe(contract);
out({ kind: "ready" });
"""


async def test_browser_sdk_reports_the_gap_as_a_failed_recovery(
        clean_redis: str, log_dir: Path, token: str, tmp_path: Path) -> None:
    """adstack-client.js turns the unasked notice into `recovery {recovered: false}` and
    takes the replay that follows."""
    from tests.helpers.jsclient import node_binary
    from tests.helpers.paths import REPO

    module = REPO / "services/gateway/adstack_gateway/static/adstack-client.js"
    script = tmp_path / "watch.mjs"
    script.write_text(JS_WATCHER % {"module": repr(module.as_uri())})
    redis = create_redis(clean_redis)
    publisher = Publisher(redis, history_limit=RETAIN)
    target = urlsplit(clean_redis).port
    assert target is not None
    proxy = await CuttableProxy("127.0.0.1", target).start()
    gw = services.gateway(f"redis://127.0.0.1:{proxy.port}/0", log_dir).start()
    node = await asyncio.create_subprocess_exec(
        node_binary(), "--experimental-websocket", "--no-warnings", str(script), gw.ws, token,
        C1, stdout=asyncio.subprocess.PIPE)
    lines: list[dict[str, Any]] = []

    async def read() -> None:
        assert node.stdout is not None
        async for raw in node.stdout:
            lines.append(json.loads(raw))

    reader = asyncio.create_task(read())
    try:
        await until(lambda: any(line["kind"] == "ready" for line in lines), "the JS client")
        await publisher.publish_events([make_event(i) for i in range(1, 11)])
        await until(lambda: sum(line["kind"] == "event" for line in lines) == 10, "10 events")
        proxy.down()
        await publisher.publish_events([make_event(i) for i in range(11, 11 + 3 * RETAIN)])
        proxy.up()
        last = 10 + 3 * RETAIN
        await until(lambda: any(line.get("offset") == last for line in lines), "the replay")
        kinds = [line["kind"] for line in lines]
        assert kinds.count("recovery") == 1
        assert lines[kinds.index("recovery")]["recovered"] is False
        after = [line["offset"] for line in lines[kinds.index("recovery"):]
                 if line["kind"] == "event"]
        assert after == list(range(last - RETAIN + 1, last + 1))
    finally:
        node.kill()
        await node.wait()
        reader.cancel()
        gw.stop()
        await proxy.stop()
        await redis.aclose()
