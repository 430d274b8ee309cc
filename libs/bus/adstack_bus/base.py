"""The subscriber seam: what a gateway needs from its pub/sub connection(s)."""

from __future__ import annotations

from typing import Protocol


class Readiness(Protocol):
    def is_set(self) -> bool: ...

    async def wait(self) -> bool | None: ...


class ChannelSubscriber(Protocol):
    """Implemented by :class:`~adstack_bus.Subscriber` (one connection) and
    :class:`~adstack_bus.ClusterSubscriber` (one per Redis Cluster master).

    Guarantees: per-channel order; at-most-once per connection lifetime (Redis pub/sub
    never replays: the caller re-reads history after a reconnect).
    """

    @property
    def connected(self) -> Readiness: ...

    @property
    def reconnects(self) -> int: ...

    @property
    def channels(self) -> frozenset[str]: ...

    async def subscribe(self, channel: str, *, timeout: float = 5.0) -> bool: ...

    async def unsubscribe(self, channel: str) -> None: ...

    async def run(self) -> None: ...

    async def close(self) -> None: ...
