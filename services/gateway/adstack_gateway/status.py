"""The gateway's ``/status`` document (pure: the caller passes every observation).

Version, environment, uptime, each dependency's state, auth mode, limits, connections,
memory. Secrets are never shown: the Redis password is masked in the URL, the JWT secret,
key file and JWKS URL are only ``set`` / ``unset``; :func:`secrets_of` lists every secret
value so the document is scrubbed of them as a last defence.
"""

from __future__ import annotations

import platform
from typing import Any

from adstack_config import presence, redact_url, scrub, url_secrets
from adstack_gateway.settings import GatewaySettings


def secrets_of(settings: GatewaySettings) -> list[str]:
    """Every secret value in the settings (JWT secret, Redis password, JWKS URL)."""
    found = [settings.jwt.secret or "", settings.jwt.jwks_url or ""]
    found.extend(url_secrets(settings.redis_url))
    return [s for s in found if s]


def auth_mode(settings: GatewaySettings) -> str:
    """``off`` (SKIP_AUTH), ``jwks``, ``public_key`` or ``secret``."""
    if settings.skip_auth:
        return "off"
    if settings.jwt.jwks_url:
        return "jwks"
    if settings.jwt.public_key_file:
        return "public_key"
    return "secret"


def gateway_status(settings: GatewaySettings, *, version: str, pid: int, started: float,
                   now: float, redis_up: bool, pubsub_connected: bool, connections: int,
                   subscriptions: int, channels: int, memory: dict[str, int],
                   multiprocess: bool) -> dict[str, Any]:
    """The ``/status`` body."""
    jwt = settings.jwt
    body: dict[str, Any] = {
        "service": "gateway",
        "version": version,
        "environment": settings.environment,
        "pid": pid,
        "workers": settings.workers,
        "python": platform.python_version(),
        "timestamp": int(now * 1000),
        "startedAt": int(started * 1000),
        "uptime": round(now - started, 3),
        "dependencies": {
            "redis": {"url": redact_url(settings.redis_url),
                      "state": "up" if redis_up else "down",
                      "pubsub": "connected" if pubsub_connected else "disconnected"},
        },
        "connections": {"clients": connections, "subscriptions": subscriptions,
                        "redisChannels": channels},
        "auth": {
            "mode": auth_mode(settings),
            "jwtSecret": presence(jwt.secret),
            "jwtPublicKeyFile": presence(jwt.public_key_file),
            "jwksUrl": presence(jwt.jwks_url),
            "algorithms": list(jwt.algorithms),
            "issuer": jwt.issuer,
            "audience": jwt.audience,
            "leewaySeconds": jwt.leeway,
        },
        "allowedOrigins": list(settings.allowed_origins),
        "limits": {
            "maxSubscriptionsPerClient": settings.max_subscriptions,
            "eventHistoryLimit": settings.history_limit,
            "maxFrameBytes": settings.max_frame_bytes,
            "outboxMaxBytes": settings.outbox_max_bytes,
            "bodyTimeoutSeconds": settings.body_timeout,
            "wsPingIntervalSeconds": settings.ping_interval,
            "wsPingTimeoutSeconds": settings.ping_timeout,
        },
        "logging": {"level": settings.log_level.upper(), "json": settings.log_json},
        "metrics": {"multiprocess": multiprocess},
        "memory": memory,
    }
    scrubbed: dict[str, Any] = scrub(body, secrets_of(settings))
    return scrubbed
