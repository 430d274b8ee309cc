"""The ingester's HTTP app: the stacks-node event-observer receiver and health."""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adstack_bus import BusUnavailable, Publisher, create_redis, keys
from adstack_ingester import __version__
from adstack_ingester.ops import install_ops
from adstack_ingester.payloads import new_block_decoder
from adstack_ingester.pipeline import DecodeFailure, block_feed, contract_filter, extract_events
from adstack_ingester.settings import IngesterSettings
from adstack_runtime import bind_log_context

log = logging.getLogger(__name__)

# Paths the node posts that we accept and ignore (answering 200 so it does not retry).
IGNORED_PATHS = (
    "/new_burn_block",
    "/new_mempool_tx",
    "/drop_mempool_tx",
    "/new_microblocks",
    "/attachments/new",
    "/stackerdb_chunks",
    "/proposal_response",
    "/mined_block",
    "/mined_microblock",
    "/mined_nakamoto_block",
)

_frame_encoder = msgspec.json.Encoder()


class BadRequest(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Ingester:
    """State of one ingester process; the HTTP handlers are thin wrappers over it."""

    def __init__(self, settings: IngesterSettings) -> None:
        self.settings = settings
        self.started = time.time()
        self.redis = create_redis(settings.redis_url)
        self.publisher = Publisher(
            self.redis,
            history_limit=settings.history_limit,
            history_ttl=settings.history_ttl,
            dedup_ttl=settings.dedup_ttl,
        )
        self.allow = contract_filter(settings.contracts)
        # The node posts one block at a time; the lock also keeps publish order = arrival
        # order if a retry overlaps a slow request.
        self.lock = asyncio.Lock()
        self.blocks_received = 0
        self.events_published = 0
        self.duplicates = 0
        self.decode_failures = 0
        self.last_block: dict[str, Any] | None = None

    async def handle_new_block(self, body: bytes) -> dict[str, int]:
        """Decode, publish and checkpoint one ``/new_block`` payload.

        Raises:
            BadRequest: the payload is not a valid block.
            BusUnavailable: Redis failed; answer non-200 so the node re-sends.
        """
        try:
            block = new_block_decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise BadRequest(400, "INVALID_PAYLOAD", f"invalid /new_block payload: {exc}") from exc
        bind_log_context(block=block.index_block_hash, height=block.block_height)
        failures: list[DecodeFailure] = []
        now_ms = int(time.time() * 1000)
        events = extract_events(block, self.allow, now_ms=now_ms, failures=failures)
        for failure in failures:
            log.warning("skipped undecodable print event tx=%s index=%d contract=%s: %s",
                        failure.txid, failure.event_index, failure.contract_id, failure.reason)
        async with self.lock:
            result = await self.publisher.publish_events(events)
            feed = _frame_encoder.encode({"event": "block", "data": block_feed(block)})
            await self.publisher.publish_feed(keys.BLOCK_CHANNEL, feed)
            await self._checkpoint(block.block_height, block.block_hash, block.index_block_hash)
        self.blocks_received += 1
        self.events_published += result.published
        self.duplicates += result.duplicates
        self.decode_failures += len(failures)
        self.last_block = {"height": block.block_height, "indexBlockHash": block.index_block_hash}
        log.info("block %d %s: %d events published, %d duplicates",
                 block.block_height, block.index_block_hash[:12], result.published,
                 result.duplicates, extra={"block": block.index_block_hash})
        return {"published": result.published, "duplicates": result.duplicates}

    async def _checkpoint(self, height: int, block_hash: str, index_block_hash: str) -> None:
        try:
            await self.redis.hset(keys.CHECKPOINT, mapping={
                "height": height, "hash": block_hash, "indexBlockHash": index_block_hash})
        except Exception as exc:
            raise BusUnavailable("checkpoint write failed") from exc

    async def health(self) -> tuple[int, dict[str, Any]]:
        redis_ok = await self.publisher.ping()
        status = "healthy" if redis_ok else "degraded"
        return (200 if redis_ok else 503), {
            "status": status,
            "service": "ingester",
            "version": __version__,
            "timestamp": int(time.time() * 1000),
            "uptime": round(time.time() - self.started, 3),
            "services": {
                "redis": "connected" if redis_ok else "disconnected",
                "stacks": {"source": "observer", "lastBlock": self.last_block},
            },
            "metrics": {
                "blocksReceived": self.blocks_received,
                "eventsPublished": self.events_published,
                "duplicatesDropped": self.duplicates,
                "decodeFailures": self.decode_failures,
                "pid": os.getpid(),
            },
        }


def create_app(settings: IngesterSettings) -> Starlette:
    """The ingester ASGI app."""
    ingester = Ingester(settings)

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
            raise BadRequest(413, "PAYLOAD_TOO_LARGE", f"body exceeds {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BadRequest(413, "PAYLOAD_TOO_LARGE", f"body exceeds {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def error(status: int, code: str, message: str) -> JSONResponse:
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)

    async def new_block(request: Request) -> Response:
        if not authorized(request):
            return error(401, "UNAUTHORIZED", "missing or wrong observer token")
        try:
            body = await read_body(request)
            result = await ingester.handle_new_block(body)
        except BadRequest as exc:
            log.warning("rejected /new_block: %s", exc.message)
            return error(exc.status, exc.code, exc.message)
        except BusUnavailable as exc:
            log.warning("redis unavailable, asking the node to retry: %s", exc)
            return error(503, "REDIS_UNAVAILABLE", "event store unavailable; retry")
        return JSONResponse({"result": "ok", **result})

    async def ignored(request: Request) -> Response:
        if not authorized(request):
            return error(401, "UNAUTHORIZED", "missing or wrong observer token")
        try:
            await read_body(request)
        except BadRequest as exc:
            return error(exc.status, exc.code, exc.message)
        return JSONResponse({"result": "ok"})

    async def health(_request: Request) -> Response:
        status, body = await ingester.health()
        return JSONResponse(body, status_code=status)

    async def live(_request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        log.info("ingester listening for observer POSTs; contracts=%s",
                 ",".join(settings.contracts))
        try:
            yield
        finally:
            await ingester.redis.aclose()

    routes = [
        Route("/new_block", new_block, methods=["POST"]),
        *(Route(path, ignored, methods=["POST"]) for path in IGNORED_PATHS),
        Route("/health", health, methods=["GET"]),
        Route("/health/live", live, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.ingester = ingester
    install_ops(app, ingester)
    return app
