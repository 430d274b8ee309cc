"""``adstack-gateway``: hold client WebSockets and relay matching events from Redis."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from typing import Any, NoReturn

from adstack_config import ConfigError
from adstack_gateway.settings import GatewaySettings
from adstack_runtime import serve_app, serve_workers, setup_logging

log = logging.getLogger("adstack_gateway")

FACTORY = "adstack_gateway.app:create_app_from_env"
"""What each worker of ``--workers N`` calls to build its app (settings come from the
environment, which the workers inherit)."""

ENV_HELP = """\
environment:
  PORT                          listen port (default 3002)
  HOST                          bind address (default 0.0.0.0)
  REDIS_URL                     Redis URL (default redis://localhost:6379/0)
  JWT_SECRET                    HS256 secret for client tokens
  JWT_PUBLIC_KEY_FILE           PEM public key (RS256/ES256)
  JWT_JWKS_URL                  JWKS: https://…, http://… or a file path (cached)
  JWT_ALGORITHMS                pinned algorithms (default HS256, or RS256,ES256 with keys)
  JWT_ISSUER, JWT_AUDIENCE      required iss / aud when set
  JWT_LEEWAY                    clock leeway for exp/nbf/iat in seconds (default 30)
  JWT_CONTRACTS_CLAIM           claim listing allowed contract patterns (default contracts)
  JWT_REQUIRED_CLAIMS           claims every token must carry, e.g. exp
  JWT_MAX_BYTES                 largest accepted token (default 4096)
  SKIP_AUTH                     true to accept unauthenticated clients (development only)
  ALLOWED_ORIGINS               comma-separated allowed Origins (default *)
  MAX_SUBSCRIPTIONS_PER_CLIENT  subscriptions per connection (default 10)
  MAX_CONNECTIONS_PER_IP        connections per client IP, both transports (default 100, 0 = off)
  HANDSHAKE_TIMEOUT             seconds a connection has to send its HTTP request head, and a
                                Socket.IO client to join after opening (default 10)
  BODY_TIMEOUT                  seconds an HTTP request has for its whole body after its head
                                (default 30; then 408 and the connection is closed)
  RATE_LIMIT_PER_SECOND         commands per second per connection (default 20, 0 = off)
  RATE_LIMIT_BURST              commands a connection may send at once (default 40)
  RATE_LIMIT_CLOSE_AFTER        RATE_LIMITED replies in a row before close 4003 (default 20)
  EVENT_HISTORY_LIMIT           largest getHistory limit (default 100)
  SUBSCRIBE_HISTORY             newest events pushed in history after subscribed (default 10,
                                0 = off)
  GLOBAL_EVENTS                 send global_event for the contracts a token allows (default false)
  CHAIN_FEED_STALE_AFTER        /health: the chain feed is live while the leader ingester heard
                                from its source within this many seconds (default 120)
  HEALTH_REQUIRES_CHAIN_FEED    /health answers 503 while the chain feed is not live (default
                                false)
  CAMPAIGN_CONTRACT, AUCTION_CONTRACT, BRIDGE_CONTRACT, PAYMENT_CONTRACT, GOVERNANCE_CONTRACT
                                shown in /status contracts, as the original did
  STACKS_API_URL                Stacks API (Hiro) base URL for history backfill (default off)
  STACKS_API_TIMEOUT            backfill time budget in seconds (default 5)
  MAX_FRAME_BYTES               largest client frame (default 65536)
  OUTBOX_MAX_BYTES              bytes unsent to one client (socket write buffer, or outbound
                                queue when queued) before a slow close 4001 (default 1 MiB)
  WS_DIRECT_WRITE               /ws: write relayed frames straight to the socket (default true)
  EVENT_LOOP                    auto (uvloop when installed), asyncio or uvloop (default auto)
  WS_PING_INTERVAL, WS_PING_TIMEOUT  keepalive, both transports (default 20 s each)
  DRAIN_SECONDS                 SIGTERM drain window (default 10)
  GATEWAY_WORKERS, WEB_CONCURRENCY  processes sharing the port, like --workers (default 1)
  PROMETHEUS_MULTIPROC_DIR      metrics directory with --workers (default: a temporary one)
  NODE_ENV, LOG_LEVEL, LOG_JSON
"""


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
    from adstack_gateway.wsproto import GatewayWebSocketProtocol

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
