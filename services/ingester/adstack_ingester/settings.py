"""Ingester settings, read from the environment (the original server's variable names)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import msgspec

from adstack_config import Env
from adstack_ingester.pipeline import TypeNames

SEED_CONTRACT_VARS = (
    "CAMPAIGN_CONTRACT",
    "AUCTION_CONTRACT",
    "BRIDGE_CONTRACT",
    "PAYMENT_CONTRACT",
    "GOVERNANCE_CONTRACT",
)

ORIGINAL_CONTRACT_NAMES = ("campaigns", "auctions", "bridge", "payments", "governance")
"""``/status``'s ``contracts`` keys in the original server, one per SEED_CONTRACT_VARS."""

SOURCES = ("observer", "hiro", "chainhook")


def ws_url_from_api(api_url: str) -> str:
    """``STACKS_WS_URL`` default: the API URL with ``ws(s)`` and ``/extended/v1/ws``."""
    parts = urlsplit(api_url)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    if not path:
        path = "/extended/v1/ws"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def api_url_from_ws(ws_url: str) -> str:
    """The REST base URL of a Stacks API from its WebSocket URL (``wss`` → ``https``)."""
    parts = urlsplit(ws_url)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "", "", ""))


class IngesterSettings(msgspec.Struct, kw_only=True):
    # Network
    host: str = "0.0.0.0"
    port: int = 3700
    # Redis
    redis_url: str = "redis://localhost:6379/0"
    redis_cluster: bool = False
    history_limit: int = 100
    history_retain: int = 1000
    """Entries kept per contract stream: what reconnecting clients can recover."""
    history_ttl: int = 3600
    dedup_ttl: int = 3 * 86400
    # Sources
    contracts: tuple[str, ...] = ("*",)
    sources: tuple[str, ...] = ("observer",)
    observer_token: str | None = None
    observer_token_required: bool = False
    """Refuse to start without ``observer_token`` (default: in production). ``False`` in
    production is the operator's explicit opt-out for a port only the node can reach."""
    max_body_bytes: int = 64 * 1024 * 1024
    body_timeout: float = 30.0
    """Seconds a request has, once its head is in, to send its whole body (408 after)."""
    type_overrides: tuple[str, ...] = ()
    stacks_api_url: str = ""
    stacks_ws_url: str = ""
    hiro_api_key: str | None = None
    hiro_backfill_max: int = 1000
    chainhook_auth_header: str | None = None
    original_contracts: dict[str, str | None] = msgspec.field(default_factory=dict)
    """The original's ``*_CONTRACT`` variables by its ``/status`` names."""
    sources_from: str = "default"
    """How ``sources`` was chosen: ``STACKS_SOURCES``, ``STACKS_WS_URL`` / ``STACKS_API_URL``
    (the original server's configuration: the Hiro source), or ``default`` (observer)."""
    chain_feed_stale_after: float = 120.0
    """``/health``: the chain feed is live while the leader heard from its source within
    this many seconds."""
    # Reorgs and leadership
    reorg_window: int = 256
    lease_ttl_ms: int = 2000
    instance_id: str = ""
    # Process
    environment: str = "development"
    log_level: str = "INFO"
    log_json: bool = False

    @property
    def all_contracts(self) -> bool:
        return "*" in self.contracts

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IngesterSettings:
        env = Env(environ)
        listed = env.list("STACKS_CONTRACTS", ("*",))
        seeds = tuple(v for k in SEED_CONTRACT_VARS if (v := env.opt_str(k)))
        environment = env.str("NODE_ENV", env.str("ENV", "development")).lower()
        sources = tuple(dict.fromkeys(s.lower() for s in env.list("STACKS_SOURCES", ())))
        sources_from = "STACKS_SOURCES"
        if not sources:
            # Configured like the original server (it only had a Stacks API WebSocket):
            # STACKS_WS_URL or STACKS_API_URL alone means the Hiro source.
            sources_from = next((v for v in ("STACKS_WS_URL", "STACKS_API_URL")
                                 if env.opt_str(v)), "default")
            sources = ("observer",) if sources_from == "default" else ("hiro",)
        for source in sources:
            if source not in SOURCES:
                env.problem(f"STACKS_SOURCES: unknown source {source!r} "
                            f"(choose from {', '.join(SOURCES)})")
        observer_token = env.opt_str("OBSERVER_TOKEN")
        token_required = env.bool("OBSERVER_TOKEN_REQUIRED", environment == "production")
        if token_required and "observer" in sources and not observer_token:
            why = ("NODE_ENV is production" if environment == "production"
                   else "OBSERVER_TOKEN_REQUIRED=true")
            env.problem(
                f"OBSERVER_TOKEN is not set and {why}: without it anyone who reaches the "
                "ingester port can publish events. Set OBSERVER_TOKEN (the node's requests "
                "must carry 'Authorization: Bearer <token>'), or set "
                "OBSERVER_TOKEN_REQUIRED=false if only the stacks-node can reach this port "
                "(a private network)")
        chainhook_auth = env.opt_str("CHAINHOOK_AUTH_HEADER")
        if environment == "production" and "chainhook" in sources and not chainhook_auth:
            # Chainhook sends the predicate's authorization_header itself: no opt-out.
            env.problem(
                "STACKS_SOURCES includes chainhook but CHAINHOOK_AUTH_HEADER is not set and "
                "NODE_ENV is production: without it anyone who reaches the ingester port "
                "can publish events. Set it to the predicate's authorization_header")
        api_url = env.str("STACKS_API_URL", "").rstrip("/")
        ws_only = env.str("STACKS_WS_URL", "")
        if not api_url and ws_only and sources_from == "STACKS_WS_URL":
            # Only the WebSocket URL, as the original took it: the REST API is on the same
            # host (Hiro's API serves both).
            api_url = api_url_from_ws(ws_only)
        contracts = tuple(dict.fromkeys((*listed, *seeds)))
        if "hiro" in sources:
            if not api_url:
                env.problem("STACKS_SOURCES includes hiro but STACKS_API_URL is not set")
            if "*" in listed and not seeds and len(contracts) == 1:
                env.problem("the hiro source needs explicit contracts (STACKS_CONTRACTS "
                            "or the *_CONTRACT variables), not *")
        settings = cls(
            host=env.str("INGESTER_HOST", "0.0.0.0"),
            port=env.int("INGESTER_PORT", 3700, minimum=1, maximum=65535),
            redis_url=env.str("REDIS_URL", "redis://localhost:6379/0"),
            redis_cluster=env.bool("REDIS_CLUSTER", False),
            history_limit=env.int("EVENT_HISTORY_LIMIT", 100, minimum=1, maximum=100_000),
            history_retain=env.int("HISTORY_RETAIN", 1000, minimum=1, maximum=1_000_000),
            history_ttl=env.int("REDIS_TTL", 3600, minimum=1),
            dedup_ttl=env.int("DEDUP_TTL", 3 * 86400, minimum=60),
            contracts=contracts,
            sources=sources,
            observer_token=observer_token,
            observer_token_required=token_required,
            max_body_bytes=env.int("OBSERVER_MAX_BODY_BYTES", 64 * 1024 * 1024, minimum=1024),
            body_timeout=env.float("BODY_TIMEOUT", 30.0, minimum=0.1),
            type_overrides=env.list("EVENT_TYPE_OVERRIDES", ()),
            stacks_api_url=api_url,
            stacks_ws_url=env.str("STACKS_WS_URL", "") or (
                ws_url_from_api(api_url) if api_url else ""),
            hiro_api_key=env.opt_str("HIRO_API_KEY"),
            hiro_backfill_max=env.int("HIRO_BACKFILL_MAX_BLOCKS", 1000, minimum=1),
            chainhook_auth_header=chainhook_auth,
            sources_from=sources_from,
            original_contracts={name: env.opt_str(var) for name, var
                                in zip(ORIGINAL_CONTRACT_NAMES, SEED_CONTRACT_VARS, strict=True)},
            chain_feed_stale_after=env.float("CHAIN_FEED_STALE_AFTER", 120.0, minimum=1),
            reorg_window=env.int("REORG_WINDOW", 256, minimum=8, maximum=100_000),
            lease_ttl_ms=env.int("LEADER_LEASE_MS", 2000, minimum=300, maximum=60_000),
            instance_id=env.str("INGESTER_ID", "") or f"{socket.gethostname()}:{os.getpid()}",
            environment=environment,
            log_level=env.str("LOG_LEVEL", "INFO"),
            log_json=env.bool("LOG_JSON", environment == "production"),
        )
        try:
            TypeNames.parse(settings.type_overrides)
        except ValueError as exc:
            env.problem(f"EVENT_TYPE_OVERRIDES: {exc}")
        env.check()
        return settings
