"""The ingester leader lease: one holder at a time, with a fencing token.

A replica becomes leader by creating :data:`keys.LEADER` (SET NX PX) and, in the same
script, incrementing :data:`keys.FENCE`; the new value is its fencing token. It keeps the
lease by renewing it well within its TTL. Every write it makes carries the token, and the
Redis scripts refuse writes whose token is not the current one, so a leader that was paused
past its lease (GC, SIGSTOP, a slow disk) cannot publish after another replica took over.
"""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from adstack_bus import keys
from adstack_bus.errors import BusUnavailable

# The token is at least the caller's clock in milliseconds, so it keeps increasing even if
# Redis lost its data (a restart without persistence would otherwise restart INCR at 1).
_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local token = redis.call('INCR', KEYS[2])
  if token < tonumber(ARGV[3]) then
    redis.call('SET', KEYS[2], ARGV[3])
    token = tonumber(ARGV[3])
  end
  return token
end
return 0
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease:
    """One replica's handle on the leader lease.

    Args:
        holder: this replica's unique id (stored as the lease value).
        ttl_ms: how long the lease lives without renewal.
    """

    def __init__(self, redis: aioredis.Redis, holder: str, *, ttl_ms: int = 3000) -> None:
        self._redis = redis
        self.holder = holder
        self.ttl_ms = ttl_ms
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def _call(self, script: Any, args: list[Any]) -> int:
        try:
            return int(await script(keys=[keys.LEADER, keys.FENCE], args=args))
        except (RedisError, OSError) as exc:
            raise BusUnavailable(f"lease: {type(exc).__name__}") from exc

    async def acquire(self) -> int | None:
        """Take the lease if nobody holds it; returns the new fencing token, else None."""
        token = await self._call(self._acquire,
                                 [self.holder, self.ttl_ms, int(time.time() * 1000)])
        return token or None

    async def renew(self, token: int) -> bool:
        """Extend the lease; False if this replica no longer holds it with ``token``."""
        return bool(await self._call(self._renew, [self.holder, self.ttl_ms, token]))

    async def release(self) -> bool:
        """Give the lease up now (clean shutdown) so a standby takes over at once."""
        return bool(await self._call(self._release, [self.holder]))

    async def holder_id(self) -> str | None:
        """Who holds the lease now (for /health), or None."""
        try:
            value: Any = await self._redis.get(keys.LEADER)
        except (RedisError, OSError) as exc:
            raise BusUnavailable(f"lease: {type(exc).__name__}") from exc
        return value.decode() if value is not None else None
