"""``adstack-ingester``: receive Stacks node events and publish them to Redis."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from adstack_config import ConfigError, export_env_file, help_text
from adstack_config.catalog import SETTINGS
from adstack_ingester.settings import IngesterSettings
from adstack_runtime import serve_app, setup_logging

log = logging.getLogger("adstack_ingester")

ENV_HELP = help_text(SETTINGS, "ingester")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="adstack-ingester",
        description="Receive Stacks node events (event-observer POSTs), decode print events "
        "and publish them to Redis for the gateways.",
        epilog=ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, help="listen port (overrides INGESTER_PORT)")
    parser.add_argument("--host", help="bind address (overrides INGESTER_HOST)")
    parser.add_argument("--redis-url", help="Redis URL (overrides REDIS_URL)")
    args = parser.parse_args(argv)
    export_env_file(os.environ)  # ENV_FILE: what the environment lacks
    environ = dict(os.environ)
    if args.port is not None:
        environ["INGESTER_PORT"] = str(args.port)
    if args.host:
        environ["INGESTER_HOST"] = args.host
    if args.redis_url:
        environ["REDIS_URL"] = args.redis_url
    try:
        settings = IngesterSettings.from_env(environ)
    except ConfigError as exc:
        print(f"adstack-ingester: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    setup_logging("ingester", level=settings.log_level, json_lines=settings.log_json)
    for warning in settings.warnings:
        log.warning("%s", warning)
    if settings.production and not settings.observer_token and "observer" in settings.sources:
        log.warning("OBSERVER_TOKEN_REQUIRED=false: observer POSTs are not authenticated; "
                    "only the stacks-node may be able to reach port %d", settings.port)
    from adstack_ingester.app import create_app

    serve_app(create_app(settings), host=settings.host, port=settings.port,
              log_level=settings.log_level, body_timeout=settings.body_timeout)


if __name__ == "__main__":
    main()
