"""Redis client construction."""

from __future__ import annotations

from typing import cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from adstack_config import redact_url


def create_redis(url: str, *, health_check_interval: float = 5.0,
                 socket_timeout: float | None = 5.0, cluster: bool = False,
                 retries: bool = True) -> aioredis.Redis:
    """A ``redis.asyncio`` client for ``url`` (``redis://``, ``rediss://``, ``unix://``).

    Responses are bytes (``decode_responses=False``): frames are relayed as they are. With
    ``cluster``, ``url`` names any node of a Redis Cluster and the client routes each command
    by slot (typed as ``Redis``: the command API we use is the same).

    ``retries=False`` is for pub/sub: a retrying connection would reconnect and resubscribe
    silently, and the caller would never learn that messages were missed meanwhile.
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
        # A pooled connection that Redis dropped (restart, CLIENT KILL) fails its next
        # command: retry on a fresh connection. Re-running our scripts is safe — they are
        # idempotent (dedup markers, fencing).
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3 if retries else 0),
        retry_on_error=[RedisConnectionError, RedisTimeoutError] if retries else [],
    )


def redacted_url(url: str) -> str:
    """``url`` with every credential masked (for logs and /status): see
    :func:`adstack_config.redact_url`."""
    return redact_url(url)
