"""The ingester's ``/status`` document (pure: the caller passes every observation).

What an operator needs at 3 a.m.: version, environment, uptime, each dependency's state,
the configured contracts and limits, memory. Secrets are never shown: the Redis password is
masked in the URL and the observer token is only ``set`` / ``unset``; :func:`secrets_of`
lists every secret value so the document can be scrubbed of them as a last defence.
"""

from __future__ import annotations

import platform
import sys
from typing import TYPE_CHECKING, Any

from adstack_config import presence, redact_url, scrub, url_secrets
from adstack_metrics.original import formatted_uptime, iso_timestamp, memory_megabytes

if TYPE_CHECKING:  # the settings module reaches Redis helpers; this one only reads fields
    from adstack_ingester.settings import IngesterSettings


def secrets_of(settings: IngesterSettings) -> list[str]:
    """Every secret value in the settings (observer token, Redis password)."""
    found = [settings.observer_token or ""]
    found.extend(url_secrets(settings.redis_url))
    return [s for s in found if s]


def ingester_status(settings: IngesterSettings, *, version: str, pid: int, started: float,
                    now: float, redis_up: bool, leader: bool | None,
                    last_block: dict[str, Any] | None, memory: dict[str, int],
                    multiprocess: bool, feed_live: bool = False) -> dict[str, Any]:
    """The ``/status`` body: the original server's keys (``timestamp`` ISO, ``uptime``
    {seconds, formatted}, ``services``, ``contracts`` names, ``system``) and our detail.
    ``leader`` is None when no election is configured."""
    body: dict[str, Any] = {
        "service": "ingester",
        "version": version,
        "environment": settings.environment,
        "timestamp": iso_timestamp(now),
        "uptime": {"seconds": round(now - started, 3),
                   "formatted": formatted_uptime(now - started)},
        "services": {
            "redis": {"connected": redis_up, "url": redact_url(settings.redis_url)},
            "stacksWebSocket": {"connected": feed_live,
                                "url": settings.stacks_ws_url if "hiro" in settings.sources
                                else None},
            "websocket": {"connectedClients": 0, "activeSubscriptions": 0},
        },
        "system": {"nodeVersion": f"python-{platform.python_version()}",
                   "platform": sys.platform, "memory": memory_megabytes(memory)},
        "pid": pid,
        "python": platform.python_version(),
        "timestampMs": int(now * 1000),
        "startedAt": int(started * 1000),
        "uptimeSeconds": round(now - started, 3),
        "leader": leader,
        "dependencies": {
            "redis": {"url": redact_url(settings.redis_url),
                      "state": "up" if redis_up else "down"},
            "stacks": {"source": "observer", "lastBlock": last_block},
        },
        "contracts": {
            **settings.original_contracts,
            "all": settings.all_contracts,
            "configured": [c for c in settings.contracts if c != "*"],
        },
        "limits": {
            "eventHistoryLimit": settings.history_limit,
            "redisTtlSeconds": settings.history_ttl,
            "dedupTtlSeconds": settings.dedup_ttl,
            "observerMaxBodyBytes": settings.max_body_bytes,
            "bodyTimeoutSeconds": settings.body_timeout,
        },
        "auth": {"observerToken": presence(settings.observer_token),
                 "observerTokenRequired": settings.observer_token_required},
        "logging": {"level": settings.log_level.upper(), "json": settings.log_json},
        "metrics": {"multiprocess": multiprocess},
        "memory": memory,
    }
    scrubbed: dict[str, Any] = scrub(body, secrets_of(settings))
    return scrubbed
