"""``adstack-gateway``: hold client WebSockets and relay matching events from Redis."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from typing import Any, NoReturn

from adstack_config import ConfigError, export_env_file, help_text
from adstack_config.catalog import SETTINGS
from adstack_gateway.settings import GatewaySettings
from adstack_runtime import serve_app, serve_workers, setup_logging

log = logging.getLogger("adstack_gateway")

FACTORY = "adstack_gateway.app:create_app_from_env"
"""What each worker of ``--workers N`` calls to build its app (settings come from the
environment, which the workers inherit)."""

ENV_HELP = help_text(SETTINGS, "gateway")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="adstack-gateway",
        description="Hold client connections (native WebSocket on /ws, Socket.IO v4 on "
        "/socket.io/) and relay AdStack contract events from Redis to the clients "
        "subscribed to them.",
        epilog=ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, help="listen port (overrides PORT)")
    parser.add_argument("--host", help="bind address (overrides HOST)")
    parser.add_argument("--redis-url", help="Redis URL (overrides REDIS_URL)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="run N gateway processes sharing the port, each an independent "
                        "replica (overrides GATEWAY_WORKERS / WEB_CONCURRENCY)")
    args = parser.parse_args(argv)
    export_env_file(os.environ)  # ENV_FILE: what the environment lacks
    overrides: dict[str, str] = {}
    if args.port is not None:
        overrides["PORT"] = str(args.port)
    if args.host:
        overrides["HOST"] = args.host
    if args.redis_url:
        overrides["REDIS_URL"] = args.redis_url
    if args.workers is not None:
        overrides["GATEWAY_WORKERS"] = str(args.workers)
    try:
        settings = GatewaySettings.from_env({**os.environ, **overrides})
    except ConfigError as exc:
        print(f"adstack-gateway: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    setup_logging("gateway", level=settings.log_level, json_lines=settings.log_json)
    for warning in settings.warnings:
        log.warning("%s", warning)
    if settings.workers > 1:
        os.environ.update(overrides)  # the workers read their settings from it
        run_workers(settings)
        return
    from adstack_gateway.app import create_app

    try:
        app = create_app(settings)
    except (ValueError, OSError) as exc:
        _jwt_config_error(exc)
    serve_app(app, **_server_options(settings))


def _server_options(settings: GatewaySettings) -> dict[str, Any]:
    """uvicorn settings of one gateway process (the same for every worker)."""
    from adstack_gateway._uvicorn_ws import GatewayWebSocketProtocol

    return dict(
        host=settings.host, port=settings.port, log_level=settings.log_level,
        ws_max_size=settings.max_frame_bytes, ws_ping_interval=settings.ping_interval,
        ws_ping_timeout=settings.ping_timeout,
        # Slowloris and half-open connections: the request head must arrive in time.
        head_timeout=settings.handshake_timeout,
        # A body trickled after its head (Socket.IO polling POSTs): 408 at the deadline.
        body_timeout=settings.body_timeout,
        # After the drain (SIGTERM) or on SIGINT, connections still open are dropped.
        timeout_graceful_shutdown=1,
        # websockets-sansio, lighter per connection, with direct frame writes.
        ws=GatewayWebSocketProtocol, loop=settings.event_loop)


def _jwt_config_error(exc: Exception) -> NoReturn:
    print(f"adstack-gateway: JWT configuration: {exc}", file=sys.stderr)
    raise SystemExit(2) from exc


def run_workers(settings: GatewaySettings) -> None:
    """Serve with ``settings.workers`` processes on one port (blocks until they exit).

    Metrics go to ``PROMETHEUS_MULTIPROC_DIR`` (a temporary directory unless set; emptied at
    start), so any worker's ``/metrics`` covers them all; a worker that exits stops counting
    in the live gauges. SIGTERM reaches every worker, and each drains its own clients.
    """
    from adstack_auth import TokenVerifier
    from adstack_metrics import prepare_multiprocess_dir, sweep_dead_workers

    if not settings.skip_auth:
        try:
            TokenVerifier(settings.jwt)  # fail here, once, rather than in every worker
        except (ValueError, OSError) as exc:
            _jwt_config_error(exc)
    os.environ["GATEWAY_WORKERS"] = str(settings.workers)
    directory, created = prepare_multiprocess_dir(os.environ)
    log.info("starting %d gateway workers on port %d (metrics in %s)", settings.workers,
             settings.port, directory)

    def workers_changed(pids: set[int]) -> None:
        swept = sweep_dead_workers(directory, pids)
        if swept:
            log.info("workers %s exited; their live gauges are dropped",
                     ",".join(map(str, swept)))

    try:
        serve_workers(FACTORY, settings.workers, on_workers=workers_changed,
                      **_server_options(settings))
    finally:
        if created:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
