"""One ``connect()`` for every Redis backend: the URL's scheme says which.

The services ask a :class:`Bus` for their publisher, chain store, store and subscriber;
whether that means ``PUBLISH``/``SUBSCRIBE`` on one server or ``SPUBLISH``/``SSUBSCRIBE``
over every master of a Redis Cluster is decided here, once, from the URL
(``redis+cluster://`` / ``rediss+cluster://``; see :func:`parse_redis_url`).
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from adstack_bus.base import ChannelSubscriber
from adstack_bus.chainstore import ChainStore
from adstack_bus.cluster import ClusterSubscriber
from adstack_bus.connection import parse_redis_url, redis_client
from adstack_bus.publisher import Publisher
from adstack_bus.store import Store
from adstack_bus.subscriber import DisconnectHandler, MessageHandler, ReconnectHandler, Subscriber


class Bus:
    """The Redis backend named by a URL: its command client and what is built on it."""

    def __init__(self, url: str, *, cluster: bool = False) -> None:
        self.target = parse_redis_url(url, cluster=cluster)
        self.cluster = self.target.cluster
        self.redis: aioredis.Redis = redis_client(self.target)
        """The command client (retries on a dropped connection; slot-routed on a cluster)."""
        self._bus_clients: list[aioredis.Redis] = []

    def publisher(self, **options: Any) -> Publisher:
        return Publisher(self.redis, cluster=self.cluster, **options)

    def chain_store(self, **options: Any) -> ChainStore:
        return ChainStore(self.redis, sharded=self.cluster, **options)

    def store(self) -> Store:
        return Store(self.redis)

    def subscriber(self, on_message: MessageHandler, *,
                   on_reconnect: ReconnectHandler | None = None,
                   on_disconnect: DisconnectHandler | None = None) -> ChannelSubscriber:
        """Pub/sub for a gateway: one connection, or one per cluster master."""
        if self.cluster:
            return ClusterSubscriber(self.redis, on_message, on_reconnect=on_reconnect,
                                     on_disconnect=on_disconnect, url=self.target.url)
        # Its own client without retries: a lost pub/sub connection must surface, so the
        # caller re-reads what was missed (a silently retried one would hide the gap).
        client = redis_client(self.target, retries=False)
        self._bus_clients.append(client)
        return Subscriber(client, on_message, on_reconnect=on_reconnect,
                          on_disconnect=on_disconnect)

    async def aclose(self) -> None:
        for client in self._bus_clients:
            await client.aclose()
        await self.redis.aclose()


def connect(url: str, *, cluster: bool = False) -> Bus:
    """The backend ``url`` names (``cluster=True``: the older ``REDIS_CLUSTER=true``).

    Connections open lazily, on first use.

    Raises:
        ValueError: ``url`` is not a Redis URL.
    """
    return Bus(url, cluster=cluster)
