"""Redis client construction: the URL's scheme chooses the backend.

``redis://`` and ``rediss://`` (TLS) name one server, ``unix://`` a local socket;
``redis+cluster://`` and ``rediss+cluster://`` name any node of a Redis Cluster.
"""

from __future__ import annotations

import dataclasses
from typing import cast
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from adstack_config import redact_url

STANDALONE_SCHEMES = ("redis", "rediss", "unix")
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
"""Cluster scheme → the scheme redis-py is given for the node it starts from."""


@dataclasses.dataclass(frozen=True)
class RedisTarget:
    """A parsed Redis URL: what redis-py connects to, and whether it is a cluster."""

    url: str
    cluster: bool


def parse_redis_url(url: str, *, cluster: bool = False) -> RedisTarget:
    """The backend ``url`` names (``cluster``: the older ``REDIS_CLUSTER=true`` spelling).

    Raises:
        ValueError: not a Redis URL (the message says what is accepted).
    """
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ValueError(f"not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    accepted = ", ".join(f"{s}://" for s in (*STANDALONE_SCHEMES, *CLUSTER_SCHEMES))
    if scheme not in STANDALONE_SCHEMES and scheme not in CLUSTER_SCHEMES:
        raise ValueError(f"not a Redis URL: use {accepted}")
    if scheme == "unix":
        if not parts.path:
            raise ValueError("a unix:// URL needs a socket path (unix:///run/redis.sock)")
        if cluster:
            raise ValueError("a Redis Cluster is not reached over unix://")
        return RedisTarget(url, cluster=False)
    if not parts.hostname:
        raise ValueError(f"no host in the URL (e.g. {scheme}://localhost:6379/0)")
    if scheme in CLUSTER_SCHEMES:
        plain = urlunsplit((CLUSTER_SCHEMES[scheme], *parts[1:]))
        return RedisTarget(plain, cluster=True)
    return RedisTarget(url, cluster=cluster)


def canonical_redis_url(url: str, *, cluster: bool = False) -> str:
    """``url`` checked, with ``cluster`` (the older ``REDIS_CLUSTER=true``) moved into its
    scheme (``redis://`` → ``redis+cluster://``).

    Raises:
        ValueError: not a Redis URL (see :func:`parse_redis_url`).
    """
    url = url.strip()
    target = parse_redis_url(url, cluster=cluster)
    scheme = url.split("://", 1)[0].lower()
    if target.cluster and scheme not in CLUSTER_SCHEMES:
        return f"{scheme}+cluster://{url.split('://', 1)[1]}"
    return url


def node_url(url: str, host: str, port: int | str) -> str:
    """``url`` (scheme, credentials) pointed at one node ``host:port`` of its cluster."""
    parts = urlsplit(url)
    scheme = CLUSTER_SCHEMES.get(parts.scheme, parts.scheme)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urlunsplit((scheme, netloc, "/0", "", ""))


def create_redis(url: str, *, health_check_interval: float = 5.0,
                 socket_timeout: float | None = 5.0,
                 retries: bool = True) -> aioredis.Redis:
    """A ``redis.asyncio`` client for ``url`` (any scheme of :func:`parse_redis_url`).

    Responses are bytes (``decode_responses=False``): frames are relayed as they are. For a
    ``redis+cluster://`` URL the client routes each command by slot (typed as ``Redis``: the
    command API we use is the same); the pub/sub side of a cluster is
    :class:`~adstack_bus.ClusterSubscriber` (see :func:`adstack_bus.connect`).

    ``retries=False`` is for pub/sub: a retrying connection would reconnect and resubscribe
    silently, and the caller would never learn that messages were missed meanwhile.
    """
    return redis_client(parse_redis_url(url), health_check_interval=health_check_interval,
                        socket_timeout=socket_timeout, retries=retries)


def redis_client(target: RedisTarget, *, health_check_interval: float = 5.0,
                 socket_timeout: float | None = 5.0, retries: bool = True) -> aioredis.Redis:
    """A client for a parsed URL (see :func:`create_redis`)."""
    if target.cluster:
        return cast(aioredis.Redis, aioredis.RedisCluster.from_url(
            target.url, decode_responses=False, socket_timeout=socket_timeout,
            socket_connect_timeout=3.0))
    return aioredis.Redis.from_url(
        target.url,
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
