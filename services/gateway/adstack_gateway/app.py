"""The gateway ASGI app: ``/ws``, health; the lifespan owns Redis and the relay task."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from adstack_auth import TokenVerifier
from adstack_bus import Store, Subscriber, create_redis
from adstack_gateway import __version__
from adstack_gateway.core import Gateway
from adstack_gateway.hub import Hub
from adstack_gateway.ops import install_ops
from adstack_gateway.settings import GatewaySettings
from adstack_gateway.static import static_routes
from adstack_gateway.ws import ws_endpoint

log = logging.getLogger(__name__)


def create_app(settings: GatewaySettings) -> Starlette:
    """The gateway ASGI app for ``settings``."""
    redis = create_redis(settings.redis_url)
    store = Store(redis)
    hub = Hub(store)
    verifier = None if settings.skip_auth else TokenVerifier(settings.jwt)
    gateway = Gateway(settings, store, hub, verifier)
    subscriber = Subscriber(redis, hub.deliver, on_reconnect=hub.reposition)
    hub.bind(subscriber)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        relay = asyncio.create_task(subscriber.run(), name="relay")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(subscriber.connected.wait(), timeout=5)
        log.info("gateway ready on port %d (auth %s)", settings.port,
                 "off (SKIP_AUTH)" if verifier is None else "on")
        try:
            yield
        finally:
            await subscriber.close()
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await relay
            await redis.aclose()

    async def health(_request: Request) -> Response:
        redis_ok = subscriber.connected.is_set() and await store.ping()
        subscriptions = sum(len(s.subscriptions) for s in gateway.sessions)
        body = {
            "status": "healthy" if redis_ok else "degraded",
            "service": "gateway",
            "version": __version__,
            "timestamp": int(time.time() * 1000),
            "uptime": round(time.time() - gateway.started, 3),
            "services": {
                "redis": "connected" if redis_ok else "disconnected",
                "websocket": {"connections": len(gateway.sessions)},
            },
            "metrics": {
                "connectedClients": len(gateway.sessions),
                "activeSubscriptions": subscriptions,
                "redisChannels": hub.local_channels(),
                "pid": os.getpid(),
            },
        }
        return JSONResponse(body, status_code=200 if redis_ok else 503)

    async def live(_request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    app = Starlette(
        routes=[
            WebSocketRoute("/ws", ws_endpoint),
            Route("/health", health, methods=["GET"]),
            Route("/health/live", live, methods=["GET"]),
            *static_routes(),
        ],
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    install_ops(app, gateway, subscriber)
    return app
