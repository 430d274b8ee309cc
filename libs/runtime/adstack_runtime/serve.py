"""Run an ASGI app on uvicorn with our defaults (no per-message deflate, sans-I/O websockets,
deadlines on request heads and bodies).

:func:`serve_app` runs one process; :func:`serve_workers` runs N worker processes that
share one listening socket (uvicorn's multiprocess supervisor, through the adapter
:mod:`adstack_runtime._uvicorn_workers`), each building its own app from an import string.
The HTTP protocol is the head/body-deadline one of :mod:`adstack_runtime.headtimeout`.
"""

from __future__ import annotations

import os
from typing import Any

import uvicorn

from adstack_runtime._uvicorn_workers import WorkersChanged, supervise
from adstack_runtime.headtimeout import (
    BODY_TIMEOUT_ENV,
    DEFAULT_BODY_TIMEOUT,
    HEAD_TIMEOUT_ENV,
    head_timeout_protocol,
)


def server_config(app: Any, *, host: str, port: int, log_level: str = "info",
                  ws_max_size: int = 64 * 1024, ws_ping_interval: float | None = 20.0,
                  ws_ping_timeout: float | None = 20.0,
                  timeout_graceful_shutdown: int | None = None,
                  head_timeout: float = 10.0, body_timeout: float = DEFAULT_BODY_TIMEOUT,
                  ws: Any = "websockets-sansio", loop: str = "auto",
                  **extra: Any) -> uvicorn.Config:
    """The uvicorn configuration both services run with.

    ``head_timeout``: seconds a connection has to send a complete request head;
    ``body_timeout``: seconds a request has, after its head, to send its whole body (see
    :mod:`adstack_runtime.headtimeout`). ``ws`` is uvicorn's WebSocket implementation: a
    name, or a protocol class (the gateway passes its own subclass of the websockets-sansio
    protocol); ``loop``: ``auto``, ``asyncio`` or ``uvloop``.
    """
    http: Any = head_timeout_protocol(head_timeout, body_timeout)
    if extra.get("workers"):
        # Spawned workers unpickle the config: give them the class by import string and
        # the deadlines through the environment they inherit.
        os.environ[HEAD_TIMEOUT_ENV] = str(head_timeout)
        os.environ[BODY_TIMEOUT_ENV] = str(body_timeout)
        http = "adstack_runtime.headtimeout:HeadTimeoutProtocol"
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level.lower(),
        http=http,
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
        **extra,
    )


def serve_app(app: Any, **options: Any) -> None:
    """Serve ``app`` until SIGINT/SIGTERM. Blocks (``options``: see :func:`server_config`)."""
    uvicorn.Server(server_config(app, **options)).run()


def serve_workers(factory: str, workers: int, *, on_workers: WorkersChanged | None = None,
                  **options: Any) -> None:
    """Serve ``workers`` processes on one socket until SIGINT/SIGTERM. Blocks.

    ``factory`` is an import string (``package.module:function``) that each worker calls,
    without arguments, to build its app: settings travel in the environment. A worker that
    dies is replaced. SIGTERM is passed on to every worker, and this returns once all of
    them have exited. ``options``: see :func:`server_config`.
    """
    config = server_config(factory, factory=True, workers=workers, **options)
    sock = config.bind_socket()
    try:
        supervise(config, [sock], on_workers)
    finally:
        sock.close()
