"""Operations endpoints of the ingester: ``GET /metrics`` and ``GET /status``.

:func:`install_ops` adds the routes to the app and wraps its lifespan so the process
gauges (uptime, memory, Redis, leader) are refreshed every few seconds; a scrape refreshes
first, so single-process values are exact at scrape time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adstack_ingester import __version__
from adstack_ingester import metrics as m
from adstack_ingester.status import ingester_status
from adstack_metrics import (
    ProcessMetrics,
    memory_usage,
    metrics_body,
    mount_ops,
    multiprocess_enabled,
)

if TYPE_CHECKING:
    from adstack_ingester.settings import IngesterSettings


class Observed(Protocol):
    """What the operations endpoints read of the ingester (its wiring,
    :class:`adstack_ingester.ingester.Ingester`, is one)."""

    @property
    def settings(self) -> IngesterSettings: ...

    @property
    def started(self) -> float: ...

    @property
    def last_block(self) -> dict[str, Any] | None: ...

    async def ping(self) -> bool:
        """Whether Redis answers."""

    async def feed_live(self) -> bool:
        """Whether the chain source was heard recently (asked only when Redis is up)."""


class IngesterOps:
    """Samples the ingester's state into gauges and renders ``/status``."""

    def __init__(self, ingester: Observed, *,
                 is_leader: Callable[[], bool] | None = None) -> None:
        self.ingester = ingester
        self.is_leader = is_leader
        self.redis_up = False
        self.process = ProcessMetrics("ingester", __version__, started=ingester.started,
                                      probe=self._probe_redis, extra=self._sample_leader)
        m.mark_started()

    def leader(self) -> bool | None:
        """Leadership, or None when this build has no election (the only ingester leads)."""
        return None if self.is_leader is None else self.is_leader()

    def _sample_leader(self) -> None:
        leader = self.leader()
        m.set_leader(True if leader is None else leader)

    async def _probe_redis(self) -> None:
        self.redis_up = False  # stays False if the ping times out (and is cancelled)
        try:
            self.redis_up = await self.ingester.ping()
        finally:
            m.observe_redis(self.redis_up)

    async def metrics(self, _request: Request) -> Response:
        await self.process.refresh()
        body, content_type = metrics_body()
        return Response(body, media_type=content_type)

    async def status(self, _request: Request) -> Response:
        await self.process.refresh()
        ingester = self.ingester
        feed_live = self.redis_up and await ingester.feed_live()
        now = time.time()
        return JSONResponse(ingester_status(
            ingester.settings, version=__version__, pid=os.getpid(), started=ingester.started,
            now=now, redis_up=self.redis_up, leader=self.leader(), feed_live=feed_live,
            last_block=ingester.last_block, memory=memory_usage(),
            multiprocess=multiprocess_enabled()))


def install_ops(app: Starlette, ingester: Observed, *,
                is_leader: Callable[[], bool] | None = None) -> IngesterOps:
    """Add ``/metrics`` and ``/status`` to ``app``; refresh gauges during its lifespan."""
    ops = IngesterOps(ingester, is_leader=is_leader)
    mount_ops(app, metrics=ops.metrics, status=ops.status, sampling=ops.process.sampling,
              ops=ops)
    return ops
