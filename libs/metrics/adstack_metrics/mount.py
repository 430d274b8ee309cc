"""Mounting the operations endpoints on a service's Starlette app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Endpoint = Callable[[Request], Awaitable[Response]]


def mount_ops(app: Starlette, *, metrics: Endpoint, status: Endpoint,
              sampling: Callable[[], AbstractAsyncContextManager[None]], ops: object) -> None:
    """Add ``GET /metrics`` and ``GET /status`` to ``app`` and run ``sampling()`` for as
    long as the app's lifespan does; ``ops`` is kept as ``app.state.ops``."""
    app.router.routes.extend([
        Route("/metrics", metrics, methods=["GET"]),
        Route("/status", status, methods=["GET"]),
    ])
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state, sampling():
            yield state

    app.router.lifespan_context = lifespan
    app.state.ops = ops
