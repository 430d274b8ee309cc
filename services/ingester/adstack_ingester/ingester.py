"""The ingester's wiring: one process's bus, processor, leadership, sources, beacon, health.

:class:`Ingester` builds the parts from the settings and joins them: the leadership hooks
fence the publisher and start or stop the Hiro source; :meth:`Ingester.guarded` lets only the
leader write; :attr:`Ingester.deliveries` (what each delivery does) writes through the one
:class:`~adstack_ingester.processor.BlockProcessor`; :meth:`Ingester.running` runs the
election and the source beacon for the app's lifespan. HTTP lives in
:mod:`adstack_ingester.receivers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from adstack_bus import (
    BusUnavailable,
    Lease,
    NotLeader,
    connect,
    read_chain_feed,
    record_source_heard,
)
from adstack_ingester import __version__
from adstack_ingester import metrics as m
from adstack_ingester.deliveries import Deliveries
from adstack_ingester.hiro_source import HiroSource
from adstack_ingester.leadership import Leadership
from adstack_ingester.pipeline import TypeNames, contract_filter
from adstack_ingester.processor import BlockProcessor
from adstack_ingester.settings import IngesterSettings
from adstack_metrics import iso_timestamp, memory_usage, memory_usage_js

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class Ingester:
    """State of one ingester process; the HTTP receivers are thin wrappers over it."""

    def __init__(self, settings: IngesterSettings) -> None:
        self.settings = settings
        self.started = time.time()
        self.bus = connect(settings.redis_url)
        self.redis = self.bus.redis
        self.publisher = self.bus.publisher(
            # The stream keeps enough for reconnect recovery; getHistory is capped separately.
            history_limit=max(settings.history_limit, settings.history_retain),
            history_ttl=settings.history_ttl,
            dedup_ttl=settings.dedup_ttl,
        )
        self.store = self.bus.chain_store(record_ttl=max(settings.dedup_ttl, 3600))
        self.processor = BlockProcessor(self.publisher, self.store,
                                        window=settings.reorg_window)
        self.allow = contract_filter(settings.contracts)
        self.type_names = TypeNames.parse(settings.type_overrides)
        self.deliveries = Deliveries(self.processor, self.guarded, allow=self.allow,
                                     type_names=self.type_names)
        self.leadership = Leadership(
            Lease(self.redis, settings.instance_id, ttl_ms=settings.lease_ttl_ms),
            on_elected=self._elected, on_lost=self._lost,
            renew_every=settings.lease_ttl_ms / 3000, poll_every=0.25)
        m.set_leader(False)  # every replica starts as a follower: its election is counted
        self.hiro: HiroSource | None = None
        if "hiro" in settings.sources:
            self.hiro = HiroSource(
                self.processor, api_url=settings.stacks_api_url, ws_url=settings.stacks_ws_url,
                allow=self.allow, type_names=self.type_names, api_key=settings.hiro_api_key,
                backfill_max=settings.hiro_backfill_max)
        self._source_tasks: list[asyncio.Task[None]] = []
        self.heard_at: float | None = None
        """When the chain source last spoke to this process (time.time())."""
        self.heard_from = ""

    # -- leadership ------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self.leadership.is_leader

    async def _elected(self, token: int) -> None:
        m.set_leader(True)
        self.publisher.fence = token
        self.processor.invalidate()  # another leader may have moved the chain
        if self.hiro is not None:
            self._source_tasks.append(asyncio.create_task(self.hiro.run(), name="hiro"))

    async def _lost(self, _token: int) -> None:
        m.set_leader(False)
        self.publisher.fence = None
        self.processor.invalidate()
        tasks, self._source_tasks = self._source_tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def guarded(self, work: Callable[[], Awaitable[_T]]) -> _T:
        """Run a write as the leader; a stale fencing token makes this replica step down."""
        if not self.is_leader or self.publisher.fence is None:
            raise NotLeader("this replica is a standby")
        try:
            return await work()
        except NotLeader:
            await self.leadership.step_down("a write was refused: fencing token is stale")
            raise

    # -- lifespan --------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Elect (one round before serving), then renew and beacon until the app stops."""
        settings = self.settings
        log.info("ingester %s starting; sources=%s contracts=%s", settings.instance_id,
                 ",".join(settings.sources), ",".join(settings.contracts))
        if settings.sources_from in ("STACKS_WS_URL", "STACKS_API_URL"):
            log.info("STACKS_SOURCES is not set and %s is: using the hiro source (%s), as the "
                     "original server did; set STACKS_SOURCES to choose otherwise",
                     settings.sources_from, settings.stacks_ws_url)
        # One round before serving: a lone replica is the leader by its first request.
        await self.leadership.step()
        leader_task = asyncio.create_task(self.leadership.run(), name="leadership")
        beacon_task = asyncio.create_task(self.beacon(), name="source-beacon")
        try:
            yield
        finally:
            for task in (beacon_task, leader_task):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.leadership.stop()
            await self.bus.aclose()

    # -- health ----------------------------------------------------------------------

    @property
    def last_block(self) -> dict[str, Any] | None:
        """The last ``/new_block`` this process handled (height, index block hash)."""
        return self.deliveries.last_block

    def heard(self, source: str) -> None:
        """The chain source just spoke to us (a node POST, a Chainhook delivery)."""
        self.heard_at = time.time()
        self.heard_from = source

    async def ping(self) -> bool:
        """Whether Redis answers."""
        return await self.publisher.ping()

    async def feed_live(self) -> bool:
        """Whether the leader heard its chain source recently (ask only when Redis is up)."""
        try:
            feed = await read_chain_feed(self.redis)
        except BusUnavailable:
            return False
        return feed is not None and feed.live(
            int(time.time() * 1000), int(self.settings.chain_feed_stale_after * 1000))

    async def beacon(self, every: float = 1.0) -> None:
        """Leader only: record in Redis when it last heard from its source (at most once per
        ``every`` seconds), so every ``/health`` can tell whether the chain feed is live. A
        connected Hiro WebSocket counts as heard: its pings keep it honest."""
        written: float | None = None
        while True:
            if self.hiro is not None and self.hiro.connected:
                self.heard(self.settings.stacks_ws_url)
            heard_at = self.heard_at
            if self.is_leader and heard_at is not None and heard_at != written:
                try:
                    await record_source_heard(self.redis, self.settings.instance_id,
                                              int(heard_at * 1000), self.heard_from)
                    written = heard_at
                except BusUnavailable:
                    log.debug("source heartbeat not recorded: redis unavailable")
            await asyncio.sleep(every)

    def _sources(self) -> dict[str, Any]:
        d = self.deliveries
        sources: dict[str, Any] = {"enabled": list(self.settings.sources),
                                   "lastBlock": d.last_block,
                                   "lastBurnBlock": d.last_burn_block,
                                   "lastHeardAt": None if self.heard_at is None
                                   else int(self.heard_at * 1000)}
        if self.hiro is not None:
            sources["hiro"] = {"connected": self.hiro.connected, "connects": self.hiro.connects,
                               "blocksSynced": self.hiro.blocks_synced,
                               "lastError": self.hiro.last_error}
        return sources

    def _counts(self) -> dict[str, Any]:
        d = self.deliveries
        return {
            "connectedClients": 0,
            "activeSubscriptions": 0,
            "memoryUsage": memory_usage_js(memory_usage()),
            "blocksReceived": d.blocks_received,
            "eventsPublished": d.events_published,
            "duplicatesDropped": d.duplicates,
            "decodeFailures": d.decode_failures,
            "blocksKeptAside": d.held_blocks,
            "burnBlocks": d.burn_blocks,
            "mempoolTxs": d.mempool_txs,
            "microblocks": d.microblocks,
            "elections": self.leadership.elections,
            "pid": os.getpid(),
        }

    async def health(self) -> tuple[int, dict[str, Any]]:
        """``/health``: the original server's document (as the gateway's) plus our detail;
        503 for a standby or without Redis (readiness routes the node to the leader)."""
        redis_ok = await self.ping()
        leader = self.is_leader
        ready = redis_ok and leader
        status = "ok" if ready else ("standby" if redis_ok else "degraded")
        feed_live = redis_ok and await self.feed_live()
        now = time.time()
        tip = self.processor.tip
        return (200 if ready else 503), {
            "status": status,
            "timestamp": iso_timestamp(now),
            "uptime": round(now - self.started, 3),
            "service": "ingester",
            "version": __version__,
            "timestampMs": int(now * 1000),
            "role": "leader" if leader else "standby",
            "instance": self.settings.instance_id,
            "fencingToken": self.leadership.token,
            "services": {
                "redis": redis_ok,
                "stacksWebSocket": feed_live,
                "websocket": 0,
                "stacks": self._sources(),
            },
            "chain": {"tip": None if tip is None else
                      {"height": tip.height, "indexBlockHash": tip.index_block_hash},
                      "reorgs": self.processor.reorgs,
                      "eventsReverted": self.processor.reverted},
            "metrics": self._counts(),
        }
