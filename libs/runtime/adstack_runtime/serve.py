"""Run an ASGI app on uvicorn with our defaults (no per-message deflate, sans-I/O websockets,
a deadline on request heads)."""

from __future__ import annotations

from typing import Any

import uvicorn

from adstack_runtime.headtimeout import head_timeout_protocol


def server_config(app: Any, *, host: str, port: int, log_level: str = "info",
                  ws_max_size: int = 64 * 1024, ws_ping_interval: float | None = 20.0,
                  ws_ping_timeout: float | None = 20.0,
                  timeout_graceful_shutdown: int | None = None,
                  head_timeout: float = 10.0) -> uvicorn.Config:
    """The uvicorn configuration both services run with.

    ``head_timeout``: seconds a connection has to send a complete request head (see
    :mod:`adstack_runtime.headtimeout`).
    """
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level.lower(),
        http=head_timeout_protocol(head_timeout),
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_max_size=ws_max_size,
        ws_ping_interval=ws_ping_interval,
        ws_ping_timeout=ws_ping_timeout,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=timeout_graceful_shutdown,
        log_config=None,
    )


def serve_app(app: Any, *, host: str, port: int, log_level: str = "info",
              ws_max_size: int = 64 * 1024, ws_ping_interval: float | None = 20.0,
              ws_ping_timeout: float | None = 20.0,
              timeout_graceful_shutdown: int | None = None,
              head_timeout: float = 10.0) -> None:
    """Serve ``app`` until SIGINT/SIGTERM. Blocks."""
    config = server_config(app, host=host, port=port, log_level=log_level,
                           ws_max_size=ws_max_size, ws_ping_interval=ws_ping_interval,
                           ws_ping_timeout=ws_ping_timeout,
                           timeout_graceful_shutdown=timeout_graceful_shutdown,
                           head_timeout=head_timeout)
    uvicorn.Server(config).run()
