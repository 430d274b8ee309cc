"""Whether the chain feed is live: the leader ingester heard from its source recently.

The leader ingester records when it last heard from its chain source (a node's POST, a
Chainhook delivery, the Hiro WebSocket being connected) with :func:`record_source_heard`;
every ``/health`` reads it back with :func:`read_chain_feed` and calls the feed live when
the lease holder is the one that heard, within the stale-after window.
"""

from __future__ import annotations

from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from adstack_bus import keys
from adstack_bus.errors import BusUnavailable

SEEN_TTL_SECONDS = 7 * 86400


class ChainFeed(msgspec.Struct, frozen=True):
    leader: str | None
    """Holder of the ingester lease now, if any."""
    heard_at: int | None
    """When an ingester last heard from its source (ms since the epoch)."""
    heard_by: str | None
    """Which ingester it was."""
    source: str | None = None
    """What it heard from: ``observer``, ``chainhook`` or the Hiro WebSocket URL."""

    def live(self, now_ms: int, stale_after_ms: int) -> bool:
        """A leader holds the lease and it heard from its source within the window."""
        return (self.leader is not None and self.heard_by == self.leader
                and self.heard_at is not None and now_ms - self.heard_at <= stale_after_ms)


async def record_source_heard(redis: aioredis.Redis, holder: str, at_ms: int,
                              source: str) -> None:
    """The ingester ``holder`` heard from its chain source at ``at_ms``.

    Raises:
        BusUnavailable: Redis failed.
    """
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hset(keys.CHAIN_SEEN, mapping={"at": at_ms, "holder": holder,
                                                     "source": source})
            pipe.expire(keys.CHAIN_SEEN, SEEN_TTL_SECONDS)
            await pipe.execute()
    except (RedisError, OSError) as exc:
        raise BusUnavailable(f"source heartbeat: {type(exc).__name__}") from exc


async def read_chain_feed(redis: aioredis.Redis) -> ChainFeed:
    """The lease holder and the last source heartbeat.

    Raises:
        BusUnavailable: Redis failed.
    """
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.LEADER)
            pipe.hmget(keys.CHAIN_SEEN, "at", "holder", "source")
            leader, seen = await pipe.execute()
    except (RedisError, OSError) as exc:
        raise BusUnavailable(f"chain feed read: {type(exc).__name__}") from exc
    at, holder, source = seen
    return ChainFeed(leader=_text(leader), heard_at=int(at) if at is not None else None,
                     heard_by=_text(holder), source=_text(source))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
