"""Operations endpoints of the gateway: ``GET /metrics`` and ``GET /status``.

:func:`install_ops` adds the routes to the app and wraps its lifespan so the gauges that
mirror live state (connections, subscriptions, Redis, uptime, memory) are refreshed every
few seconds; a scrape refreshes first, so single-process values are exact at scrape time.
"""

from __future__ import annotations

import os
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adstack_bus import BusUnavailable, ChainFeed, ChannelSubscriber
from adstack_gateway import __version__
from adstack_gateway import metrics as m
from adstack_gateway.node import Gateway
from adstack_gateway.status import gateway_health, gateway_status
from adstack_metrics import (
    ProcessMetrics,
    memory_usage,
    metrics_body,
    mount_ops,
    multiprocess_enabled,
    set_redis_up,
)


class GatewayOps:
    """Samples the gateway's state into gauges and renders ``/status``."""

    def __init__(self, gateway: Gateway, subscriber: ChannelSubscriber) -> None:
        self.gateway = gateway
        self.subscriber = subscriber
        self.redis_up = False
        self.process = ProcessMetrics("gateway", __version__, started=gateway.started,
                                      probe=self._probe_redis, extra=self._sample_live)

    def counts(self) -> tuple[int, int, int]:
        """(connections, subscriptions, Redis channels) right now."""
        sessions = self.gateway.sessions
        subscriptions = sum(len(s.subscriptions) for s in sessions)
        return len(sessions), subscriptions, self.gateway.hub.local_channels()

    def _sample_live(self) -> None:
        m.set_live_counts(*self.counts())

    async def _probe_redis(self) -> None:
        self.redis_up = False  # stays False if the ping times out (and is cancelled)
        try:
            self.redis_up = (self.subscriber.connected.is_set()
                             and await self.gateway.store.ping())
        finally:
            set_redis_up(self.redis_up)

    async def metrics(self, _request: Request) -> Response:
        await self.process.refresh()
        body, content_type = metrics_body()
        return Response(body, media_type=content_type)

    async def chain_feed(self) -> ChainFeed | None:
        try:
            return await self.gateway.store.chain_feed()
        except BusUnavailable:
            return None

    async def health(self, _request: Request) -> Response:
        """``/health``: the original server's document (see :func:`gateway_health`)."""
        gateway = self.gateway
        redis_up = self.subscriber.connected.is_set() and await gateway.store.ping()
        feed = await self.chain_feed() if redis_up else None
        clients = {"ws": 0, "sio": 0, "sse": 0}
        for session in gateway.sessions:
            clients[session.kind] = clients.get(session.kind, 0) + 1
        _, subscriptions, channels = self.counts()
        code, body = gateway_health(
            gateway.settings, version=__version__, pid=os.getpid(), started=gateway.started,
            now=time.time(), redis_up=redis_up, draining=gateway.draining, feed=feed,
            clients=clients, subscriptions=subscriptions, channels=channels,
            memory=memory_usage())
        return JSONResponse(body, status_code=code)

    async def status(self, _request: Request) -> Response:
        await self.process.refresh()
        feed = await self.chain_feed() if self.redis_up else None
        now = time.time()
        settings = self.gateway.settings
        connections, subscriptions, channels = self.counts()
        return JSONResponse(gateway_status(
            self.gateway.settings, version=__version__, pid=os.getpid(),
            started=self.gateway.started, now=now, redis_up=self.redis_up,
            pubsub_connected=self.subscriber.connected.is_set(), connections=connections,
            subscriptions=subscriptions, channels=channels, memory=memory_usage(),
            multiprocess=multiprocess_enabled(),
            feed_live=feed is not None and feed.live(
                int(now * 1000), int(settings.chain_feed_stale_after * 1000)),
            feed_source=None if feed is None else feed.source))


def install_ops(app: Starlette, gateway: Gateway, subscriber: ChannelSubscriber) -> GatewayOps:
    """Add ``/metrics`` and ``/status`` to ``app``; refresh gauges during its lifespan."""
    ops = GatewayOps(gateway, subscriber)
    mount_ops(app, metrics=ops.metrics, status=ops.status, sampling=ops.process.sampling,
              ops=ops)
    return ops
