"""Start the real system (valkey, ingester, gateways, devnet) for benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from adstack_localredis import LocalRedis, free_port


class Proc:
    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        fh = open(log, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        fh.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)

    def rss(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0


def wait_http(url: str, timeout: float = 20.0) -> None:
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
    """Valkey + ingester + ``gateways`` gateway processes; the devnet is started per run."""

    def __init__(self, log_dir: Path, gateways: int = 1, extra_env: dict[str, str] | None = None
                 ) -> None:
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.redis = LocalRedis().start()
        self.env = {**os.environ, "REDIS_URL": self.redis.url, "SKIP_AUTH": "true",
                    "NODE_ENV": "development", "LOG_LEVEL": "WARNING",
                    "EVENT_HISTORY_LIMIT": "100", **(extra_env or {})}
        self.ingester_port = free_port()
        self.ingester = Proc("ingester", [sys.executable, "-m", "adstack_ingester"],
                             {**self.env, "INGESTER_PORT": str(self.ingester_port)},
                             log_dir / "ingester.log")
        wait_http(f"http://127.0.0.1:{self.ingester_port}/health/live")
        self.gateway_ports: list[int] = []
        self.gateways: list[Proc] = []
        for i in range(gateways):
            port = free_port()
            self.gateways.append(Proc(f"gateway{i}", [sys.executable, "-m", "adstack_gateway"],
                                      {**self.env, "PORT": str(port)},
                                      log_dir / f"gateway{i}.log"))
            self.gateway_ports.append(port)
        for port in self.gateway_ports:
            wait_http(f"http://127.0.0.1:{port}/health")
        self.devnet: Proc | None = None

    @property
    def ws_urls(self) -> list[str]:
        return [f"ws://127.0.0.1:{p}/ws" for p in self.gateway_ports]

    def start_devnet(self, events_per_second: float, blocks_per_second: float = 20.0) -> None:
        """Drive the ingester at about ``events_per_second`` print events per second."""
        self.stop_devnet()
        per_block = max(1, round(events_per_second / blocks_per_second))
        rate = events_per_second / per_block
        self.devnet = Proc("devnet", [
            sys.executable, "-m", "adstack_devnet", "--ingester-url",
            f"http://127.0.0.1:{self.ingester_port}", "--rate", f"{rate:.3f}",
            "--events-per-block", str(per_block)], self.env, self.log_dir / "devnet.log")

    def stop_devnet(self) -> None:
        if self.devnet is not None:
            self.devnet.stop()
            self.devnet = None

    def stop(self) -> None:
        self.stop_devnet()
        for gw in self.gateways:
            gw.stop()
        self.ingester.stop()
        self.redis.cleanup()
