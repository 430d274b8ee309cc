"""Run an ASGI app on uvicorn with our defaults (no per-message deflate, sans-I/O websockets)."""

from __future__ import annotations

from typing import Any

import uvicorn


def serve_app(app: Any, *, host: str, port: int, log_level: str = "info",
              ws_max_size: int = 64 * 1024, ws_ping_interval: float | None = 20.0,
              ws_ping_timeout: float | None = 20.0,
              timeout_graceful_shutdown: int | None = None,
              ws: Any = "websockets-sansio", loop: str = "auto") -> None:
    """Serve ``app`` until SIGINT/SIGTERM. Blocks.

    ``ws`` is uvicorn's WebSocket implementation: a name, or a protocol class (the gateway
    passes its own subclass of the websockets-sansio protocol).
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level.lower(),
        ws=ws,
        loop=loop,
        ws_per_message_deflate=False,
        ws_max_size=ws_max_size,
        ws_ping_interval=ws_ping_interval,
        ws_ping_timeout=ws_ping_timeout,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=timeout_graceful_shutdown,
        log_config=None,
    )
    uvicorn.Server(config).run()
