"""The gateway's /status document: what operators need, never a secret."""

from __future__ import annotations

import json
from typing import Any

from adstack_bus import ChainFeed
from adstack_gateway.settings import GatewaySettings
from adstack_gateway.status import auth_mode, gateway_health, gateway_status, secrets_of

JWT_SECRET = "jwt-secret-value-for-status-test-0123456789"
REDIS_PASSWORD = "redis-pass-Xy9"
QUERY_PASSWORD = "query-pass-Qz7"


def settings(**env: str) -> GatewaySettings:
    return GatewaySettings.from_env({
        "JWT_SECRET": JWT_SECRET,
        "REDIS_URL": f"redis://app:{REDIS_PASSWORD}@redis.internal:6380/2",
        "MAX_SUBSCRIPTIONS_PER_CLIENT": "7",
        **env,
    })


def status(cfg: GatewaySettings) -> dict[str, object]:
    return gateway_status(cfg, version="1.2.3", pid=42, started=1000.0, now=1060.5,
                          redis_up=True, pubsub_connected=True, connections=3,
                          subscriptions=5, channels=2, memory={"rss": 1024},
                          multiprocess=False)


def test_status_reports_state_and_limits() -> None:
    body = status(settings())
    assert body["version"] == "1.2.3" and body["uptimeSeconds"] == 60.5
    assert body["dependencies"] == {"redis": {
        "url": "redis://***:***@redis.internal:6380/2", "state": "up", "pubsub": "connected"}}
    assert body["connections"] == {"clients": 3, "subscriptions": 5, "redisChannels": 2}
    limits = body["limits"]
    assert isinstance(limits, dict) and limits["maxSubscriptionsPerClient"] == 7
    auth = body["auth"]
    assert isinstance(auth, dict)
    assert auth["mode"] == "secret" and auth["jwtSecret"] == "set"
    assert auth["jwksUrl"] == "unset"


def test_no_secret_appears_anywhere() -> None:
    cfg = settings(REDIS_URL=f"redis://:{REDIS_PASSWORD}@r:6379/0?password={QUERY_PASSWORD}",
                   JWT_JWKS_URL=f"https://keys.example/jwks?token={QUERY_PASSWORD}-jwks",
                   JWT_ALGORITHMS="RS256", JWT_SECRET="")
    text = json.dumps(status(cfg))
    for secret in (REDIS_PASSWORD, QUERY_PASSWORD, f"{QUERY_PASSWORD}-jwks"):
        assert secret not in text
    text = json.dumps(status(settings()))
    assert JWT_SECRET not in text and REDIS_PASSWORD not in text


def test_secrets_of_lists_every_secret() -> None:
    cfg = settings(REDIS_URL=f"redis://u:{REDIS_PASSWORD}@h/0?password={QUERY_PASSWORD}")
    assert set(secrets_of(cfg)) == {JWT_SECRET, REDIS_PASSWORD, QUERY_PASSWORD}


def test_auth_modes() -> None:
    assert auth_mode(settings()) == "secret"
    assert auth_mode(settings(SKIP_AUTH="true", NODE_ENV="development")) == "off"
    assert auth_mode(settings(JWT_PUBLIC_KEY_FILE="/k.pem", JWT_ALGORITHMS="RS256")) == (
        "public_key")


def test_status_carries_the_original_servers_blocks() -> None:
    body = gateway_status(settings(CAMPAIGN_CONTRACT="SP000000000000000000002Q6VF78.campaigns"),
                          version="1.2.3", pid=42, started=1000.0, now=1060.5, redis_up=True,
                          pubsub_connected=True, connections=3, subscriptions=5, channels=2,
                          memory={"rss": 50 << 20, "heap_total": 40 << 20,
                                  "heap_used": 30 << 20}, multiprocess=False, feed_live=True,
                          feed_source="wss://api.hiro.so/extended/v1/ws")
    assert body["timestamp"] == "1970-01-01T00:17:40.500Z"
    assert body["uptime"] == {"seconds": 60.5, "formatted": "0h 1m 0s"}
    assert body["services"] == {
        "redis": {"connected": True, "url": "redis://***:***@redis.internal:6380/2"},
        "stacksWebSocket": {"connected": True, "url": "wss://api.hiro.so/extended/v1/ws"},
        "websocket": {"connectedClients": 3, "activeSubscriptions": 5}}
    assert body["contracts"] == {"campaigns": "SP000000000000000000002Q6VF78.campaigns",
                                 "auctions": None, "bridge": None, "payments": None,
                                 "governance": None}
    system = body["system"]
    assert system["memory"] == {"rss": "50MB", "heapTotal": "40MB", "heapUsed": "30MB"}
    assert isinstance(system["nodeVersion"], str) and isinstance(system["platform"], str)


def health(cfg: GatewaySettings, *, redis_up: bool = True, draining: bool = False,
           feed: ChainFeed | None = None) -> tuple[int, dict[str, Any]]:
    return gateway_health(cfg, version="1.2.3", pid=42, started=1000.0, now=1060.5,
                          redis_up=redis_up, draining=draining, feed=feed,
                          clients={"ws": 2, "sio": 1, "sse": 0}, subscriptions=4, channels=3,
                          memory={"rss": 5, "heap_total": 4, "heap_used": 3})


LIVE = ChainFeed(leader="ing-1", heard_at=1_060_000, heard_by="ing-1")


def test_health_is_the_original_document_with_its_types() -> None:
    code, body = health(settings(), feed=LIVE)
    assert code == 200 and body["status"] == "ok"
    assert body["timestamp"] == "1970-01-01T00:17:40.500Z" and body["uptime"] == 60.5
    assert body["services"] == {"redis": True, "stacksWebSocket": True, "websocket": 3}
    metrics = body["metrics"]
    assert metrics["connectedClients"] == 3 and metrics["activeSubscriptions"] == 4
    assert metrics["memoryUsage"] == {"rss": 5, "heapTotal": 4, "heapUsed": 3, "external": 0,
                                      "arrayBuffers": 0}
    assert body["connections"] == {"ws": 2, "sio": 1, "sse": 0}


def test_the_chain_feed_is_live_only_with_a_leader_that_heard_recently() -> None:
    cfg = settings(CHAIN_FEED_STALE_AFTER="30")
    stale = ChainFeed(leader="ing-1", heard_at=1_060_500 - 31_000, heard_by="ing-1")
    other = ChainFeed(leader="ing-2", heard_at=1_060_000, heard_by="ing-1")
    nobody = ChainFeed(leader=None, heard_at=1_060_000, heard_by="ing-1")
    assert health(cfg, feed=LIVE)[1]["services"]["stacksWebSocket"] is True
    for feed in (stale, other, nobody, None):
        code, body = health(cfg, feed=feed)
        assert body["services"]["stacksWebSocket"] is False
        assert code == 200 and body["status"] == "ok", "not required by default"
        assert body["problems"] == ["chain_feed"]
    code, body = health(settings(HEALTH_REQUIRES_CHAIN_FEED="true", CHAIN_FEED_STALE_AFTER="30"),
                        feed=stale)
    assert code == 503 and body["status"] == "degraded"


def test_health_is_503_without_redis_or_while_draining() -> None:
    code, body = health(settings(), redis_up=False, feed=None)
    assert code == 503 and body["status"] == "degraded" and body["services"]["redis"] is False
    code, body = health(settings(), draining=True, feed=LIVE)
    assert code == 503 and body["status"] == "draining"
