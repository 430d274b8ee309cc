"""Gateway settings: declared once in :mod:`adstack_config.catalog` (name, default, bounds,
help), read and validated by :func:`adstack_config.load`; this adds the gateway's own
cross-setting checks."""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec

from adstack_auth import VerifierConfig
from adstack_bus import canonical_redis_url
from adstack_config import load
from adstack_config.catalog import ORIGINAL_CONTRACT_NAMES, SEED_CONTRACT_VARS, SETTINGS, default

MAX_WORKERS = int(next(s.maximum for s in SETTINGS if s.name == "GATEWAY_WORKERS") or 1)

ORIGINAL_CONTRACTS = tuple(zip(ORIGINAL_CONTRACT_NAMES, SEED_CONTRACT_VARS, strict=True))
"""``/status``'s ``contracts`` block (the original's names) → the variable naming each."""


class GatewaySettings(msgspec.Struct, kw_only=True):
    # Network
    host: str = default("HOST")
    port: int = default("PORT")
    allowed_origins: tuple[str, ...] = default("ALLOWED_ORIGINS")
    # Redis
    redis_url: str = default("REDIS_URL")
    """Its scheme names the backend (``redis+cluster://``: a Redis Cluster)."""
    # Auth
    skip_auth: bool = default("SKIP_AUTH")
    jwt: VerifierConfig = msgspec.field(default_factory=VerifierConfig)
    # Limits
    max_subscriptions: int = default("MAX_SUBSCRIPTIONS_PER_CLIENT")
    history_limit: int = default("EVENT_HISTORY_LIMIT")
    subscribe_history: int = default("SUBSCRIBE_HISTORY")
    """Newest events pushed in a ``history`` frame right after ``subscribed`` (the original
    server's behaviour); 0 turns the push off."""
    global_events: bool = default("GLOBAL_EVENTS")
    """Send ``global_event {contractId, type, timestamp}`` for every event of every contract
    a connection's token allows, subscribed or not (the original did, to everybody)."""
    original_contracts: dict[str, str | None] = msgspec.field(default_factory=dict)
    """The original's ``*_CONTRACT`` variables, shown in ``/status`` as it did."""
    health_requires_chain_feed: bool = default("HEALTH_REQUIRES_CHAIN_FEED")
    """``/health`` answers 503 (``degraded``) while the chain feed is not live, as the
    original did. Off by default: a readiness probe on ``/health`` would then take every
    gateway out of its load balancer whenever the ingester is down or the chain is quiet."""
    chain_feed_stale_after: float = default("CHAIN_FEED_STALE_AFTER")
    """``/health``: the chain feed counts as live while the leader ingester heard from its
    source within this many seconds."""
    max_frame_bytes: int = default("MAX_FRAME_BYTES")
    outbox_max_bytes: int = default("OUTBOX_MAX_BYTES")
    ws_direct_write: bool = default("WS_DIRECT_WRITE")
    """Native /ws: write relayed frames straight to the socket, coalesced per loop
    iteration (False: one ASGI send per message through a per-connection writer task)."""
    event_loop: str = default("EVENT_LOOP")
    """uvicorn's event loop: ``auto`` (uvloop when installed), ``asyncio`` or ``uvloop``."""
    ping_interval: float = default("WS_PING_INTERVAL")
    ping_timeout: float = default("WS_PING_TIMEOUT")
    rate_limit_per_second: float = default("RATE_LIMIT_PER_SECOND")
    """Commands per second a connection may send on average; 0 turns the limit off."""
    rate_limit_burst: int = default("RATE_LIMIT_BURST")
    rate_limit_close_after: int = default("RATE_LIMIT_CLOSE_AFTER")
    """Consecutive RATE_LIMITED commands after which the connection is closed (4003)."""
    max_connections_per_ip: int | None = default("MAX_CONNECTIONS_PER_IP")
    handshake_timeout: float = default("HANDSHAKE_TIMEOUT")
    """Seconds a Socket.IO client gets to join the namespace after opening Engine.IO."""
    max_pending_handshakes_per_ip: int | None = default("MAX_PENDING_HANDSHAKES_PER_IP")
    """Engine.IO connections from one IP that have not joined the namespace yet (beyond
    it: 429); None = unlimited."""
    max_pending_handshakes: int | None = default("MAX_PENDING_HANDSHAKES")
    """The same, over all IPs."""
    body_timeout: float = default("BODY_TIMEOUT")
    """Seconds an HTTP request (a Socket.IO polling POST) has, once its head is in, to send
    its whole body (408 after)."""
    # History backfill from a Stacks API (Hiro REST)
    stacks_api_url: str | None = default("STACKS_API_URL")
    stacks_api_timeout: float = default("STACKS_API_TIMEOUT")
    # Shutdown
    drain_seconds: float = default("DRAIN_SECONDS")
    # Processes
    workers: int = default("GATEWAY_WORKERS")
    """Gateway processes sharing the port (``--workers``, ``GATEWAY_WORKERS``,
    ``WEB_CONCURRENCY``); each is an independent replica."""
    # Process
    environment: str = default("NODE_ENV")
    log_level: str = default("LOG_LEVEL")
    log_json: bool = False
    warnings: tuple[str, ...] = ()
    """Unsafe settings accepted by ``ALLOW_INSECURE_CONFIG``: logged at start."""

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GatewaySettings:
        env = load(SETTINGS, "gateway", os.environ if environ is None else environ)
        env.convert("REDIS_URL", lambda url: canonical_redis_url(url, cluster=env["REDIS_CLUSTER"]))
        fields = env.fields()
        jwt = fields.pop("jwt")
        environment = fields["environment"]
        if fields["skip_auth"] and environment != "development":
            env.problem("SKIP_AUTH=true is only allowed with NODE_ENV=development "
                        f"(NODE_ENV is {environment!r})")
        if not jwt["algorithms"]:
            keys = jwt["public_key_file"] or jwt["jwks_url"]
            jwt["algorithms"] = ("RS256", "ES256") if keys else ("HS256",)
        if not fields["skip_auth"] and not (jwt["secret"] or jwt["public_key_file"]
                                            or jwt["jwks_url"]):
            env.problem("set JWT_SECRET (or JWT_PUBLIC_KEY_FILE / JWT_JWKS_URL), "
                        "or SKIP_AUTH=true in development")
        for name in ("max_connections_per_ip", "max_pending_handshakes_per_ip",
                     "max_pending_handshakes"):
            fields[name] = fields[name] or None  # 0 = no limit
        fields["stacks_api_url"] = (fields["stacks_api_url"] or "").rstrip("/") or None
        fields["original_contracts"] = {name: env[var] for name, var in ORIGINAL_CONTRACTS}
        if fields["log_json"] is None:
            fields["log_json"] = environment == "production"
        env.check()
        return cls(**fields, jwt=VerifierConfig(**jwt), warnings=tuple(env.warnings))

