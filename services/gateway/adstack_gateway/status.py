"""The gateway's ``/status`` document (pure: the caller passes every observation).

Version, environment, uptime, each dependency's state, auth mode, limits, connections,
memory. Secrets are never shown: the Redis password is masked in the URL, the JWT secret,
key file and JWKS URL are only ``set`` / ``unset``; :func:`secrets_of` lists every secret
value so the document is scrubbed of them as a last defence.
"""

from __future__ import annotations

import platform
import sys
from typing import Any

from adstack_bus import ChainFeed
from adstack_config import presence, redact_url, scrub, url_secrets
from adstack_gateway.settings import GatewaySettings
from adstack_metrics import formatted_uptime, iso_timestamp, memory_megabytes, memory_usage_js


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


def gateway_health(settings: GatewaySettings, *, version: str, pid: int, started: float,
                   now: float, redis_up: bool, draining: bool, feed: ChainFeed | None,
                   clients: dict[str, int], subscriptions: int, channels: int,
                   memory: dict[str, int]) -> tuple[int, dict[str, Any]]:
    """``(HTTP status, body)`` of ``/health``: the original server's document (``status``
    ``ok``, ISO ``timestamp``, ``services.redis`` / ``stacksWebSocket`` booleans,
    ``services.websocket`` = connected clients, ``metrics.memoryUsage``) plus our detail.

    503 while draining or Redis is down, and (``HEALTH_REQUIRES_CHAIN_FEED``) while the
    chain feed is not live. ``feed`` is None when it could not be read.
    """
    feed_live = feed is not None and feed.live(int(now * 1000),
                                               int(settings.chain_feed_stale_after * 1000))
    problems = [*(["draining"] if draining else []), *([] if redis_up else ["redis"]),
                *([] if feed_live else ["chain_feed"])]
    failing = draining or not redis_up or (settings.health_requires_chain_feed
                                           and not feed_live)
    status = "draining" if draining else ("degraded" if failing else "ok")
    total = sum(clients.values())
    body: dict[str, Any] = {
        "status": status,
        "timestamp": iso_timestamp(now),
        "uptime": round(now - started, 3),
        "services": {"redis": redis_up, "stacksWebSocket": feed_live, "websocket": total},
        "metrics": {"connectedClients": total, "activeSubscriptions": subscriptions,
                    "memoryUsage": memory_usage_js(memory),
                    "redisChannels": channels, "pid": pid},
        # Ours, beside the original's:
        "service": "gateway",
        "version": version,
        "timestampMs": int(now * 1000),
        "problems": problems,
        "connections": clients,
        "chainFeed": {
            "live": feed_live,
            "leader": None if feed is None else feed.leader,
            "lastHeardAt": None if feed is None else feed.heard_at,
            "staleAfterSeconds": settings.chain_feed_stale_after,
            "required": settings.health_requires_chain_feed,
        },
    }
    return (503 if failing else 200), body


def gateway_status(settings: GatewaySettings, *, version: str, pid: int, started: float,
                   now: float, redis_up: bool, pubsub_connected: bool, connections: int,
                   subscriptions: int, channels: int, memory: dict[str, int],
                   multiprocess: bool, feed_live: bool = False,
                   feed_source: str | None = None) -> dict[str, Any]:
    """The ``/status`` body: the original's keys (``timestamp`` ISO, ``uptime`` {seconds,
    formatted}, ``services``, ``contracts``, ``system``) and our detail beside them."""
    jwt = settings.jwt
    body: dict[str, Any] = {
        "service": "gateway",
        "version": version,
        "environment": settings.environment,
        "timestamp": iso_timestamp(now),
        "uptime": {"seconds": round(now - started, 3),
                   "formatted": formatted_uptime(now - started)},
        "services": {
            "redis": {"connected": redis_up, "url": redact_url(settings.redis_url)},
            "stacksWebSocket": {"connected": feed_live, "url": feed_source},
            "websocket": {"connectedClients": connections,
                          "activeSubscriptions": subscriptions},
        },
        "contracts": dict(settings.original_contracts),
        "system": {"nodeVersion": f"python-{platform.python_version()}",
                   "platform": sys.platform, "memory": memory_megabytes(memory)},
        "pid": pid,
        "workers": settings.workers,
        "python": platform.python_version(),
        "timestampMs": int(now * 1000),
        "startedAt": int(started * 1000),
        "uptimeSeconds": round(now - started, 3),
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
