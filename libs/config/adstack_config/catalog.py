"""Every setting of the gateway and the ingester, declared once.

To add a setting: add one :class:`Setting` here (name, kind, default, bounds, one line of
help, services, the settings attribute it fills), add the attribute to the service's
settings struct with ``= default("NAME")``, and run ``python -m adstack_config.generate`` to
refresh the configuration table (docs/configuration.md) and ``.env.example`` (a test fails
while they are stale).
``from_env`` and ``--help`` pick it up by themselves.

The names are the original Node server's where it had them (``PORT``, ``REDIS_URL``,
``JWT_SECRET``, ``SKIP_AUTH``, ``ALLOWED_ORIGINS``, ``MAX_SUBSCRIPTIONS_PER_CLIENT``,
``EVENT_HISTORY_LIMIT``, ``REDIS_TTL``, ``STACKS_API_URL``, ``*_CONTRACT``).
"""

from __future__ import annotations

from typing import Any

from adstack_config.spec import (
    ENVIRONMENTS,
    INSECURE_OVERRIDE,
    MIN_SECRET_BYTES,
    Setting,
    default_of,
)

G: tuple[Any, ...] = ("gateway",)
I: tuple[Any, ...] = ("ingester",)  # noqa: E741 - G and I read as the service columns
BOTH: tuple[Any, ...] = ("gateway", "ingester")

SEED_CONTRACT_VARS = ("CAMPAIGN_CONTRACT", "AUCTION_CONTRACT", "BRIDGE_CONTRACT",
                      "PAYMENT_CONTRACT", "GOVERNANCE_CONTRACT")
ORIGINAL_CONTRACT_NAMES = ("campaigns", "auctions", "bridge", "payments", "governance")
"""``/status``'s ``contracts`` keys in the original server, one per SEED_CONTRACT_VARS."""

SETTINGS: tuple[Setting, ...] = (
    # Process
    Setting("NODE_ENV", "choice", "development", "development, test or production; "
            "production turns on JSON logs and refuses unsafe settings",
            BOTH, "environment", choices=ENVIRONMENTS, aliases=("ENV",), group="process"),
    Setting("LOG_LEVEL", "choice", "INFO", "DEBUG, INFO, WARNING, ERROR or CRITICAL",
            BOTH, "log_level", choices=("debug", "info", "warning", "error", "critical"),
            upper=True, group="process"),
    Setting("LOG_JSON", "bool", None, "one JSON object per log line", BOTH, "log_json",
            default_text="true in production, else false", group="process"),
    Setting("ENV_FILE", "str", None, "a .env file of KEY=VALUE lines read at start; the real "
            "environment wins over it", BOTH, None, group="process"),
    Setting(INSECURE_OVERRIDE, "bool", False, "production: accept weak or placeholder secrets "
            "and ALLOWED_ORIGINS=* with a WARNING each (never for a real deployment)",
            BOTH, None, group="process"),
    # Network
    Setting("PORT", "int", 3002, "gateway listen port", G, "port", minimum=0, maximum=65535,
            group="network"),
    Setting("HOST", "str", "0.0.0.0", "gateway bind address", G, "host", group="network"),
    Setting("INGESTER_PORT", "int", 3700, "port for the node's event-observer POSTs", I,
            "port", minimum=1, maximum=65535, group="network"),
    Setting("INGESTER_HOST", "str", "0.0.0.0", "ingester bind address", I, "host",
            group="network"),
    Setting("ALLOWED_ORIGINS", "origins", ("*",), "comma-separated allowed browser Origins, "
            "scheme://host[:port]; * (any) is refused in production", G, "allowed_origins",
            example="https://app.example.com", group="network"),
    Setting("FORWARDED_ALLOW_IPS", "str", "127.0.0.1", "proxies whose X-Forwarded-For gives the "
            "client address (uvicorn's; comma-separated addresses or networks, * = any)", G,
            None, group="network"),
    Setting("BODY_TIMEOUT", "float", 30.0, "seconds a request has for its whole body once its "
            "head is in (then 408 and close)", BOTH, "body_timeout", minimum=0.1,
            group="network"),
    # Redis
    Setting("REDIS_URL", "str", "redis://localhost:6379/0", "redis://, rediss:// (TLS), "
            "unix://, or redis+cluster:// / rediss+cluster:// for a Redis Cluster node",
            BOTH, "redis_url", group="redis"),
    Setting("REDIS_CLUSTER", "bool", False, "older spelling of a redis+cluster:// REDIS_URL",
            BOTH, None, group="redis"),
    Setting("EVENT_HISTORY_LIMIT", "int", 100, "most events one getHistory returns; the "
            "ingester keeps at least this many per contract", BOTH, "history_limit",
            minimum=1, maximum=1000, group="redis"),
    Setting("HISTORY_RETAIN", "int", 1000, "entries kept per contract stream: how far back a "
            "reconnecting client can recover (at least EVENT_HISTORY_LIMIT)", I,
            "history_retain", minimum=1, maximum=1_000_000, group="redis"),
    Setting("REDIS_TTL", "int", 3600, "history TTL in seconds", I, "history_ttl", minimum=1,
            group="redis"),
    Setting("DEDUP_TTL", "int", 3 * 86400, "seconds an event id is remembered for dedup", I,
            "dedup_ttl", minimum=60, group="redis"),
    # Client authentication (gateway)
    Setting("JWT_SECRET", "secret", None, "HS256 secret for client tokens (production: at "
            f"least {MIN_SECRET_BYTES} bytes, no placeholder)", G, "jwt.secret",
            minimum=MIN_SECRET_BYTES, group="auth"),
    Setting("JWT_PUBLIC_KEY_FILE", "str", None, "PEM public key file (RS256/ES256)", G,
            "jwt.public_key_file", group="auth"),
    Setting("JWT_JWKS_URL", "str", None, "JWKS: https://…, http://… or a file path (cached)",
            G, "jwt.jwks_url", group="auth"),
    Setting("JWT_ALGORITHMS", "list", None, "the only algorithms accepted", G,
            "jwt.algorithms", default_text="HS256, or RS256,ES256 with a key file / JWKS",
            group="auth"),
    Setting("JWT_ISSUER", "str", None, "required iss claim", G, "jwt.issuer", group="auth"),
    Setting("JWT_AUDIENCE", "str", None, "required aud claim", G, "jwt.audience",
            group="auth"),
    Setting("JWT_LEEWAY", "float", 30.0, "seconds of clock leeway for exp/nbf/iat", G,
            "jwt.leeway", minimum=0, group="auth"),
    Setting("JWT_CONTRACTS_CLAIM", "str", "contracts", "claim listing the contract patterns a "
            "user may subscribe to", G, "jwt.contracts_claim", group="auth"),
    Setting("JWT_REQUIRED_CLAIMS", "list", (), "comma-separated claims every token must carry "
            "(e.g. exp)", G, "jwt.required_claims", group="auth"),
    Setting("JWT_MAX_BYTES", "int", 4096, "longest token accepted", G, "jwt.max_token_bytes",
            minimum=256, group="auth"),
    Setting("JWT_JWKS_CACHE_SECONDS", "float", 300.0, "seconds a fetched JWKS is reused", G,
            "jwt.jwks_cache_seconds", minimum=0, group="auth"),
    Setting("SKIP_AUTH", "bool", False, "accept unauthenticated clients (NODE_ENV=development "
            "only)", G, "skip_auth", group="auth"),
    # Gateway limits
    Setting("MAX_SUBSCRIPTIONS_PER_CLIENT", "int", 10, "subscriptions per connection", G,
            "max_subscriptions", minimum=1, group="limits"),
    Setting("MAX_CONNECTIONS_PER_IP", "int", 100, "connections per client IP, both transports "
            "(0 = no limit)", G, "max_connections_per_ip", minimum=0, group="limits"),
    Setting("HANDSHAKE_TIMEOUT", "float", 10.0, "seconds to send the HTTP request head, and "
            "for a Socket.IO client to join after opening", G, "handshake_timeout",
            minimum=0.1, group="limits"),
    Setting("RATE_LIMIT_PER_SECOND", "float", 20.0, "commands per second per connection "
            "(0 = no limit)", G, "rate_limit_per_second", minimum=0, group="limits"),
    Setting("RATE_LIMIT_BURST", "int", 40, "commands a connection may send at once", G,
            "rate_limit_burst", minimum=1, group="limits"),
    Setting("RATE_LIMIT_CLOSE_AFTER", "int", 20, "RATE_LIMITED replies in a row before close "
            "4003", G, "rate_limit_close_after", minimum=1, group="limits"),
    Setting("MAX_PENDING_HANDSHAKES_PER_IP", "int", 32, "Socket.IO connections from one IP "
            "not yet joined to the namespace (beyond: 429; 0 = no limit)", G,
            "max_pending_handshakes_per_ip", minimum=0, group="limits"),
    Setting("MAX_PENDING_HANDSHAKES", "int", 2048, "Socket.IO connections not yet joined to "
            "the namespace, over all IPs (beyond: 429; 0 = no limit)", G,
            "max_pending_handshakes", minimum=0, group="limits"),
    Setting("MAX_FRAME_BYTES", "int", 64 * 1024, "largest client frame", G, "max_frame_bytes",
            minimum=256, group="limits"),
    Setting("OUTBOX_MAX_BYTES", "int", 1 << 20, "bytes unsent to one client (socket buffer, or "
            "queue) before a slow close 4001", G, "outbox_max_bytes", minimum=4096,
            group="limits"),
    Setting("WS_DIRECT_WRITE", "bool", True, "/ws: write relayed frames straight to the "
            "socket, once per loop iteration", G, "ws_direct_write", group="limits"),
    Setting("EVENT_LOOP", "choice", "auto", "auto (uvloop when installed), asyncio or uvloop",
            G, "event_loop", choices=("auto", "asyncio", "uvloop"), group="limits"),
    Setting("WS_PING_INTERVAL", "float", 20.0, "keepalive ping interval, both transports "
            "(seconds)", G, "ping_interval", minimum=0.1, group="limits"),
    Setting("WS_PING_TIMEOUT", "float", 20.0, "keepalive pong timeout, both transports "
            "(seconds)", G, "ping_timeout", minimum=0.1, group="limits"),
    Setting("DRAIN_SECONDS", "float", 10.0, "SIGTERM drain window (seconds)", G,
            "drain_seconds", minimum=0, group="limits"),
    Setting("GATEWAY_WORKERS", "int", 1, "processes sharing the port, like --workers", G,
            "workers", minimum=1, maximum=64, aliases=("WEB_CONCURRENCY",), group="limits"),
    Setting("PROMETHEUS_MULTIPROC_DIR", "str", None, "where --workers processes' metrics meet "
            "(emptied at start)", G, None, default_text="a temporary directory",
            group="limits"),
    # Original-server compatibility and health
    Setting("SUBSCRIBE_HISTORY", "int", 10, "newest events pushed in a history frame right "
            "after subscribed, as the original did (0 = off)", G, "subscribe_history",
            minimum=0, maximum=100, group="compat"),
    Setting("GLOBAL_EVENTS", "bool", False, "send global_event for every event of every "
            "contract a token allows, subscribed or not (the original did, to everybody)", G,
            "global_events", group="compat"),
    Setting("HEALTH_REQUIRES_CHAIN_FEED", "bool", False, "/health answers 503 (degraded) "
            "while the chain feed is not live, as the original did (off: a readiness probe "
            "would drop every gateway whenever the chain is quiet)", G,
            "health_requires_chain_feed", group="compat"),
    Setting("CHAIN_FEED_STALE_AFTER", "float", 120.0, "seconds since the leader ingester "
            "last heard from its source after which the chain feed is not live (/health)",
            BOTH, "chain_feed_stale_after", minimum=1, group="compat"),
    # Stacks API
    Setting("STACKS_API_URL", "str", None, "Stacks API (Hiro) base URL: the gateway's history "
            "backfill, the ingester's hiro source (there derived from STACKS_WS_URL's host "
            "when only that is set)", BOTH, "stacks_api_url",
            example="https://api.hiro.so", group="sources"),
    Setting("STACKS_API_TIMEOUT", "float", 5.0, "time budget of one history backfill "
            "(seconds)", G, "stacks_api_timeout", minimum=0.1, group="sources"),
    # Ingester sources
    Setting("STACKS_SOURCES", "list", ("observer",), "observer, hiro, chainhook: one or "
            "several; unset, STACKS_WS_URL or STACKS_API_URL alone selects hiro (as the "
            "original was configured)", I, "sources", choices=("observer", "hiro", "chainhook"),
            default_text="observer, or hiro when STACKS_WS_URL / STACKS_API_URL is set",
            group="sources"),
    Setting("STACKS_CONTRACTS", "list", ("*",), "comma-separated contract ids, * for all", I,
            None, group="sources"),
    *(Setting(name, "str", None, "a contract id: the ingester adds it to STACKS_CONTRACTS, "
              "both show it in /status as the original did (make dev sets the devnet's)", BOTH,
              None, group="sources")
      for name in SEED_CONTRACT_VARS),
    Setting("OBSERVER_TOKEN", "secret", None, "observer POSTs must carry 'Authorization: "
            f"Bearer <token>' (production: at least {MIN_SECRET_BYTES} bytes)", I,
            "observer_token", minimum=MIN_SECRET_BYTES, group="sources"),
    Setting("OBSERVER_TOKEN_REQUIRED", "bool", None, "refuse to start without OBSERVER_TOKEN "
            "(false in production only if the node alone reaches the port)", I,
            "observer_token_required", default_text="true in production, else false",
            group="sources"),
    Setting("OBSERVER_MAX_BODY_BYTES", "int", 64 * 1024 * 1024, "largest observer POST body "
            "(413 above)", I, "max_body_bytes", minimum=1024, group="sources"),
    Setting("STACKS_WS_URL", "str", None, "hiro source: JSON-RPC WebSocket URL (set alone, "
            "the REST API is taken on its host)", I,
            "stacks_ws_url", default_text="STACKS_API_URL's wss://…/extended/v1/ws",
            group="sources"),
    Setting("HIRO_API_KEY", "secret", None, "hiro source: x-api-key header", I,
            "hiro_api_key", group="sources"),
    Setting("HIRO_BACKFILL_MAX_BLOCKS", "int", 1000, "hiro source: most blocks backfilled "
            "after downtime", I, "hiro_backfill_max", minimum=1, group="sources"),
    Setting("CHAINHOOK_AUTH_HEADER", "secret", None, "chainhook source: the Authorization "
            "value POST /chainhook must carry (required in production)", I,
            "chainhook_auth_header", group="sources"),
    Setting("EVENT_TYPE_OVERRIDES", "list", (), "<contract|*>:<type>=<new type>, "
            "comma-separated", I, "type_overrides", group="sources"),
    # Reorgs and leadership
    Setting("REORG_WINDOW", "int", 256, "recent blocks kept for reorgs", I, "reorg_window",
            minimum=8, maximum=100_000, group="chain"),
    Setting("LEADER_LEASE_MS", "int", 2000, "leader lease (milliseconds)", I, "lease_ttl_ms",
            minimum=300, maximum=60_000, group="chain"),
    Setting("INGESTER_ID", "str", None, "this replica's id in the leader lease", I,
            "instance_id", default_text="host:pid", group="chain"),
)


def default(name: str) -> Any:
    """The declared default of ``name``: a settings struct's field default."""
    return default_of(SETTINGS, name)
