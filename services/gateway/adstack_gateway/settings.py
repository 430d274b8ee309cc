"""Gateway settings, read from the environment (the original server's variable names)."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from adstack_auth import VerifierConfig
from adstack_config import Env

MAX_WORKERS = 64

ORIGINAL_CONTRACTS = (
    ("campaigns", "CAMPAIGN_CONTRACT"),
    ("auctions", "AUCTION_CONTRACT"),
    ("bridge", "BRIDGE_CONTRACT"),
    ("payments", "PAYMENT_CONTRACT"),
    ("governance", "GOVERNANCE_CONTRACT"),
)
"""``/status``'s ``contracts`` block (the original's names) → the variable naming each."""


class GatewaySettings(msgspec.Struct, kw_only=True):
    # Network
    host: str = "0.0.0.0"
    port: int = 3002
    allowed_origins: tuple[str, ...] = ("*",)
    # Redis
    redis_url: str = "redis://localhost:6379/0"
    redis_cluster: bool = False
    # Auth
    skip_auth: bool = False
    jwt: VerifierConfig = msgspec.field(default_factory=VerifierConfig)
    # Limits
    max_subscriptions: int = 10
    history_limit: int = 100
    subscribe_history: int = 10
    """Newest events pushed in a ``history`` frame right after ``subscribed`` (the original
    server's behaviour); 0 turns the push off."""
    global_events: bool = False
    """Send ``global_event {contractId, type, timestamp}`` for every event of every contract
    a connection's token allows, subscribed or not (the original did, to everybody)."""
    original_contracts: dict[str, str | None] = msgspec.field(default_factory=dict)
    """The original's ``*_CONTRACT`` variables, shown in ``/status`` as it did."""
    health_requires_chain_feed: bool = False
    """``/health`` answers 503 (``degraded``) while the chain feed is not live, as the
    original did. Off by default: a readiness probe on ``/health`` would then take every
    gateway out of its load balancer whenever the ingester is down or the chain is quiet."""
    chain_feed_stale_after: float = 120.0
    """``/health``: the chain feed counts as live while the leader ingester heard from its
    source within this many seconds."""
    max_frame_bytes: int = 64 * 1024
    outbox_max_bytes: int = 1 << 20
    ws_direct_write: bool = True
    """Native /ws: write relayed frames straight to the socket, coalesced per loop
    iteration (False: one ASGI send per message through a per-connection writer task)."""
    event_loop: str = "auto"
    """uvicorn's event loop: ``auto`` (uvloop when installed), ``asyncio`` or ``uvloop``."""
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    rate_limit_per_second: float = 20.0
    """Commands per second a connection may send on average; 0 turns the limit off."""
    rate_limit_burst: int = 40
    rate_limit_close_after: int = 20
    """Consecutive RATE_LIMITED commands after which the connection is closed (4003)."""
    max_connections_per_ip: int | None = 100
    handshake_timeout: float = 10.0
    """Seconds a Socket.IO client gets to join the namespace after opening Engine.IO."""
    max_pending_handshakes_per_ip: int | None = 32
    """Engine.IO connections from one IP that have not joined the namespace yet (beyond
    it: 429); None = unlimited."""
    max_pending_handshakes: int | None = 2048
    """The same, over all IPs."""
    body_timeout: float = 30.0
    """Seconds an HTTP request (a Socket.IO polling POST) has, once its head is in, to send
    its whole body (408 after)."""
    # History backfill from a Stacks API (Hiro REST)
    stacks_api_url: str | None = None
    stacks_api_timeout: float = 5.0
    # Shutdown
    drain_seconds: float = 10.0
    # Processes
    workers: int = 1
    """Gateway processes sharing the port (``--workers``, ``GATEWAY_WORKERS``,
    ``WEB_CONCURRENCY``); each is an independent replica."""
    # Process
    environment: str = "development"
    log_level: str = "INFO"
    log_json: bool = False

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GatewaySettings:
        env = Env(environ)
        environment = env.str("NODE_ENV", env.str("ENV", "development")).lower()
        skip_auth = env.bool("SKIP_AUTH", False)
        if skip_auth and environment != "development":
            env.problem("SKIP_AUTH=true is only allowed with NODE_ENV=development "
                        f"(NODE_ENV is {environment!r})")
        algorithms = env.list("JWT_ALGORITHMS", ())
        public_key = env.opt_str("JWT_PUBLIC_KEY_FILE")
        jwks = env.opt_str("JWT_JWKS_URL")
        if not algorithms:
            algorithms = ("RS256", "ES256") if (public_key or jwks) else ("HS256",)
        jwt = VerifierConfig(
            secret=env.opt_str("JWT_SECRET"),
            public_key_file=public_key,
            jwks_url=jwks,
            algorithms=algorithms,
            issuer=env.opt_str("JWT_ISSUER"),
            audience=env.opt_str("JWT_AUDIENCE"),
            leeway=env.float("JWT_LEEWAY", 30.0, minimum=0),
            contracts_claim=env.str("JWT_CONTRACTS_CLAIM", "contracts"),
            required_claims=env.list("JWT_REQUIRED_CLAIMS", ()),
            max_token_bytes=env.int("JWT_MAX_BYTES", 4096, minimum=256),
            jwks_cache_seconds=env.float("JWT_JWKS_CACHE_SECONDS", 300.0, minimum=0),
        )
        if not skip_auth and not (jwt.secret or jwt.public_key_file or jwt.jwks_url):
            env.problem("set JWT_SECRET (or JWT_PUBLIC_KEY_FILE / JWT_JWKS_URL), "
                        "or SKIP_AUTH=true in development")
        event_loop = env.str("EVENT_LOOP", "auto").lower()
        if event_loop not in {"auto", "asyncio", "uvloop"}:
            env.problem(f"EVENT_LOOP must be auto, asyncio or uvloop (got {event_loop!r})")
        settings = cls(
            host=env.str("HOST", "0.0.0.0"),
            port=env.int("PORT", 3002, minimum=0, maximum=65535),
            allowed_origins=env.list("ALLOWED_ORIGINS", ("*",)),
            redis_url=env.str("REDIS_URL", "redis://localhost:6379/0"),
            redis_cluster=env.bool("REDIS_CLUSTER", False),
            skip_auth=skip_auth,
            jwt=jwt,
            max_subscriptions=env.int("MAX_SUBSCRIPTIONS_PER_CLIENT", 10, minimum=1),
            history_limit=env.int("EVENT_HISTORY_LIMIT", 100, minimum=1, maximum=100),
            subscribe_history=env.int("SUBSCRIBE_HISTORY", 10, minimum=0, maximum=100),
            global_events=env.bool("GLOBAL_EVENTS", False),
            original_contracts={name: env.opt_str(var) for name, var in ORIGINAL_CONTRACTS},
            health_requires_chain_feed=env.bool("HEALTH_REQUIRES_CHAIN_FEED", False),
            chain_feed_stale_after=env.float("CHAIN_FEED_STALE_AFTER", 120.0, minimum=1),
            max_frame_bytes=env.int("MAX_FRAME_BYTES", 64 * 1024, minimum=256),
            outbox_max_bytes=env.int("OUTBOX_MAX_BYTES", 1 << 20, minimum=4096),
            ws_direct_write=env.bool("WS_DIRECT_WRITE", True),
            event_loop=event_loop,
            ping_interval=env.float("WS_PING_INTERVAL", 20.0, minimum=0.1),
            ping_timeout=env.float("WS_PING_TIMEOUT", 20.0, minimum=0.1),
            rate_limit_per_second=env.float("RATE_LIMIT_PER_SECOND", 20.0, minimum=0),
            rate_limit_burst=env.int("RATE_LIMIT_BURST", 40, minimum=1),
            rate_limit_close_after=env.int("RATE_LIMIT_CLOSE_AFTER", 20, minimum=1),
            max_connections_per_ip=env.int("MAX_CONNECTIONS_PER_IP", 100, minimum=0) or None,
            handshake_timeout=env.float("HANDSHAKE_TIMEOUT", 10.0, minimum=0.1),
            max_pending_handshakes_per_ip=env.int("MAX_PENDING_HANDSHAKES_PER_IP", 32,
                                                  minimum=0) or None,
            max_pending_handshakes=env.int("MAX_PENDING_HANDSHAKES", 2048, minimum=0) or None,
            body_timeout=env.float("BODY_TIMEOUT", 30.0, minimum=0.1),
            stacks_api_url=(env.opt_str("STACKS_API_URL") or "").rstrip("/") or None,
            stacks_api_timeout=env.float("STACKS_API_TIMEOUT", 5.0, minimum=0.1),
            drain_seconds=env.float("DRAIN_SECONDS", 10.0, minimum=0),
            workers=env.int("GATEWAY_WORKERS", env.int("WEB_CONCURRENCY", 1, minimum=1),
                            minimum=1, maximum=MAX_WORKERS),
            environment=environment,
            log_level=env.str("LOG_LEVEL", "INFO"),
            log_json=env.bool("LOG_JSON", environment == "production"),
        )
        env.check()
        return settings
