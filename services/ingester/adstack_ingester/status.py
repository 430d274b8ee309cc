"""The ingester's ``/status`` document (pure: the caller passes every observation).

What an operator needs at 3 a.m.: version, environment, uptime, each dependency's state,
the configured contracts and limits, memory. Secrets are never shown: the Redis password is
masked in the URL and the observer token is only ``set`` / ``unset``; :func:`secrets_of`
lists every secret value so the document can be scrubbed of them as a last defence.
"""

from __future__ import annotations

import platform
from typing import Any

from adstack_config import presence, redact_url, scrub, url_secrets
from adstack_ingester.settings import IngesterSettings


def secrets_of(settings: IngesterSettings) -> list[str]:
    """Every secret value in the settings (observer token, Redis password)."""
    found = [settings.observer_token or ""]
    found.extend(url_secrets(settings.redis_url))
    return [s for s in found if s]


def ingester_status(settings: IngesterSettings, *, version: str, pid: int, started: float,
                    now: float, redis_up: bool, leader: bool | None,
                    last_block: dict[str, Any] | None, memory: dict[str, int],
                    multiprocess: bool) -> dict[str, Any]:
    """The ``/status`` body. ``leader`` is None when no election is configured."""
    body: dict[str, Any] = {
        "service": "ingester",
        "version": version,
        "environment": settings.environment,
        "pid": pid,
        "python": platform.python_version(),
        "timestamp": int(now * 1000),
        "startedAt": int(started * 1000),
        "uptime": round(now - started, 3),
        "leader": leader,
        "dependencies": {
            "redis": {"url": redact_url(settings.redis_url),
                      "state": "up" if redis_up else "down"},
            "stacks": {"source": "observer", "lastBlock": last_block},
        },
        "contracts": {
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
