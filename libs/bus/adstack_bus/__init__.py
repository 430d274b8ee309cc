"""The Redis seam shared by the ingester (writer) and the gateways (readers).

- :func:`connect`: the backend a URL names (one server, or a Redis Cluster by its
  ``redis+cluster://`` scheme) and everything built on it (:class:`Bus`).
- :class:`Publisher`: the ingester's atomic publish (dedup, offsets, history, stats, pub/sub).
- :class:`Subscriber`: a gateway's one pub/sub connection, with dynamic channels and reconnect;
  :class:`ClusterSubscriber`: the same over every master of a Redis Cluster (shard channels).
- :class:`Store`: reads of history, positions and stats (:class:`HistoryStore`: what a
  gateway reads, also implemented in memory).
- :mod:`adstack_bus.memory`: the same bus and store in-process, for tests without Redis.
- :class:`Lease`: the ingester leader lease with a fencing token.
- :class:`ChainStore`: the ingester's recent chain view (for reorgs after a failover).
- :mod:`adstack_bus.feed`: whether the chain feed is live (the leader's source heartbeat).
- :mod:`adstack_bus.keys`: every key and channel name.
"""

from adstack_bus.backend import Bus, connect
from adstack_bus.base import ChannelSubscriber, HistoryStore
from adstack_bus.chainstore import ChainSnapshot, ChainStore
from adstack_bus.cluster import ClusterSubscriber
from adstack_bus.connection import (
    RedisTarget,
    canonical_redis_url,
    create_redis,
    parse_redis_url,
    redacted_url,
)
from adstack_bus.errors import BusError, BusUnavailable, NotLeader
from adstack_bus.feed import ChainFeed, read_chain_feed, record_source_heard
from adstack_bus.lease import Lease
from adstack_bus.publisher import Publisher, PublishResult
from adstack_bus.store import HistoryPage, Position, Store
from adstack_bus.subscriber import Subscriber
from adstack_stacks.tip import Tip

__all__ = [
    "Bus",
    "BusError",
    "BusUnavailable",
    "ChainFeed",
    "ChainSnapshot",
    "ChainStore",
    "ChannelSubscriber",
    "ClusterSubscriber",
    "HistoryPage",
    "HistoryStore",
    "Lease",
    "NotLeader",
    "Position",
    "PublishResult",
    "Publisher",
    "RedisTarget",
    "Store",
    "Subscriber",
    "Tip",
    "canonical_redis_url",
    "connect",
    "create_redis",
    "parse_redis_url",
    "read_chain_feed",
    "record_source_heard",
    "redacted_url",
]
