"""Run an ASGI app on uvicorn with our defaults (no per-message deflate, sans-I/O websockets,
deadlines on request heads and bodies).

:func:`serve_app` runs one process; :func:`serve_workers` runs N worker processes that
share one listening socket (uvicorn's multiprocess supervisor), each building its own app
from an import string.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from adstack_runtime.headtimeout import (
    BODY_TIMEOUT_ENV,
    DEFAULT_BODY_TIMEOUT,
    HEAD_TIMEOUT_ENV,
    head_timeout_protocol,
)

log = logging.getLogger(__name__)

WorkersChanged = Callable[[set[int]], None]
"""Called in the supervisor with the pids of the workers now running (empty at the end)."""


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


class _Supervisor(Multiprocess):
    """uvicorn's supervisor, telling ``on_change`` whenever the set of workers changes
    (a worker died and was replaced, or SIGHUP / SIGTTIN / SIGTTOU changed them)."""

    def __init__(self, config: uvicorn.Config, sockets: list[Any],
                 on_change: WorkersChanged | None) -> None:
        super().__init__(config, sockets=sockets)
        self.on_change = on_change
        self._known: set[int] = set()

    def pids(self) -> set[int]:
        return {p.pid for p in self.processes if p.pid is not None}

    def _report(self) -> None:
        pids = self.pids()
        if pids != self._known:
            self._known = pids
            if self.on_change is not None:
                try:
                    self.on_change(pids)
                except Exception:
                    log.exception("worker change handler failed")

    def init_processes(self) -> None:
        super().init_processes()
        self._report()

    def handle_signals(self) -> None:
        super().handle_signals()
        self._report()

    def keep_subprocess_alive(self) -> None:
        super().keep_subprocess_alive()
        self._report()

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._known = set()
            if self.on_change is not None:
                self.on_change(set())


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
        _Supervisor(config, [sock], on_workers).run()
    finally:
        sock.close()
