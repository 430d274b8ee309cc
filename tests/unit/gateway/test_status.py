"""The gateway's /status document: what operators need, never a secret."""

from __future__ import annotations

import json

from adstack_gateway.settings import GatewaySettings
from adstack_gateway.status import auth_mode, gateway_status, secrets_of

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
    assert body["version"] == "1.2.3" and body["uptime"] == 60.5
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
