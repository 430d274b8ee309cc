"""The gateway seams: what a gateway needs from its pub/sub connection(s) and its store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from adstack_bus.feed import ChainFeed
    from adstack_bus.store import HistoryPage, Position


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


class HistoryStore(Protocol):
    """The reads a gateway makes: implemented by :class:`~adstack_bus.Store` (Redis) and
    :class:`~adstack_bus.memory.MemoryStore` (in-process). Every method raises
    :class:`~adstack_bus.BusUnavailable` when the backend fails.
    """

    async def recent(self, contract_id: str, limit: int) -> list[bytes]: ...

    async def since(self, contract_id: str, offset: int) -> HistoryPage: ...

    async def first_offset(self, contract_id: str) -> int | None: ...

    async def position(self, contract_id: str) -> Position | None: ...

    async def stats(self, contract_id: str) -> dict[str, Any]: ...

    async def chain_feed(self) -> ChainFeed: ...

    async def ping(self) -> bool: ...
