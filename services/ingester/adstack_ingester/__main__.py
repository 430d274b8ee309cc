"""``adstack-ingester``: receive Stacks node events and publish them to Redis."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from adstack_config import ConfigError
from adstack_ingester.settings import IngesterSettings
from adstack_runtime import serve_app, setup_logging

log = logging.getLogger("adstack_ingester")

ENV_HELP = """\
environment:
  INGESTER_PORT        port for the node's event-observer POSTs (default 3700)
  INGESTER_HOST        bind address (default 0.0.0.0)
  REDIS_URL            Redis URL (default redis://localhost:6379/0)
  STACKS_CONTRACTS     comma-separated contract ids, * for all (default *)
  CAMPAIGN_CONTRACT, AUCTION_CONTRACT, BRIDGE_CONTRACT, PAYMENT_CONTRACT,
  GOVERNANCE_CONTRACT  added to STACKS_CONTRACTS
  EVENT_HISTORY_LIMIT  events kept per contract (default 100)
  REDIS_TTL            history TTL in seconds (default 3600)
  DEDUP_TTL            how long an event id is remembered for dedup (default 259200)
  OBSERVER_TOKEN       if set, POSTs must carry "Authorization: Bearer <token>"
  OBSERVER_TOKEN_REQUIRED  refuse to start without OBSERVER_TOKEN (default: true with
                       NODE_ENV=production; false there only if the node alone reaches the port)
  OBSERVER_MAX_BODY_BYTES  body size cap (default 67108864)
  BODY_TIMEOUT         seconds for a whole request body after its head (default 30; 408)
  STACKS_SOURCES       observer,hiro,chainhook: one or several (default observer; hiro when
                       unset and STACKS_WS_URL or STACKS_API_URL is set, as the original)
  CHAIN_FEED_STALE_AFTER  /health: the chain feed is live while the leader heard from its
                       source within this many seconds (default 120)
  STACKS_API_URL, STACKS_WS_URL, HIRO_API_KEY, HIRO_BACKFILL_MAX_BLOCKS  the hiro source
  CHAINHOOK_AUTH_HEADER  Authorization value POST /chainhook must carry (required with
                       the chainhook source in production)
  EVENT_TYPE_OVERRIDES <contract|*>:<type>=<new type>, comma-separated
  REORG_WINDOW         recent blocks kept for reorgs (default 256)
  LEADER_LEASE_MS      leader lease (default 2000); INGESTER_ID this replica's id
  LOG_LEVEL, LOG_JSON, NODE_ENV
"""


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
    if settings.production and not settings.observer_token and "observer" in settings.sources:
        log.warning("OBSERVER_TOKEN_REQUIRED=false: observer POSTs are not authenticated; "
                    "only the stacks-node may be able to reach port %d", settings.port)
    from adstack_ingester.app import create_app

    serve_app(create_app(settings), host=settings.host, port=settings.port,
              log_level=settings.log_level, body_timeout=settings.body_timeout)


if __name__ == "__main__":
    main()
