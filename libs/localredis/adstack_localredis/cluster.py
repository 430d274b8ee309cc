"""A local Redis Cluster of real valkey-server processes (for tests and development)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from types import TracebackType

import redis

from adstack_localredis.server import LocalRedis, free_port

SLOTS = 16384


class LocalCluster:
    """``masters`` cluster-enabled servers on loopback, slots split evenly, no replicas."""

    def __init__(self, masters: int = 3) -> None:
        self.masters = masters
        self.data_dir = tempfile.mkdtemp(prefix="adstack-cluster-")
        self.nodes: list[LocalRedis] = []
        self.bus_ports: list[int] = []

    @property
    def url(self) -> str:
        """A startup node URL; cluster clients discover the rest."""
        return self.nodes[0].url

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    def start(self, timeout: float = 20.0) -> LocalCluster:
        for i in range(self.masters):
            port = free_port()
            bus_port = free_port()
            self.bus_ports.append(bus_port)
            node_dir = f"{self.data_dir}/{i}"
            os.makedirs(node_dir, exist_ok=True)
            node = LocalRedis(port, data_dir=node_dir, extra_args=[
                "--cluster-enabled", "yes",
                "--cluster-config-file", f"nodes-{port}.conf",
                "--cluster-node-timeout", "2000",
                # The default bus port is port + 10000, impossible for high free ports.
                "--cluster-port", str(bus_port),
            ])
            node.start()
            self.nodes.append(node)
        per = SLOTS // self.masters
        clients = [redis.Redis(host="127.0.0.1", port=n.port) for n in self.nodes]
        try:
            for i, client in enumerate(clients):
                first = i * per
                last = SLOTS - 1 if i == self.masters - 1 else (i + 1) * per - 1
                client.execute_command(  # type: ignore[no-untyped-call]
                    "CLUSTER", "ADDSLOTSRANGE", first, last)
            for node, bus_port in zip(self.nodes[1:], self.bus_ports[1:], strict=True):
                clients[0].execute_command(  # type: ignore[no-untyped-call]
                    "CLUSTER", "MEET", "127.0.0.1", node.port, bus_port)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                infos = [c.execute_command("CLUSTER", "INFO")  # type: ignore[no-untyped-call]
                         for c in clients]
                texts = [i.decode() if isinstance(i, bytes) else str(i) for i in infos]
                if all("cluster_state:ok" in t and f"cluster_known_nodes:{self.masters}" in t
                       for t in texts):
                    return self
                time.sleep(0.1)
            raise TimeoutError("cluster did not reach cluster_state:ok")
        finally:
            for client in clients:
                client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
