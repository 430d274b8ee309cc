"""Real service processes on real ports, for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import httpx

from adstack_localredis import free_port

TEST_SECRET = "test-secret-for-hs256-needs-32-bytes!"


class Service:
    """One service subprocess (``python -m <module> [args]``) on a free port."""

    def __init__(self, module: str, port: int, env: dict[str, str], log_dir: Path,
                 args: Sequence[str] = ()) -> None:
        self.module = module
        self.port = port
        self.env = env
        self.args = tuple(args)
        self.log_path = log_dir / f"{module}-{port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self, *, wait: bool = True, timeout: float = 20.0) -> Service:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen([sys.executable, "-m", self.module, *self.args],
                                     env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        if wait:
            self.wait_live(timeout)
        return self

    def wait_live(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.module} exited {self.proc.returncode}:\n{self.logs()}")
            try:
                if httpx.get(f"{self.http}/health/live", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{self.module} on {self.port} not live:\n{self.logs()}")

    def wait_healthy(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.http}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{self.module} on {self.port} not healthy:\n{self.logs()}")

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL (a crash)."""
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode

    def __enter__(self) -> Service:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def base_env(redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update({"REDIS_URL": redis_url, "NODE_ENV": "development", "LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def ingester(redis_url: str, log_dir: Path, **extra: str) -> Service:
    port = free_port()
    return Service("adstack_ingester", port,
                   base_env(redis_url, INGESTER_PORT=str(port), **extra), log_dir)


def gateway(redis_url: str, log_dir: Path, *, args: Sequence[str] = (),
            **extra: str) -> Service:
    port = free_port()
    env = {"JWT_SECRET": TEST_SECRET, **extra}
    return Service("adstack_gateway", port, base_env(redis_url, PORT=str(port), **env),
                   log_dir, args)


async def await_subscriptions(gateways: Sequence[Service], count: int,
                              timeout: float = 30.0) -> None:
    """Until the gateways together hold ``count`` client subscriptions, each on a live Redis
    channel (their ``/status``). Await this instead of sleeping before publishing events a
    fresh subscription must receive: what is published before it is not replayed."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=10) as http:
        while True:
            states = [(await http.get(f"{gw.http}/status")).json()["connections"]
                      for gw in gateways]
            held = [st for st in states if st["subscriptions"]]
            if (sum(st["subscriptions"] for st in states) == count
                    and all(st["redisChannels"] >= 1 for st in held)):
                return
            assert time.monotonic() < deadline, f"never {count} subscriptions: {states}"
            await asyncio.sleep(0.05)
