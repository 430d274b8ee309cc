"""The ingester's HTTP receivers: the node's event-observer routes, the Chainhook endpoint,
``/health`` and ``/health/live``, with their authorization, body reading and error answers.

A receiver checks the sender's token, answers 503 on a standby, reads the body within
``OBSERVER_MAX_BODY_BYTES``, and passes it to a handler of
:class:`~adstack_ingester.deliveries.Deliveries`; refusals become JSON errors
(``{"error": {"code", "message"}}``) with the codes of :mod:`adstack_protocol.codes`, and
every answer is counted in ``adstack_ingest_requests_total``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adstack_bus import BusUnavailable, NotLeader
from adstack_ingester import metrics as m
from adstack_ingester.deliveries import BadRequest
from adstack_ingester.ingester import Ingester
from adstack_ingester.settings import IngesterSettings
from adstack_protocol.codes import HttpErrorCode
from adstack_protocol.codes import IngestErrorCode as Code
from adstack_runtime import body_timed_out

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

_OUTCOMES = {400: "bad_request", 408: "timeout", 413: "too_large"}
"""HTTP status of a :class:`BadRequest` → its ``adstack_ingest_requests_total`` outcome."""

Handler = Callable[[bytes], Awaitable[Any]]
Endpoint = Callable[[Request], Awaitable[Response]]


def error(status: int, code: str, message: str) -> JSONResponse:
    """The receivers' error answer."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def bearer_matches(request: Request, token: str | None) -> bool:
    """``Authorization: Bearer <token>`` (or the bare token) is ``token``; no token: open."""
    if not token:
        return True
    header = request.headers.get("authorization", "")
    supplied = header[7:] if header.lower().startswith("bearer ") else header
    return hmac.compare_digest(supplied.encode(), token.encode())


def header_matches(request: Request, expected: str | None) -> bool:
    """The ``Authorization`` header is exactly ``expected`` (Chainhook's); none set: open."""
    if not expected:
        return True
    return hmac.compare_digest(request.headers.get("authorization", "").encode(),
                               expected.encode())


async def read_body(request: Request, *, limit: int, body_timeout: float) -> bytes:
    """The whole body, refused beyond ``limit`` bytes (declared or streamed).

    Raises:
        BadRequest: 413 too large; 408 the server's body deadline passed; 400 the sender
            left mid-body.
    """
    declared = request.headers.get("content-length")
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
                             f"the body was not complete within {body_timeout:g}s"
                             f" ({size} bytes arrived)") from None
        # The sender left mid-body (it will re-send): nothing to process, no traceback.
        raise BadRequest(400, Code.INVALID_PAYLOAD,
                         f"the sender disconnected after {size} bytes of the body") from None
    return b"".join(chunks)


class Receivers:
    """The ingester's HTTP endpoints over one :class:`Ingester`."""

    def __init__(self, ingester: Ingester) -> None:
        self.ingester = ingester
        self.settings: IngesterSettings = ingester.settings
        self.observer_on = "observer" in self.settings.sources
        self.chainhook_on = "chainhook" in self.settings.sources

    def routes(self) -> list[Route]:
        d = self.ingester.deliveries
        return [
            Route("/new_block", self.observer(d.new_block), methods=["POST"]),
            Route("/new_burn_block", self.observer(d.new_burn_block), methods=["POST"]),
            Route("/new_mempool_tx", self.observer(d.new_mempool_tx), methods=["POST"]),
            Route("/drop_mempool_tx", self.observer(d.drop_mempool_tx), methods=["POST"]),
            Route("/new_microblocks", self.observer(d.new_microblocks), methods=["POST"]),
            *(Route(path, self.ignored, methods=["POST"]) for path in IGNORED_PATHS),
            Route("/chainhook", self.chainhook, methods=["POST"]),
            Route("/health", self.health, methods=["GET"]),
            Route("/health/live", self.live, methods=["GET"]),
        ]

    def observer_authorized(self, request: Request) -> bool:
        return bearer_matches(request, self.settings.observer_token)

    def chainhook_authorized(self, request: Request) -> bool:
        return header_matches(request, self.settings.chainhook_auth_header)

    async def read_body(self, request: Request) -> bytes:
        return await read_body(request, limit=self.settings.max_body_bytes,
                               body_timeout=self.settings.body_timeout)

    async def respond(self, request: Request, handler: Handler, *,
                      check: Callable[[Request], bool], source: str) -> Response:
        """Authorize, require leadership, read, handle; every refusal is a counted answer."""
        if not check(request):
            m.record_request("unauthorized")
            return error(401, Code.UNAUTHORIZED, "missing or wrong authorization")
        if not self.ingester.is_leader:
            # A standby: the sender retries, and a readiness-routing balancer moves on.
            m.record_request("not_leader")
            return error(503, Code.NOT_LEADER, "standby replica; retry")
        try:
            body = await self.read_body(request)
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
        self.ingester.heard(source)
        extra = result if isinstance(result, dict) else {}
        return JSONResponse({"result": "ok", **extra})

    def observer(self, handler: Handler) -> Endpoint:
        """An event-observer route (404 when the observer source is disabled)."""
        async def endpoint(request: Request) -> Response:
            if not self.observer_on:
                return error(404, Code.SOURCE_DISABLED, "the observer source is disabled")
            return await self.respond(request, handler, check=self.observer_authorized,
                                      source="observer")
        return endpoint

    async def ignored(self, request: Request) -> Response:
        """A node path we accept and drop (authorized, body read, 200)."""
        if not self.observer_authorized(request):
            return error(401, Code.UNAUTHORIZED, "missing or wrong observer token")
        try:
            await self.read_body(request)
        except BadRequest as exc:
            return error(exc.status, exc.code, exc.message)
        self.ingester.heard("observer")
        return JSONResponse({"result": "ok"})

    async def chainhook(self, request: Request) -> Response:
        if not self.chainhook_on:
            return error(404, Code.SOURCE_DISABLED, "the chainhook source is disabled")
        return await self.respond(request, self.ingester.deliveries.chainhook,
                                  check=self.chainhook_authorized, source="chainhook")

    async def health(self, _request: Request) -> Response:
        status, body = await self.ingester.health()
        return JSONResponse(body, status_code=status)

    async def live(self, _request: Request) -> Response:
        return JSONResponse({"status": "alive"})
