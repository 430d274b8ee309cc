"""Start the real system (valkey, ingester, gateways, devnet) for benchmarks."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import httpx
import redis

from adstack_bench.fleet import cpu_seconds_of
from adstack_bus import keys
from adstack_localredis import LocalRedis, free_port

BLOCKS_PER_SECOND = 20.0
"""Devnet pace: events arrive in blocks of rate / 20 (at least one event per block)."""


class Proc:
    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log: Path, *,
                 stdin: bool = False) -> None:
        self.name = name
        fh = open(log, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                     stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     start_new_session=True)
        fh.close()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def stdin(self) -> IO[bytes]:
        assert self.proc.stdin is not None, "started with stdin=True"
        return self.proc.stdin

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self.proc.stdin is not None:
            self.proc.stdin.close()


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(url)


class System:
    """Valkey + ingester + ``gateways`` gateway processes + a devnet whose pace is set with
    :meth:`set_rate` (it starts paused and keeps one chain for the whole run)."""

    def __init__(self, log_dir: Path, gateways: int = 1, contracts: list[str] | None = None,
                 gateway_env: dict[str, str] | None = None, devnet: bool = True) -> None:
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.contracts = contracts or []
        self.redis = LocalRedis().start()
        self.env = {**os.environ, "REDIS_URL": self.redis.url, "SKIP_AUTH": "true",
                    "NODE_ENV": "development", "LOG_LEVEL": "WARNING",
                    "MAX_CONNECTIONS_PER_IP": "0", "EVENT_HISTORY_LIMIT": "100"}
        self.ingester_port = free_port()
        self.ingester = Proc("ingester", [sys.executable, "-m", "adstack_ingester"],
                             {**self.env, "INGESTER_PORT": str(self.ingester_port)},
                             log_dir / "ingester.log")
        self.gateway_ports: list[int] = []
        self.gateways: list[Proc] = []
        for i in range(gateways):
            port = free_port()
            self.gateways.append(Proc(f"gateway{i}", [sys.executable, "-m", "adstack_gateway"],
                                      {**self.env, **(gateway_env or {}), "PORT": str(port)},
                                      log_dir / f"gateway{i}.log"))
            self.gateway_ports.append(port)
        wait_http(f"{self.ingester_url}/health/live")
        # The ingester publishes only as the elected leader.
        wait_http(f"{self.ingester_url}/health")
        for port in self.gateway_ports:
            wait_http(f"http://127.0.0.1:{port}/health")
        self.devnet: Proc | None = None
        if devnet:
            self.devnet = Proc("devnet", [
                sys.executable, "-m", "adstack_devnet", "--ingester-url", self.ingester_url,
                "--control", "--rate", "0"], self.env, log_dir / "devnet.log", stdin=True)
        self._redis = redis.Redis.from_url(self.redis.url)

    @property
    def pids(self) -> list[int]:
        """Every process of the system (valkey, ingester, gateways, devnet)."""
        procs = [self.ingester, *self.gateways, *([self.devnet] if self.devnet else [])]
        redis_proc = getattr(self.redis, "proc", None)
        return [p.pid for p in procs] + ([redis_proc.pid] if redis_proc is not None else [])

    @property
    def ingester_url(self) -> str:
        return f"http://127.0.0.1:{self.ingester_port}"

    @property
    def ws_urls(self) -> list[str]:
        return [f"ws://127.0.0.1:{p}/ws" for p in self.gateway_ports]

    def set_rate(self, events_per_second: float) -> None:
        """Drive the ingester at about ``events_per_second`` print events per second
        (0 pauses)."""
        assert self.devnet is not None, "started with devnet=True"
        if events_per_second <= 0:
            line = "0 1\n"
        else:
            per_block = max(1, round(events_per_second / BLOCKS_PER_SECOND))
            line = f"{events_per_second / per_block:.4f} {per_block}\n"
        self.devnet.stdin.write(line.encode())
        self.devnet.stdin.flush()

    def published(self) -> int:
        """Events published so far on the benchmark's contracts (the ingester's counters)."""
        pipe = self._redis.pipeline()
        for contract in self.contracts:
            pipe.hget(keys.stats(contract), "total")
        return sum(int(v or 0) for v in pipe.execute())

    def stop(self) -> None:
        if self.devnet is not None:
            self.devnet.stop()
        for gw in self.gateways:
            gw.stop()
        self.ingester.stop()
        self._redis.close()
        self.redis.cleanup()


def ingest_throughput(log_dir: Path, *, blocks: int = 60, per_block: int = 200
                      ) -> tuple[int, float, float]:
    """(events published, seconds, ingester CPU seconds): the real ingester process fed
    ``blocks`` pre-generated devnet blocks over HTTP, one after another, as fast as it
    answers (what a stacks-node does).

    The blocks go out on one keep-alive connection as pre-built HTTP/1.1 requests
    (:class:`KeepAlivePoster`): with httpx the client's own work per request took about a
    third of the time, and the figure measured the client.
    """
    system = System(log_dir, gateways=0, devnet=False)
    try:
        dump = log_dir / "blocks.jsonl"
        subprocess.run([sys.executable, "-m", "adstack_devnet", "--dump", str(dump),
                        "--blocks", str(blocks), "--events-per-block", str(per_block)],
                       env=system.env, check=True)
        bodies = dump.read_bytes().splitlines()
        with KeepAlivePoster(system.ingester_url) as poster:
            # Warm up the ingester with the first block (imports, script load).
            poster.post("/new_block", bodies[0])
            requests = [poster.request("/new_block", body) for body in bodies[1:]]
            cpu0 = cpu_seconds_of(system.ingester.pid) or 0.0
            started = time.perf_counter()
            measured = 0
            for request in requests:
                measured += int(json.loads(poster.send(request)).get("published", 0))
            elapsed = time.perf_counter() - started
            cpu = (cpu_seconds_of(system.ingester.pid) or 0.0) - cpu0
        return measured, elapsed, cpu
    finally:
        system.stop()


class KeepAlivePoster:
    """A minimal HTTP/1.1 client: JSON POSTs on one keep-alive connection, one at a time,
    each answered with a ``Content-Length`` body (what the ingester sends)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self.host = parts.netloc
        self.sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80),
                                             timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def __enter__(self) -> KeepAlivePoster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def request(self, path: str, body: bytes) -> bytes:
        return (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode() + body

    def post(self, path: str, body: bytes) -> bytes:
        return self.send(self.request(path, body))

    def send(self, request: bytes) -> bytes:
        """Send one pre-built request; its response body (raises on a non-2xx status)."""
        self.sock.sendall(request)
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += self._recv()
        head, body = buf.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        length = next((int(v) for k, _, v in (line.partition(":") for line in lines)
                       if k.strip().lower() == "content-length"), None)
        if length is None:
            raise ConnectionError(f"no Content-Length in the answer: {status_line}")
        while len(body) < length:
            body += self._recv()
        if not status_line.split(" ")[1].startswith("2"):
            raise ConnectionError(f"{status_line}: {body[:200]!r}")
        return body

    def _recv(self) -> bytes:
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("the server closed the connection")
        return data


def raise_fd_limit(n: int = 65536) -> None:
    """Raise this process's open-file limit towards ``n`` (many client sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n if hard == resource.RLIM_INFINITY else min(n, hard)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


