"""Ingester settings, read from the environment (the original server's variable names)."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from adstack_config import Env

SEED_CONTRACT_VARS = (
    "CAMPAIGN_CONTRACT",
    "AUCTION_CONTRACT",
    "BRIDGE_CONTRACT",
    "PAYMENT_CONTRACT",
    "GOVERNANCE_CONTRACT",
)


class IngesterSettings(msgspec.Struct, kw_only=True):
    # Network
    host: str = "0.0.0.0"
    port: int = 3700
    # Redis
    redis_url: str = "redis://localhost:6379/0"
    history_limit: int = 100
    history_ttl: int = 3600
    dedup_ttl: int = 3 * 86400
    # Sources
    contracts: tuple[str, ...] = ("*",)
    observer_token: str | None = None
    max_body_bytes: int = 64 * 1024 * 1024
    # Process
    environment: str = "development"
    log_level: str = "INFO"
    log_json: bool = False

    @property
    def all_contracts(self) -> bool:
        return "*" in self.contracts

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IngesterSettings:
        env = Env(environ)
        listed = env.list("STACKS_CONTRACTS", ("*",))
        seeds = tuple(v for k in SEED_CONTRACT_VARS if (v := env.opt_str(k)))
        environment = env.str("NODE_ENV", env.str("ENV", "development")).lower()
        settings = cls(
            host=env.str("INGESTER_HOST", "0.0.0.0"),
            port=env.int("INGESTER_PORT", 3700, minimum=1, maximum=65535),
            redis_url=env.str("REDIS_URL", "redis://localhost:6379/0"),
            history_limit=env.int("EVENT_HISTORY_LIMIT", 100, minimum=1, maximum=100_000),
            history_ttl=env.int("REDIS_TTL", 3600, minimum=1),
            dedup_ttl=env.int("DEDUP_TTL", 3 * 86400, minimum=60),
            contracts=tuple(dict.fromkeys((*listed, *seeds))),
            observer_token=env.opt_str("OBSERVER_TOKEN"),
            max_body_bytes=env.int("OBSERVER_MAX_BODY_BYTES", 64 * 1024 * 1024, minimum=1024),
            environment=environment,
            log_level=env.str("LOG_LEVEL", "INFO"),
            log_json=env.bool("LOG_JSON", environment == "production"),
        )
        env.check()
        return settings
