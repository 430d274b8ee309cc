"""Ingester settings from the environment."""

from __future__ import annotations

import pytest

from adstack_config import ConfigError
from adstack_ingester.settings import IngesterSettings


def test_body_timeout_from_env() -> None:
    assert IngesterSettings.from_env({}).body_timeout == 30.0
    assert IngesterSettings.from_env({"BODY_TIMEOUT": "4"}).body_timeout == 4.0
    for raw in ("0", "-1", "soon"):
        with pytest.raises(ConfigError, match="BODY_TIMEOUT"):
            IngesterSettings.from_env({"BODY_TIMEOUT": raw})


@pytest.mark.parametrize("env", [{"NODE_ENV": "production"}, {"ENV": "production"},
                                 {"NODE_ENV": "development", "OBSERVER_TOKEN_REQUIRED": "true"}])
def test_an_observer_without_a_token_is_refused_where_required(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="OBSERVER_TOKEN is not set") as raised:
        IngesterSettings.from_env(env)
    assert "OBSERVER_TOKEN_REQUIRED=false" in str(raised.value)  # the way out is named


def test_production_with_a_token_starts_and_requires_it() -> None:
    settings = IngesterSettings.from_env({"NODE_ENV": "production", "OBSERVER_TOKEN": "t" * 32})
    assert settings.production and settings.observer_token_required
    assert settings.observer_token == "t" * 32


def test_production_opt_out_for_a_private_network() -> None:
    settings = IngesterSettings.from_env({"NODE_ENV": "production",
                                          "OBSERVER_TOKEN_REQUIRED": "false"})
    assert settings.production and not settings.observer_token_required
    assert settings.observer_token is None


def test_development_needs_no_token() -> None:
    settings = IngesterSettings.from_env({"NODE_ENV": "development"})
    assert not settings.production and not settings.observer_token_required
    assert not IngesterSettings.from_env({}).observer_token_required  # the default


def test_no_token_is_needed_without_the_observer_source() -> None:
    settings = IngesterSettings.from_env({
        "NODE_ENV": "production", "STACKS_SOURCES": "hiro",
        "STACKS_API_URL": "https://api.example",
        "STACKS_CONTRACTS": "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"})
    assert settings.sources == ("hiro",)


def test_production_chainhook_needs_its_authorization_header() -> None:
    with pytest.raises(ConfigError, match="CHAINHOOK_AUTH_HEADER is not set"):
        IngesterSettings.from_env({"NODE_ENV": "production", "STACKS_SOURCES": "chainhook"})
    settings = IngesterSettings.from_env({"NODE_ENV": "production",
                                          "STACKS_SOURCES": "chainhook",
                                          "CHAINHOOK_AUTH_HEADER": "Bearer s3cret"})
    assert settings.chainhook_auth_header == "Bearer s3cret"
    # Development keeps accepting an unauthenticated Chainhook (local predicates).
    assert IngesterSettings.from_env({"STACKS_SOURCES": "chainhook"}).chainhook_auth_header \
        is None


CONTRACT = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"


def test_stacks_ws_url_alone_selects_the_hiro_source_as_the_original_did() -> None:
    settings = IngesterSettings.from_env({"STACKS_WS_URL": "wss://api.testnet.hiro.so/extended/v1/ws",
                                          "CAMPAIGN_CONTRACT": CONTRACT})
    assert settings.sources == ("hiro",) and settings.sources_from == "STACKS_WS_URL"
    assert settings.stacks_api_url == "https://api.testnet.hiro.so"
    assert settings.stacks_ws_url == "wss://api.testnet.hiro.so/extended/v1/ws"


def test_stacks_api_url_alone_selects_the_hiro_source() -> None:
    settings = IngesterSettings.from_env({"STACKS_API_URL": "https://api.hiro.so",
                                          "STACKS_CONTRACTS": CONTRACT})
    assert settings.sources == ("hiro",) and settings.sources_from == "STACKS_API_URL"
    assert settings.stacks_ws_url == "wss://api.hiro.so/extended/v1/ws"


def test_stacks_sources_wins_over_the_urls_and_the_default_is_the_observer() -> None:
    settings = IngesterSettings.from_env({"STACKS_SOURCES": "observer",
                                          "STACKS_WS_URL": "wss://api.hiro.so/extended/v1/ws"})
    assert settings.sources == ("observer",) and settings.sources_from == "STACKS_SOURCES"
    default = IngesterSettings.from_env({})
    assert default.sources == ("observer",) and default.sources_from == "default"


def test_the_hiro_source_from_stacks_ws_url_still_needs_explicit_contracts() -> None:
    with pytest.raises(ConfigError, match="explicit contracts"):
        IngesterSettings.from_env({"STACKS_WS_URL": "wss://api.hiro.so/extended/v1/ws"})


def test_an_empty_stacks_sources_counts_as_unset() -> None:
    settings = IngesterSettings.from_env({"STACKS_SOURCES": "", "STACKS_API_URL":
                                          "https://api.example", "STACKS_CONTRACTS": CONTRACT})
    assert (settings.sources, settings.sources_from) == (("hiro",), "STACKS_API_URL")
    assert IngesterSettings.from_env({}).sources_from == "default"
    assert IngesterSettings.from_env({"CHAIN_FEED_STALE_AFTER": "45"}).chain_feed_stale_after == 45
    with pytest.raises(ConfigError, match="CHAIN_FEED_STALE_AFTER"):
        IngesterSettings.from_env({"CHAIN_FEED_STALE_AFTER": "0"})
