"""Ingester settings: declared once in :mod:`adstack_config.catalog` (name, default, bounds,
help), read and validated by :func:`adstack_config.load`; this adds the ingester's own
cross-setting checks."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import msgspec

from adstack_bus import canonical_redis_url
from adstack_config import load
from adstack_config.catalog import ORIGINAL_CONTRACT_NAMES, SEED_CONTRACT_VARS, SETTINGS, default
from adstack_ingester.pipeline import TypeNames

SOURCES: tuple[str, ...] = next(s.choices for s in SETTINGS if s.name == "STACKS_SOURCES")

__all__ = ["ORIGINAL_CONTRACT_NAMES", "SEED_CONTRACT_VARS", "SOURCES", "IngesterSettings",
           "api_url_from_ws", "ws_url_from_api"]


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
    host: str = default("INGESTER_HOST")
    port: int = default("INGESTER_PORT")
    # Redis
    redis_url: str = default("REDIS_URL")
    """Its scheme names the backend (``redis+cluster://``: a Redis Cluster)."""
    history_limit: int = default("EVENT_HISTORY_LIMIT")
    """The most events one getHistory returns: the stream keeps at least this many."""
    history_retain: int = default("HISTORY_RETAIN")
    """Entries kept per contract stream: what reconnecting clients can recover."""
    history_ttl: int = default("REDIS_TTL")
    dedup_ttl: int = default("DEDUP_TTL")
    # Sources
    contracts: tuple[str, ...] = default("STACKS_CONTRACTS")
    sources: tuple[str, ...] = default("STACKS_SOURCES")
    observer_token: str | None = default("OBSERVER_TOKEN")
    observer_token_required: bool = False
    """Refuse to start without ``observer_token`` (default: in production). ``False`` in
    production is the operator's explicit opt-out for a port only the node can reach."""
    max_body_bytes: int = default("OBSERVER_MAX_BODY_BYTES")
    body_timeout: float = default("BODY_TIMEOUT")
    """Seconds a request has, once its head is in, to send its whole body (408 after)."""
    type_overrides: tuple[str, ...] = default("EVENT_TYPE_OVERRIDES")
    stacks_api_url: str = ""
    stacks_ws_url: str = ""
    hiro_api_key: str | None = default("HIRO_API_KEY")
    hiro_backfill_max: int = default("HIRO_BACKFILL_MAX_BLOCKS")
    chainhook_auth_header: str | None = default("CHAINHOOK_AUTH_HEADER")
    original_contracts: dict[str, str | None] = msgspec.field(default_factory=dict)
    """The original's ``*_CONTRACT`` variables by its ``/status`` names."""
    sources_from: str = "default"
    """How ``sources`` was chosen: ``STACKS_SOURCES``, ``STACKS_WS_URL`` / ``STACKS_API_URL``
    (the original server's configuration: the Hiro source), or ``default`` (observer)."""
    chain_feed_stale_after: float = default("CHAIN_FEED_STALE_AFTER")
    """``/health``: the chain feed is live while the leader heard from its source within
    this many seconds."""
    # Reorgs and leadership
    reorg_window: int = default("REORG_WINDOW")
    lease_ttl_ms: int = default("LEADER_LEASE_MS")
    instance_id: str = ""
    # Process
    environment: str = default("NODE_ENV")
    log_level: str = default("LOG_LEVEL")
    log_json: bool = False
    warnings: tuple[str, ...] = ()
    """Unsafe settings accepted by ``ALLOW_INSECURE_CONFIG``: logged at start."""

    @property
    def all_contracts(self) -> bool:
        return "*" in self.contracts

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IngesterSettings:
        env = load(SETTINGS, "ingester", os.environ if environ is None else environ)
        env.convert("REDIS_URL", lambda url: canonical_redis_url(url, cluster=env["REDIS_CLUSTER"]))
        fields = env.fields()
        environment = fields["environment"]
        production = environment == "production"
        sources = fields["sources"]
        sources_from = "STACKS_SOURCES"
        if not sources or not env.is_set("STACKS_SOURCES"):
            # Configured like the original server (it only had a Stacks API WebSocket):
            # STACKS_WS_URL or STACKS_API_URL alone means the Hiro source.
            sources_from = next((v for v in ("STACKS_WS_URL", "STACKS_API_URL") if env[v]),
                                "default")
            sources = ("observer",) if sources_from == "default" else ("hiro",)
        fields["sources"] = sources
        observer_token = fields["observer_token"]
        token_required = fields["observer_token_required"]
        if token_required is None:
            token_required = fields["observer_token_required"] = production
        if token_required and "observer" in sources and not observer_token:
            why = "NODE_ENV is production" if production else "OBSERVER_TOKEN_REQUIRED=true"
            env.problem(
                f"OBSERVER_TOKEN is not set and {why}: without it anyone who reaches the "
                "ingester port can publish events. Set OBSERVER_TOKEN (the node's requests "
                "must carry 'Authorization: Bearer <token>'), or set "
                "OBSERVER_TOKEN_REQUIRED=false if only the stacks-node can reach this port "
                "(a private network)")
        if production and "chainhook" in sources and not fields["chainhook_auth_header"]:
            # Chainhook sends the predicate's authorization_header itself: no opt-out.
            env.problem(
                "STACKS_SOURCES includes chainhook but CHAINHOOK_AUTH_HEADER is not set and "
                "NODE_ENV is production: without it anyone who reaches the ingester port "
                "can publish events. Set it to the predicate's authorization_header")
        api_url = (fields["stacks_api_url"] or "").rstrip("/")
        ws_only = fields["stacks_ws_url"] or ""
        if not api_url and ws_only and sources_from == "STACKS_WS_URL":
            # Only the WebSocket URL, as the original took it: the REST API is on the same
            # host (Hiro's API serves both).
            api_url = api_url_from_ws(ws_only)
        listed = env["STACKS_CONTRACTS"]
        seeds = tuple(v for k in SEED_CONTRACT_VARS if (v := env[k]))
        contracts = tuple(dict.fromkeys((*listed, *seeds)))
        if "hiro" in sources:
            if not api_url:
                env.problem("STACKS_SOURCES includes hiro but STACKS_API_URL is not set")
            if "*" in listed and not seeds and len(contracts) == 1:
                env.problem("the hiro source needs explicit contracts (STACKS_CONTRACTS "
                            "or the *_CONTRACT variables), not *")
        fields.update(
            contracts=contracts,
            stacks_api_url=api_url,
            stacks_ws_url=ws_only or (ws_url_from_api(api_url) if api_url else ""),
            sources_from=sources_from,
            original_contracts={name: env[var] for name, var
                                in zip(ORIGINAL_CONTRACT_NAMES, SEED_CONTRACT_VARS, strict=True)},
            instance_id=fields["instance_id"] or f"{socket.gethostname()}:{os.getpid()}",
            log_json=production if fields["log_json"] is None else fields["log_json"],
        )
        try:
            TypeNames.parse(fields["type_overrides"])
        except ValueError as exc:
            env.problem(f"EVENT_TYPE_OVERRIDES: {exc}")
        env.check()
        return cls(**fields, warnings=tuple(env.warnings))
