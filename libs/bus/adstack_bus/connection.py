"""Redis client construction."""

from __future__ import annotations

from typing import cast
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis


def create_redis(url: str, *, health_check_interval: float = 5.0,
                 socket_timeout: float | None = 5.0, cluster: bool = False) -> aioredis.Redis:
    """A ``redis.asyncio`` client for ``url`` (``redis://``, ``rediss://``, ``unix://``).

    Responses are bytes (``decode_responses=False``): frames are relayed as they are. With
    ``cluster``, ``url`` names any node of a Redis Cluster and the client routes each command
    by slot (typed as ``Redis``: the command API we use is the same).
    """
    if cluster:
        return cast(aioredis.Redis, aioredis.RedisCluster.from_url(
            url, decode_responses=False, socket_timeout=socket_timeout,
            socket_connect_timeout=3.0))
    return aioredis.Redis.from_url(
        url,
        decode_responses=False,
        health_check_interval=health_check_interval,
        socket_timeout=socket_timeout,
        socket_connect_timeout=3.0,
        retry_on_timeout=False,
    )


def redacted_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs and /status)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, ""))
