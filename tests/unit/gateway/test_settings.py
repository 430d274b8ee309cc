"""Gateway settings from the environment."""

from __future__ import annotations

import pytest

from adstack_config import ConfigError
from adstack_gateway.settings import GatewaySettings


def test_defaults_and_limits_from_env() -> None:
    settings = GatewaySettings.from_env({
        "JWT_SECRET": "s" * 32, "RATE_LIMIT_PER_SECOND": "5", "RATE_LIMIT_BURST": "7",
        "MAX_CONNECTIONS_PER_IP": "0", "DRAIN_SECONDS": "3",
        "STACKS_API_URL": "https://api.example/", "JWT_REQUIRED_CLAIMS": "exp, iat"})
    assert (settings.rate_limit_per_second, settings.rate_limit_burst) == (5.0, 7)
    assert settings.max_connections_per_ip is None
    assert settings.drain_seconds == 3.0
    assert settings.stacks_api_url == "https://api.example"
    assert settings.jwt.required_claims == ("exp", "iat")
    assert GatewaySettings.from_env({"JWT_SECRET": "x"}).max_connections_per_ip == 100


@pytest.mark.parametrize("env", [{"NODE_ENV": "production"}, {"ENV": "test"}])
def test_skip_auth_outside_development_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="SKIP_AUTH"):
        GatewaySettings.from_env({"SKIP_AUTH": "true", **env})


def test_skip_auth_in_development_needs_no_secret() -> None:
    settings = GatewaySettings.from_env({"SKIP_AUTH": "true", "NODE_ENV": "development"})
    assert settings.skip_auth


def test_auth_needs_a_key_source() -> None:
    with pytest.raises(ConfigError, match="JWT_SECRET"):
        GatewaySettings.from_env({"NODE_ENV": "production"})


@pytest.mark.parametrize(("env", "workers"), [
    ({}, 1),
    ({"WEB_CONCURRENCY": "3"}, 3),
    ({"GATEWAY_WORKERS": "2", "WEB_CONCURRENCY": "5"}, 2),  # ours wins
])
def test_workers_from_env(env: dict[str, str], workers: int) -> None:
    assert GatewaySettings.from_env({"JWT_SECRET": "s" * 32, **env}).workers == workers


@pytest.mark.parametrize("raw", ["0", "-1", "two", "65"])
def test_bad_worker_counts_are_refused(raw: str) -> None:
    with pytest.raises(ConfigError, match="GATEWAY_WORKERS"):
        GatewaySettings.from_env({"JWT_SECRET": "s" * 32, "GATEWAY_WORKERS": raw})


def test_body_timeout_from_env() -> None:
    assert GatewaySettings.from_env({"JWT_SECRET": "s" * 32}).body_timeout == 30.0
    assert GatewaySettings.from_env({"JWT_SECRET": "s" * 32,
                                     "BODY_TIMEOUT": "2.5"}).body_timeout == 2.5
    with pytest.raises(ConfigError, match="BODY_TIMEOUT"):
        GatewaySettings.from_env({"JWT_SECRET": "s" * 32, "BODY_TIMEOUT": "0"})


def test_settings_added_on_main_are_read_through_the_catalog() -> None:
    """SUBSCRIBE_HISTORY, GLOBAL_EVENTS, the chain-feed health settings, the pending
    handshake caps (0 = no limit) and the original's *_CONTRACT variables."""
    base = {"JWT_SECRET": "s" * 32}
    default = GatewaySettings.from_env(base)
    assert (default.subscribe_history, default.global_events) == (10, False)
    assert (default.health_requires_chain_feed, default.chain_feed_stale_after) == (False, 120.0)
    assert (default.max_pending_handshakes_per_ip, default.max_pending_handshakes) == (32, 2048)
    assert default.original_contracts == dict.fromkeys(
        ("campaigns", "auctions", "bridge", "payments", "governance"))
    settings = GatewaySettings.from_env({
        **base, "SUBSCRIBE_HISTORY": "0", "GLOBAL_EVENTS": "true",
        "HEALTH_REQUIRES_CHAIN_FEED": "yes", "CHAIN_FEED_STALE_AFTER": "30",
        "MAX_PENDING_HANDSHAKES_PER_IP": "0", "MAX_PENDING_HANDSHAKES": "0",
        "CAMPAIGN_CONTRACT": "SP000.campaigns"})
    assert (settings.subscribe_history, settings.global_events) == (0, True)
    assert (settings.health_requires_chain_feed, settings.chain_feed_stale_after) == (True, 30.0)
    assert settings.max_pending_handshakes_per_ip is None
    assert settings.max_pending_handshakes is None
    assert settings.original_contracts["campaigns"] == "SP000.campaigns"
    with pytest.raises(ConfigError) as refused:
        GatewaySettings.from_env({**base, "SUBSCRIBE_HISTORY": "101",
                                  "CHAIN_FEED_STALE_AFTER": "0.5", "GLOBAL_EVENTS": "maybe",
                                  "MAX_PENDING_HANDSHAKES": "-1"})
    assert len(refused.value.problems) == 4, refused.value.problems
