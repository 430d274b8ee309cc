"""The ingester's ASGI app: :func:`create_app` assembles the rooms.

- :mod:`adstack_ingester.ingester`: the wiring (bus, processor, leadership, sources, health);
- :mod:`adstack_ingester.receivers`: the HTTP endpoints (observer, Chainhook, health);
- :mod:`adstack_ingester.deliveries`: what each delivery does, through the processor;
- :mod:`adstack_ingester.ops`: ``/metrics`` and ``/status``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from adstack_ingester.ingester import Ingester
from adstack_ingester.ops import install_ops
from adstack_ingester.receivers import Receivers
from adstack_ingester.settings import IngesterSettings


def create_app(settings: IngesterSettings) -> Starlette:
    """The ingester ASGI app."""
    ingester = Ingester(settings)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with ingester.running():
            yield

    app = Starlette(routes=Receivers(ingester).routes(), lifespan=lifespan)
    app.state.ingester = ingester
    install_ops(app, ingester, is_leader=lambda: ingester.leadership.is_leader)
    return app
