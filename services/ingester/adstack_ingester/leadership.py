"""One leader among the ingester replicas: acquire, renew, step down.

A standby polls the lease every ``poll_every`` seconds; the leader renews it every
``renew_every`` seconds (well under the TTL). If the leader dies, its lease expires after
``ttl`` and a standby takes over within ``ttl + poll_every``. A leader that cannot renew
(Redis unreachable, or the lease was taken) steps down before its lease could have expired;
the fencing token makes any write it still attempts fail in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from adstack_bus import BusUnavailable, Lease

log = logging.getLogger(__name__)

Hook = Callable[[int], Awaitable[None]]


class Leadership:
    def __init__(self, lease: Lease, *, on_elected: Hook, on_lost: Hook,
                 renew_every: float = 1.0, poll_every: float = 0.5) -> None:
        self.lease = lease
        self.on_elected = on_elected
        self.on_lost = on_lost
        self.renew_every = renew_every
        self.poll_every = poll_every
        self.token: int | None = None
        self._valid_until = 0.0
        self.elections = 0
        self._stopped = False

    @property
    def is_leader(self) -> bool:
        return self.token is not None and time.monotonic() < self._valid_until

    async def run(self) -> None:
        while not self._stopped:
            await self.step()
            await asyncio.sleep(self.renew_every if self.token is not None else self.poll_every)

    async def step(self) -> None:
        """One acquire-or-renew round."""
        started = time.monotonic()
        ttl = self.lease.ttl_ms / 1000
        try:
            if self.token is None:
                token = await self.lease.acquire()
                if token is not None:
                    self.token = token
                    # Counted from before the request: the lease may be older than our view.
                    self._valid_until = started + ttl * 0.9
                    self.elections += 1
                    log.info("elected leader (fencing token %d)", token)
                    await self.on_elected(token)
            elif await self.lease.renew(self.token):
                self._valid_until = started + ttl * 0.9
            else:
                await self.step_down("lease lost to another replica")
        except BusUnavailable as exc:
            if self.token is not None and time.monotonic() >= self._valid_until - self.renew_every:
                await self.step_down(f"cannot renew the lease ({exc})")

    async def step_down(self, why: str, *, level: int = logging.WARNING) -> None:
        token = self.token
        if token is None:
            return
        self.token = None
        self._valid_until = 0.0
        log.log(level, "stepping down as leader: %s", why)
        await self.on_lost(token)

    async def stop(self) -> None:
        """Stop and release the lease (a clean shutdown hands over at once)."""
        self._stopped = True
        if self.token is not None:
            with contextlib.suppress(BusUnavailable):
                await self.lease.release()
            # A planned stop (Ctrl-C, SIGTERM) is no warning.
            await self.step_down("shutting down", level=logging.INFO)
