"""The gateway ASGI app: ``/ws``, ``/socket.io/``, health; the lifespan owns Redis, the
relay task and the SIGTERM drain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

import socketio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from adstack_auth import TokenVerifier
from adstack_bus import connect
from adstack_gateway._uvicorn_ws import SEND_KEY
from adstack_gateway.backfill import RestHistory
from adstack_gateway.hub import Hub
from adstack_gateway.node import Gateway
from adstack_gateway.ops import install_ops
from adstack_gateway.settings import GatewaySettings
from adstack_gateway.sio import create_sio, upgrade_sid
from adstack_gateway.sse import sse_endpoint
from adstack_gateway.static import static_routes
from adstack_gateway.ws import ws_endpoint
from adstack_metrics import record_redis_reconnect
from adstack_runtime import setup_logging

log = logging.getLogger(__name__)

SignalHandler = Callable[[int, FrameType | None], Any] | int | None


class GatewayApp:
    """The ASGI callable: Socket.IO at ``/socket.io/``, everything else to Starlette."""

    def __init__(self, gateway: Gateway, starlette: Starlette,
                 sio: socketio.AsyncServer, upgrades: dict[str, Any] | None = None) -> None:
        self.gateway = gateway
        self.starlette = starlette
        self.sio = sio
        self.upgrades: dict[str, Any] = {} if upgrades is None else upgrades
        """Engine.IO sid → scope of the WebSocket it upgraded to, while that is open."""
        self._asgi = socketio.ASGIApp(sio, other_asgi_app=starlette, socketio_path="socket.io")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            # The server's own send: /ws writes relayed frames straight to its connection.
            scope[SEND_KEY] = send
            if scope["path"] == "/ws":
                # Straight to the endpoint: no routing or middleware applies to it, and each
                # layer would keep a coroutine frame alive per connection.
                scope["app"] = self.starlette
                await ws_endpoint(WebSocket(scope, receive, send))
                return
            sid = upgrade_sid(scope)
            if sid is not None and sid not in self.upgrades:
                # The first WebSocket for a sid is the one Engine.IO upgrades to (a later one
                # is refused by it), so a second one never replaces the first here.
                self.upgrades[sid] = scope
                try:
                    await self._asgi(scope, receive, send)
                finally:
                    if self.upgrades.get(sid) is scope:
                        del self.upgrades[sid]
                return
        await self._asgi(scope, receive, send)


class _DrainOnSigterm:
    """SIGTERM drains before the server stops; a second SIGTERM (or SIGINT) stops at once.

    uvicorn's own handler would close every WebSocket with 1012 right away, so while the
    app runs, SIGTERM first goes here: readiness turns 503, clients are closed with 4000
    over ``DRAIN_SECONDS``, then uvicorn's handler is called to finish the shutdown.

    A worker of ``--workers N`` (``repeat_stops=False``) ignores a second SIGTERM: it gets
    one from the supervisor and often another sent to the whole process group (``kill`` of
    the group, systemd, a terminal), and must drain all the same. SIGINT still stops it.
    """

    def __init__(self, gateway: Gateway, window: float, *, repeat_stops: bool = True) -> None:
        self.gateway = gateway
        self.window = window
        self.repeat_stops = repeat_stops
        self.previous: SignalHandler = None
        self.task: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals belong to the main thread (e.g. not under a test server)
        self.loop = asyncio.get_running_loop()
        self.previous = signal.signal(signal.SIGTERM, self._on_signal)

    def uninstall(self) -> None:
        if self.loop is not None and signal.getsignal(signal.SIGTERM) == self._on_signal:
            signal.signal(signal.SIGTERM, self.previous)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        assert self.loop is not None, "installed from a running loop"
        if self.task is None:
            self.loop.call_soon_threadsafe(self._start)
        elif self.repeat_stops:
            self._stop_now(sig, frame)

    def _start(self) -> None:
        if self.task is None:  # two signals may arrive before the loop runs this
            self.task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        try:
            await self.gateway.drain(self.window)
        except Exception:
            log.exception("drain failed")
        self._stop_now(signal.SIGTERM, None)

    def _stop_now(self, sig: int, frame: FrameType | None) -> None:
        if callable(self.previous):
            self.previous(sig, frame)
        else:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)


def create_app(settings: GatewaySettings) -> GatewayApp:
    """The gateway ASGI app for ``settings``.

    Raises:
        ValueError / OSError: the JWT configuration is unusable (e.g. no key file).
    """
    bus = connect(settings.redis_url)
    store = bus.store()
    hub = Hub(store)
    verifier = None if settings.skip_auth else TokenVerifier(settings.jwt)
    backfill = (RestHistory(settings.stacks_api_url, timeout=settings.stacks_api_timeout)
                if settings.stacks_api_url else None)
    gateway = Gateway(settings, store, hub, verifier, backfill)

    async def reconnected(channels: frozenset[str]) -> None:
        record_redis_reconnect()
        await hub.reposition(channels)

    # One pub/sub connection (or one per master of a Redis Cluster), without retries: a lost
    # connection must surface, so the hub re-reads what was missed.
    subscriber = bus.subscriber(hub.deliver, on_reconnect=reconnected,
                                on_disconnect=hub.bus_lost)
    hub.bind(subscriber)
    upgrades: dict[str, Any] = {}
    sio = create_sio(gateway, upgrades)
    sigterm = _DrainOnSigterm(gateway, settings.drain_seconds,
                              repeat_stops=settings.workers <= 1)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        relay = asyncio.create_task(subscriber.run(), name="relay")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(subscriber.connected.wait(), timeout=5)
        if settings.global_events:
            await hub.subscribe_global()
        sigterm.install()
        log.info("gateway ready on port %d (auth %s, backfill %s)", settings.port,
                 "off (SKIP_AUTH)" if verifier is None else "on",
                 settings.stacks_api_url or "off")
        try:
            yield
        finally:
            sigterm.uninstall()
            with contextlib.suppress(Exception):
                await sio.shutdown()
            await subscriber.close()
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await relay
            if backfill is not None:
                await backfill.aclose()
            await bus.aclose()

    async def health(request: Request) -> Response:
        # The original server's /health document, with our detail (see status.py).
        return await ops.health(request)

    async def live(_request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    starlette = Starlette(
        routes=[
            WebSocketRoute("/ws", ws_endpoint),
            Route("/health", health, methods=["GET"]),
            Route("/health/live", live, methods=["GET"]),
            Route("/sse", sse_endpoint, methods=["GET"]),
            *static_routes(),
        ],
        middleware=[Middleware(CORSMiddleware, allow_origins=list(settings.allowed_origins),
                               allow_methods=["GET"], allow_headers=["Authorization"])],
        lifespan=lifespan,
    )
    starlette.state.gateway = gateway
    # /metrics and /status go on the Starlette app before Socket.IO wraps it.
    ops = install_ops(starlette, gateway, subscriber)
    return GatewayApp(gateway, starlette, sio, upgrades)


def create_app_from_env() -> GatewayApp:
    """The app of one ``--workers N`` worker: settings and logging from the environment.

    uvicorn calls this in every worker process (``adstack_gateway.app:create_app_from_env``
    with ``factory=True``); the supervisor validated the same settings before.
    """
    settings = GatewaySettings.from_env()
    setup_logging("gateway", level=settings.log_level, json_lines=settings.log_json)
    log.info("worker %d starting", os.getpid())
    return create_app(settings)
