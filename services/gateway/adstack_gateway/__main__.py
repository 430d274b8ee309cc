"""``adstack-gateway``: hold client WebSockets and relay matching events from Redis."""

from __future__ import annotations

import argparse
import os
import sys

from adstack_config import ConfigError
from adstack_gateway.settings import GatewaySettings
from adstack_runtime import serve_app, setup_logging

ENV_HELP = """\
environment:
  PORT                          listen port (default 3002)
  HOST                          bind address (default 0.0.0.0)
  REDIS_URL                     Redis URL (default redis://localhost:6379/0)
  JWT_SECRET                    HS256 secret for client tokens
  JWT_PUBLIC_KEY_FILE, JWT_JWKS_URL, JWT_ALGORITHMS, JWT_ISSUER, JWT_AUDIENCE, JWT_LEEWAY
  SKIP_AUTH                     true to accept unauthenticated clients (development only)
  ALLOWED_ORIGINS               comma-separated allowed Origins (default *)
  MAX_SUBSCRIPTIONS_PER_CLIENT  subscriptions per connection (default 10)
  EVENT_HISTORY_LIMIT           largest getHistory limit (default 100)
  MAX_FRAME_BYTES               largest client frame (default 65536)
  OUTBOX_MAX_BYTES              per-connection outbound queue before a slow close (default 1 MiB)
  NODE_ENV, LOG_LEVEL, LOG_JSON
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="adstack-gateway",
        description="Hold client WebSocket connections (/ws) and relay AdStack contract "
        "events from Redis to the clients subscribed to them.",
        epilog=ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, help="listen port (overrides PORT)")
    parser.add_argument("--host", help="bind address (overrides HOST)")
    parser.add_argument("--redis-url", help="Redis URL (overrides REDIS_URL)")
    args = parser.parse_args(argv)
    environ = dict(os.environ)
    if args.port is not None:
        environ["PORT"] = str(args.port)
    if args.host:
        environ["HOST"] = args.host
    if args.redis_url:
        environ["REDIS_URL"] = args.redis_url
    try:
        settings = GatewaySettings.from_env(environ)
    except ConfigError as exc:
        print(f"adstack-gateway: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    setup_logging("gateway", level=settings.log_level, json_lines=settings.log_json)
    from adstack_gateway.app import create_app

    serve_app(create_app(settings), host=settings.host, port=settings.port,
              log_level=settings.log_level, ws_max_size=settings.max_frame_bytes,
              ws_ping_interval=settings.ping_interval, ws_ping_timeout=settings.ping_timeout)


if __name__ == "__main__":
    main()
