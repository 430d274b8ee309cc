"""Redis Cluster pub/sub: one sharded :class:`Subscriber` per master node.

Shard channels (SSUBSCRIBE) live on the node that owns their slot, so a gateway keeps one
pub/sub connection per master and subscribes each channel on its owner. redis-py's own
cluster pub/sub polls the nodes in turn; this keeps a blocking reader per node instead, so
a message on one shard never waits for another shard's poll.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

import redis.asyncio as aioredis

from adstack_bus.connection import create_redis, node_url
from adstack_bus.subscriber import (
    CONTROL_CHANNEL,
    DisconnectHandler,
    MessageHandler,
    ReconnectHandler,
    Subscriber,
)

log = logging.getLogger(__name__)


class AllConnected:
    """``connected`` of a cluster subscriber: set when every node's subscriber is."""

    def __init__(self, parts: list[Subscriber], ready: asyncio.Event) -> None:
        self.parts = parts
        self.ready = ready
        """Set once the masters are known and ``parts`` is filled."""

    def is_set(self) -> bool:
        return self.ready.is_set() and all(p.connected.is_set() for p in self.parts)

    async def wait(self) -> bool:
        await self.ready.wait()
        for part in self.parts:
            await part.connected.wait()
        return True


class ClusterSubscriber:
    """The :class:`Subscriber` interface over every master of a Redis Cluster."""

    def __init__(self, cluster: aioredis.Redis, on_message: MessageHandler, *,
                 on_reconnect: ReconnectHandler | None = None,
                 on_disconnect: DisconnectHandler | None = None, max_backoff: float = 5.0,
                 url: str = "redis://localhost"
                 ) -> None:
        self._cluster = cast(aioredis.RedisCluster, cluster)
        self._on_message = on_message
        self._on_reconnect = on_reconnect
        self._on_disconnect = on_disconnect
        self._max_backoff = max_backoff
        self._url = url
        """The cluster's URL: its scheme and credentials reach every node's connection."""
        self._by_node: dict[str, Subscriber] = {}
        self._clients: list[aioredis.Redis] = []
        self._parts: list[Subscriber] = []
        self._ready = asyncio.Event()
        self.connected = AllConnected(self._parts, self._ready)
        self._closed = False
        self._runs: list[asyncio.Task[None]] = []

    @property
    def reconnects(self) -> int:
        return sum(p.reconnects for p in self._parts)

    @property
    def channels(self) -> frozenset[str]:
        return frozenset().union(*(p.channels for p in self._parts))

    async def _setup(self) -> None:
        await self._cluster.initialize()
        for node in self._cluster.get_primaries():
            client = create_redis(node_url(self._url, node.host, node.port), retries=False)
            part = Subscriber(client, self._on_message, on_reconnect=self._on_reconnect,
                              on_disconnect=self._on_disconnect,
                              max_backoff=self._max_backoff, sharded=True,
                              control_channel=self._control_for(node.name))
            self._clients.append(client)
            self._parts.append(part)
            self._by_node[node.name] = part
        self._ready.set()

    def _control_for(self, node_name: str) -> str:
        """A shard channel whose slot this node owns (its connection's control channel)."""
        for i in range(100_000):
            channel = f"{CONTROL_CHANNEL}:{{{i}}}"
            owner = self._cluster.get_node_from_key(channel)
            if owner is not None and owner.name == node_name:
                return channel
        raise RuntimeError(f"no slot owned by {node_name}")

    def _owner(self, channel: str) -> Subscriber:
        node = self._cluster.get_node_from_key(channel)
        assert node is not None, "every slot of an initialised cluster has an owner"
        return self._by_node[node.name]

    async def subscribe(self, channel: str, *, timeout: float = 5.0) -> bool:
        await asyncio.wait_for(self._ready.wait(), timeout)
        return await self._owner(channel).subscribe(channel, timeout=timeout)

    async def unsubscribe(self, channel: str) -> None:
        if self._ready.is_set():
            await self._owner(channel).unsubscribe(channel)

    async def run(self) -> None:
        """Discover the masters, then run one subscriber per master until closed."""
        delay = 0.1
        while not self._ready.is_set():
            try:
                await self._setup()
            except Exception as exc:
                if self._closed:
                    return
                log.warning("cluster discovery failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(self._max_backoff, delay * 2)
        self._runs = [asyncio.create_task(part.run()) for part in self._parts]
        await asyncio.gather(*self._runs, return_exceptions=True)

    async def close(self) -> None:
        self._closed = True
        for part in self._parts:
            await part.close()
        if self._runs:
            _done, pending = await asyncio.wait(self._runs, timeout=5)
            for task in pending:
                task.cancel()
        for client in self._clients:
            await client.aclose()
