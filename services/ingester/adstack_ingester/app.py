"""The ingester's HTTP app: event-observer and Chainhook receivers, leadership, health."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adstack_bus import (
    BusUnavailable,
    ChainFeed,
    Lease,
    NotLeader,
    connect,
    keys,
    read_chain_feed,
    record_source_heard,
)
from adstack_events import TransactionFeed
from adstack_ingester import __version__, chainhook
from adstack_ingester import metrics as m
from adstack_ingester.hiro_source import HiroSource
from adstack_ingester.leadership import Leadership
from adstack_ingester.ops import install_ops
from adstack_ingester.payloads import (
    PAYLOAD_ERRORS,
    drop_mempool_decoder,
    mempool_decoder,
    microblocks_decoder,
    new_block_decoder,
    new_burn_block_decoder,
)
from adstack_ingester.pipeline import (
    DecodeFailure,
    TypeNames,
    block_record,
    block_txs,
    contract_filter,
    transaction_feed_from_hex,
)
from adstack_ingester.processor import BlockProcessor, Outcome
from adstack_ingester.settings import IngesterSettings
from adstack_metrics import iso_timestamp, memory_usage, memory_usage_js
from adstack_protocol import ServerEvent, wire
from adstack_protocol.codes import HttpErrorCode
from adstack_protocol.codes import IngestErrorCode as Code
from adstack_runtime import bind_log_context, body_timed_out

log = logging.getLogger(__name__)

# Paths the node posts that we accept and ignore (answering 200 so it does not retry).
IGNORED_PATHS = (
    "/attachments/new",
    "/stackerdb_chunks",
    "/proposal_response",
    "/mined_block",
    "/mined_microblock",
    "/mined_nakamoto_block",
)

_PENDING_MAX = 10_000
_OUTCOMES = {400: "bad_request", 408: "timeout", 413: "too_large"}
"""HTTP status of a :class:`BadRequest` → its ``adstack_ingest_requests_total`` outcome."""


class BadRequest(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _dropped_status(reason: str) -> str:
    """``ReplaceByFee`` → ``dropped_replace_by_fee`` (the Hiro API's status names)."""
    out = "".join(f"_{c.lower()}" if c.isupper() else c for c in reason).lstrip("_")
    return f"dropped_{out or 'unknown'}"


class Ingester:
    """State of one ingester process; the HTTP handlers are thin wrappers over it."""

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
        self._pending: OrderedDict[str, TransactionFeed] = OrderedDict()
        self.blocks_received = 0
        self.events_published = 0
        self.duplicates = 0
        self.decode_failures = 0
        self.held_blocks = 0
        self.burn_blocks = 0
        self.mempool_txs = 0
        self.microblocks = 0
        self.last_block: dict[str, Any] | None = None
        self.last_burn_block: dict[str, Any] | None = None
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

    async def guarded(self, work: Callable[[], Awaitable[Any]]) -> Any:
        """Run a write as the leader; a stale fencing token makes this replica step down."""
        if not self.is_leader or self.publisher.fence is None:
            raise NotLeader("this replica is a standby")
        try:
            return await work()
        except NotLeader:
            await self.leadership.step_down("a write was refused: fencing token is stale")
            raise

    # -- observer --------------------------------------------------------------------

    def _failures(self, failures: list[DecodeFailure], source: str = "observer") -> None:
        for failure in failures:
            log.warning("skipped undecodable data tx=%s index=%d contract=%s: %s",
                        failure.txid, failure.event_index, failure.contract_id, failure.reason)
        self.decode_failures += len(failures)
        # Print events only (event_index ≥ 0); undecodable raw transactions are just logged.
        m.record_decode_failures(sum(f.event_index >= 0 for f in failures), source=source)

    def _count(self, outcome: Outcome) -> None:
        self.events_published += outcome.published
        self.duplicates += outcome.duplicates
        self.held_blocks += int(outcome.held)

    async def handle_new_block(self, body: bytes) -> dict[str, Any]:
        """Decode, publish and checkpoint one ``/new_block`` payload.

        Raises:
            BadRequest: the payload is not a valid block.
            BusUnavailable / NotLeader: answer non-200 so the node re-sends.
        """
        try:
            block = new_block_decoder.decode(body)
        except PAYLOAD_ERRORS as exc:
            raise BadRequest(400, Code.INVALID_PAYLOAD,
                             f"invalid /new_block payload: {exc}") from exc
        bind_log_context(block=block.index_block_hash, height=block.block_height)
        failures: list[DecodeFailure] = []
        record = block_record(block, self.allow, now_ms=int(time.time() * 1000),
                              failures=failures, type_names=self.type_names, with_txs=False)
        try:
            outcome: Outcome = await self.guarded(lambda: self.processor.process(
                record, reorg_to=block.nakamoto,
                txs=lambda: block_txs(block, self.allow, failures=failures)))
        finally:
            self._failures(failures)
        self.blocks_received += 1
        self._count(outcome)
        self.last_block = {"height": block.block_height, "indexBlockHash": block.index_block_hash}
        log.info("block %d %s: %d published, %d duplicates%s%s",
                 block.block_height, block.index_block_hash[:12], outcome.published,
                 outcome.duplicates, f", {outcome.reverted} reverted (reorg)"
                 if outcome.reorg else "", ", kept aside (fork)" if outcome.held else "",
                 extra={"block": block.index_block_hash})
        return {"published": outcome.published, "duplicates": outcome.duplicates,
                "reverted": outcome.reverted, "held": outcome.held}

    async def handle_burn_block(self, body: bytes) -> None:
        try:
            burn = new_burn_block_decoder.decode(body)
        except PAYLOAD_ERRORS as exc:
            raise BadRequest(400, Code.INVALID_PAYLOAD,
                             f"invalid /new_burn_block payload: {exc}") from exc
        self.burn_blocks += 1
        self.last_burn_block = {"height": burn.burn_block_height, "hash": burn.burn_block_hash}

    async def _publish_feeds(self, feeds: list[TransactionFeed]) -> None:
        if not feeds:
            return
        frames = [(keys.TRANSACTION_CHANNEL, wire.feed_frame(ServerEvent.TRANSACTION, feed))
                  for feed in feeds]
        # The chain script publishes them: fenced like every other write, tip unchanged.
        await self.guarded(lambda: self.store.commit(fence=self.publisher.fence, tip=None,
                                                     feeds=frames))

    async def handle_mempool(self, body: bytes) -> int:
        try:
            raw_txs = mempool_decoder.decode(body)
        except PAYLOAD_ERRORS as exc:
            raise BadRequest(400, Code.INVALID_PAYLOAD,
                             f"invalid /new_mempool_tx payload: {exc}") from exc
        failures: list[DecodeFailure] = []
        feeds = [feed for raw in raw_txs
                 if (feed := transaction_feed_from_hex(raw, self.allow, None, status="pending",
                                                       failures=failures)) is not None]
        self._failures(failures)
        await self._publish_feeds(feeds)
        for feed in feeds:
            self._pending[feed.txId] = feed
            while len(self._pending) > _PENDING_MAX:
                self._pending.popitem(last=False)
        self.mempool_txs += len(raw_txs)
        return len(feeds)

    async def handle_drop_mempool(self, body: bytes) -> int:
        try:
            drop = drop_mempool_decoder.decode(body)
        except PAYLOAD_ERRORS as exc:
            raise BadRequest(400, Code.INVALID_PAYLOAD,
                             f"invalid /drop_mempool_tx payload: {exc}") from exc
        status = _dropped_status(drop.reason)
        feeds = []
        for txid in drop.dropped_txids:
            key = txid if txid.startswith("0x") else f"0x{txid}"
            pending = self._pending.get(key.lower())
            if pending is not None:
                feeds.append(msgspec.structs.replace(pending, status=status))
        await self._publish_feeds(feeds)
        for feed in feeds:
            self._pending.pop(feed.txId, None)
        return len(feeds)

    async def handle_microblocks(self, body: bytes) -> None:
        try:
            micro = microblocks_decoder.decode(body)
        except PAYLOAD_ERRORS as exc:
            raise BadRequest(400, Code.INVALID_PAYLOAD,
                             f"invalid /new_microblocks payload: {exc}") from exc
        # Microblock transactions are published when the anchor block that confirms them
        # arrives (its /new_block carries them, with the anchor's index block hash, which is
        # also the identity the Hiro API gives them); unconfirmed ones are only counted.
        self.microblocks += 1
        log.info("microblocks on %s: %d transactions, %d events (published when confirmed)",
                 micro.parent_index_block_hash[:12], len(micro.transactions), len(micro.events))

    # -- chainhook -------------------------------------------------------------------

    async def handle_chainhook(self, body: bytes) -> dict[str, Any]:
        try:
            delivery = chainhook.delivery_decoder.decode(body)
        except PAYLOAD_ERRORS as exc:
            raise BadRequest(400, Code.INVALID_PAYLOAD,
                             f"invalid Chainhook payload: {exc}") from exc
        now_ms = int(time.time() * 1000)
        failures: list[DecodeFailure] = []
        rollback = [chainhook.block_record(b, self.allow, now_ms=now_ms, failures=failures,
                                           type_names=self.type_names)
                    for b in sorted(delivery.rollback, key=lambda b: -b.block_identifier.index)]
        apply = [chainhook.block_record(b, self.allow, now_ms=now_ms, failures=failures,
                                        type_names=self.type_names)
                 for b in sorted(delivery.apply, key=lambda b: b.block_identifier.index)]
        self._failures(failures, "chainhook")
        total = Outcome()

        async def work() -> None:
            for record in rollback:
                outcome = await self.processor.rollback(record)
                total.reverted += outcome.reverted
            for record in apply:
                outcome = await self.processor.process(record, reorg_to=True)
                total.published += outcome.published
                total.duplicates += outcome.duplicates
                total.reverted += outcome.reverted

        await self.guarded(work)
        self._count(total)
        log.info("chainhook: %d rollback, %d apply blocks: %d published, %d duplicates, "
                 "%d reverted", len(rollback), len(apply), total.published, total.duplicates,
                 total.reverted)
        return {"published": total.published, "duplicates": total.duplicates,
                "reverted": total.reverted}

    # -- health ----------------------------------------------------------------------

    def heard(self, source: str) -> None:
        """The chain source just spoke to us (a node POST, a Chainhook delivery)."""
        self.heard_at = time.time()
        self.heard_from = source

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

    async def health(self) -> tuple[int, dict[str, Any]]:
        """``/health``: the original server's document (as the gateway's) plus our detail;
        503 for a standby or without Redis (readiness routes the node to the leader)."""
        redis_ok = await self.publisher.ping()
        leader = self.is_leader
        ready = redis_ok and leader
        status = "ok" if ready else ("standby" if redis_ok else "degraded")
        feed: ChainFeed | None = None
        if redis_ok:
            with contextlib.suppress(BusUnavailable):
                feed = await read_chain_feed(self.redis)
        now = time.time()
        feed_live = feed is not None and feed.live(
            int(now * 1000), int(self.settings.chain_feed_stale_after * 1000))
        tip = self.processor.tip
        sources: dict[str, Any] = {"enabled": list(self.settings.sources),
                                   "lastBlock": self.last_block,
                                   "lastBurnBlock": self.last_burn_block,
                                   "lastHeardAt": None if self.heard_at is None
                                   else int(self.heard_at * 1000)}
        if self.hiro is not None:
            sources["hiro"] = {"connected": self.hiro.connected, "connects": self.hiro.connects,
                               "blocksSynced": self.hiro.blocks_synced,
                               "lastError": self.hiro.last_error}
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
                "stacks": sources,
            },
            "chain": {"tip": None if tip is None else
                      {"height": tip.height, "indexBlockHash": tip.index_block_hash},
                      "reorgs": self.processor.reorgs,
                      "eventsReverted": self.processor.reverted},
            "metrics": {
                "connectedClients": 0,
                "activeSubscriptions": 0,
                "memoryUsage": memory_usage_js(memory_usage()),
                "blocksReceived": self.blocks_received,
                "eventsPublished": self.events_published,
                "duplicatesDropped": self.duplicates,
                "decodeFailures": self.decode_failures,
                "blocksKeptAside": self.held_blocks,
                "burnBlocks": self.burn_blocks,
                "mempoolTxs": self.mempool_txs,
                "microblocks": self.microblocks,
                "elections": self.leadership.elections,
                "pid": os.getpid(),
            },
        }


def create_app(settings: IngesterSettings) -> Starlette:
    """The ingester ASGI app."""
    ingester = Ingester(settings)
    observer_on = "observer" in settings.sources
    chainhook_on = "chainhook" in settings.sources

    def authorized(request: Request) -> bool:
        token = settings.observer_token
        if not token:
            return True
        header = request.headers.get("authorization", "")
        supplied = header[7:] if header.lower().startswith("bearer ") else header
        return hmac.compare_digest(supplied.encode(), token.encode())

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        limit = settings.max_body_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BadRequest(413, Code.PAYLOAD_TOO_LARGE, f"body exceeds {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BadRequest(413, Code.PAYLOAD_TOO_LARGE, f"body exceeds {limit} bytes")
                chunks.append(chunk)
        except ClientDisconnect:
            if body_timed_out(request.scope):
                # The server already answered 408 and closed the connection (BODY_TIMEOUT):
                # this is only for the log and the metrics.
                raise BadRequest(408, HttpErrorCode.BODY_TIMEOUT,
                                 f"the body was not complete within {settings.body_timeout:g}s"
                                 f" ({size} bytes arrived)") from None
            # The sender left mid-body (it will re-send): nothing to process, no traceback.
            raise BadRequest(400, Code.INVALID_PAYLOAD,
                             f"the sender disconnected after {size} bytes of the body") from None
        return b"".join(chunks)

    def error(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)

    async def respond(request: Request, handler: Callable[[bytes], Awaitable[Any]],
                      *, check: Callable[[Request], bool] = authorized) -> Response:
        if not check(request):
            m.record_request("unauthorized")
            return error(401, Code.UNAUTHORIZED, "missing or wrong authorization")
        if not ingester.is_leader:
            # A standby: the sender retries, and a readiness-routing balancer moves on.
            m.record_request("not_leader")
            return error(503, Code.NOT_LEADER, "standby replica; retry")
        try:
            body = await read_body(request)
            result = await handler(body)
        except BadRequest as exc:
            log.warning("rejected %s: %s", request.url.path, exc.message)
            m.record_request(_OUTCOMES.get(exc.status, "bad_request"))
            return error(exc.status, exc.code, exc.message)
        except NotLeader as exc:
            log.warning("not the leader (%s); asking the sender to retry", exc)
            m.record_request("not_leader")
            return error(503, Code.NOT_LEADER, "standby replica; retry")
        except BusUnavailable as exc:
            log.warning("redis unavailable, asking the sender to retry: %s", exc)
            m.record_request("unavailable")
            m.observe_redis(False)
            return error(503, Code.REDIS_UNAVAILABLE, "event store unavailable; retry")
        m.record_request("ok")
        ingester.heard("chainhook" if request.url.path == "/chainhook" else "observer")
        extra = result if isinstance(result, dict) else {}
        return JSONResponse({"result": "ok", **extra})

    def observer_route(handler: Callable[[bytes], Awaitable[Any]]
                       ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if not observer_on:
                return error(404, Code.SOURCE_DISABLED, "the observer source is disabled")
            return await respond(request, handler)
        return endpoint

    async def ignored(request: Request) -> Response:
        if not authorized(request):
            return error(401, Code.UNAUTHORIZED, "missing or wrong observer token")
        try:
            await read_body(request)
        except BadRequest as exc:
            return error(exc.status, exc.code, exc.message)
        ingester.heard("observer")
        return JSONResponse({"result": "ok"})

    def chainhook_authorized(request: Request) -> bool:
        expected = settings.chainhook_auth_header
        if not expected:
            return True
        return hmac.compare_digest(request.headers.get("authorization", "").encode(),
                                   expected.encode())

    async def chainhook_endpoint(request: Request) -> Response:
        if not chainhook_on:
            return error(404, Code.SOURCE_DISABLED, "the chainhook source is disabled")
        return await respond(request, ingester.handle_chainhook, check=chainhook_authorized)

    async def health(_request: Request) -> Response:
        status, body = await ingester.health()
        return JSONResponse(body, status_code=status)

    async def live(_request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        log.info("ingester %s starting; sources=%s contracts=%s", settings.instance_id,
                 ",".join(settings.sources), ",".join(settings.contracts))
        if settings.sources_from in ("STACKS_WS_URL", "STACKS_API_URL"):
            log.info("STACKS_SOURCES is not set and %s is: using the hiro source (%s), as the "
                     "original server did; set STACKS_SOURCES to choose otherwise",
                     settings.sources_from, settings.stacks_ws_url)
        # One round before serving: a lone replica is the leader by its first request.
        await ingester.leadership.step()
        leader_task = asyncio.create_task(ingester.leadership.run(), name="leadership")
        beacon_task = asyncio.create_task(ingester.beacon(), name="source-beacon")
        try:
            yield
        finally:
            for task in (beacon_task, leader_task):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await ingester.leadership.stop()
            await ingester.bus.aclose()

    routes = [
        Route("/new_block", observer_route(ingester.handle_new_block), methods=["POST"]),
        Route("/new_burn_block", observer_route(ingester.handle_burn_block), methods=["POST"]),
        Route("/new_mempool_tx", observer_route(ingester.handle_mempool), methods=["POST"]),
        Route("/drop_mempool_tx", observer_route(ingester.handle_drop_mempool),
              methods=["POST"]),
        Route("/new_microblocks", observer_route(ingester.handle_microblocks),
              methods=["POST"]),
        *(Route(path, ignored, methods=["POST"]) for path in IGNORED_PATHS),
        Route("/chainhook", chainhook_endpoint, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/health/live", live, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.ingester = ingester
    install_ops(app, ingester, is_leader=lambda: ingester.leadership.is_leader)
    return app
