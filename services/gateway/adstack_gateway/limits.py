"""Pure limit bookkeeping: command rate, connections per IP, token expiry, drain pacing.

Nothing here reads a clock or awaits: callers pass ``now`` (monotonic seconds), so the
decisions are plain functions of their inputs. The async shells own the timers.
"""

from __future__ import annotations

from collections import Counter
from enum import Enum


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; starts full."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        elapsed = max(0.0, now - self.stamp)
        self.stamp = now
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Verdict(Enum):
    ALLOW = "allow"
    REJECT = "reject"
    """Answer RATE_LIMITED and drop the command."""
    CLOSE = "close"
    """The client kept going while limited: close the connection (4003)."""


class CommandLimiter:
    """Per-connection command rate limit.

    A command is allowed while the token bucket has a token. Refused commands are counted;
    an allowed one resets the count, and ``close_after`` refusals in a row close the
    connection. A ``rate`` of 0 disables the limit.
    """

    __slots__ = ("bucket", "close_after", "refused")

    def __init__(self, rate: float, burst: int, close_after: int, now: float) -> None:
        self.bucket = TokenBucket(rate, burst, now) if rate > 0 else None
        self.close_after = close_after
        self.refused = 0

    def check(self, now: float) -> Verdict:
        if self.bucket is None or self.bucket.take(now):
            self.refused = 0
            return Verdict.ALLOW
        self.refused += 1
        return Verdict.CLOSE if self.refused >= self.close_after else Verdict.REJECT


class ConnectionCounter:
    """Open connections per client IP, across both transports. ``limit`` None = unlimited."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def try_add(self, ip: str) -> bool:
        """Count a new connection from ``ip``; False (and nothing counted) if at the limit."""
        if self.limit is not None and self._open[ip] >= self.limit:
            return False
        self._open[ip] += 1
        return True

    def remove(self, ip: str) -> None:
        self._open[ip] -= 1
        if self._open[ip] <= 0:
            del self._open[ip]

    def count(self, ip: str) -> int:
        return self._open[ip]


def expiry_delay(expires_at: float | None, leeway: float, now: float) -> float | None:
    """Seconds from ``now`` (UNIX time) until a session with this token must end.

    None for a token without ``exp``. The same leeway as at verification applies, so a
    token accepted at the handshake is never cut off earlier than it was valid.
    """
    if expires_at is None:
        return None
    return max(0.0, expires_at + leeway - now)


def drain_offsets(count: int, window: float) -> list[float]:
    """When to close each of ``count`` sessions, in seconds after the drain starts.

    The closes are spread evenly over the first 80% of ``window`` (the rest leaves time
    for the close handshakes), so reconnecting clients do not all land at once.
    """
    if count <= 0:
        return []
    span = max(0.0, window) * 0.8
    return [span * i / count for i in range(count)]


class PendingHandshakes:
    """Engine.IO connections that have not joined the Socket.IO namespace yet, per client IP
    and in total (``per_ip`` / ``total`` None = unlimited).

    An Engine.IO handshake costs the server a session object, a queue and a timer before
    any token is checked; these caps bound what one IP, and everyone together, can hold
    that way. A connection leaves when it joins the namespace or is closed.
    """

    def __init__(self, per_ip: int | None, total: int | None) -> None:
        self.per_ip = per_ip
        self.total = total
        self._open: Counter[str] = Counter()
        self._count = 0

    def has_room(self, ip: str) -> bool:
        """True if one more pending handshake from ``ip`` fits under both caps."""
        if self.total is not None and self._count >= self.total:
            return False
        return self.per_ip is None or self._open[ip] < self.per_ip

    def try_add(self, ip: str) -> bool:
        """Count one more pending handshake from ``ip``; False (nothing counted) if full."""
        if not self.has_room(ip):
            return False
        self._open[ip] += 1
        self._count += 1
        return True

    def remove(self, ip: str) -> None:
        if self._open[ip] <= 0:
            return
        self._open[ip] -= 1
        self._count -= 1
        if self._open[ip] <= 0:
            del self._open[ip]

    def count(self, ip: str | None = None) -> int:
        return self._count if ip is None else self._open[ip]
