"""Socket.IO endpoint under abuse: the figures docs/SECURITY.md quotes (a report, not a test).

    .venv/bin/python -m tests.perf.sio_abuse [--rounds 4] [--handshakes 5000]

Starts a local valkey and one gateway with default settings (auth on), then measures:
how long socket.io-client v4 takes to learn a refusal on each transport setting and how
many connect_errors / Engine.IO handshakes it makes in 5 s; a PING flood from a peer that
never reads (gateway RSS, when it is closed, another client's worst delivery delay); how
long a WebSocket that never joins stays open; RSS over rounds of Engine.IO handshakes that
never join; how fast ``4zzzz`` POSTed to such a session, oversized and chunked polling
POSTs and garbage frames are answered, and how much they log. Run it against older code
with ``PYTHONPATH`` pointing at that code's ``libs/*`` and ``services/*``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

from adstack_localredis import LocalRedis
from tests.conftest import make_token
from tests.helpers import services
from tests.helpers.events import CAMPAIGN, make_event, publish
from tests.helpers.jsclient import JS_DIR, node_binary, node_modules


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def refusal(gateway: services.Service, setting: str) -> dict[str, Any]:
    node_modules()
    done = subprocess.run([node_binary(), str(JS_DIR / "refusal.js"), gateway.http, setting,
                           "5000", "{}"], cwd=JS_DIR, capture_output=True, text=True,
                          timeout=60, check=False)
    lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    errors = [x for x in lines if x.get("event") == "connect_error"]
    summary: dict[str, int] = next((x["summary"] for x in lines if "summary" in x), {})
    return {"first_ms": errors[0]["t"] if errors else None,
            "message": errors[0]["message"] if errors else None,
            "connect_errors": len(errors), "handshakes": summary.get("open")}


async def raw_websocket(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
                  f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
    await reader.readuntil(b"\r\n\r\n")
    return reader, writer


def ping_frames(count: int) -> bytes:
    mask = b"\x01\x02\x03\x04"
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"p" * 125))
    return (struct.pack("!BB", 0x89, 0x80 | 125) + mask + payload) * count


async def ping_flood(gateway: services.Service, redis_url: str, seconds: float,
                     connections: int) -> dict[str, Any]:
    assert gateway.proc is not None
    pid = gateway.proc.pid
    listener = await websockets.connect(gateway.ws + f"?token={make_token()}")
    await listener.recv()
    await listener.send(json.dumps({"event": "subscribe", "data": {"contractId": CAMPAIGN}}))
    await listener.recv()
    before = rss_mb(pid)
    peak = before
    closed_after: list[float] = []
    start = time.monotonic()

    async def flood() -> None:
        # Its own process: a flood loop in this one would also stall the listener here.
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.perf.sio_abuse", "--flood-port", str(gateway.port),
            "--flood", str(seconds), stdout=asyncio.subprocess.PIPE)
        out, _ = await child.communicate()
        closed = json.loads(out or b"null")
        if closed is not None:
            closed_after.append(closed)

    delays: list[float] = []

    async def deliveries() -> None:
        n = int(time.time() * 1000) % 10**9 * 100
        while time.monotonic() - start < seconds:
            n += 1
            sent = time.monotonic()
            await publish(redis_url, [make_event(CAMPAIGN, n)])
            while True:
                frame = json.loads(await asyncio.wait_for(listener.recv(), seconds + 30))
                if frame.get("event") == "event":  # one publisher, one event at a time
                    break
            delays.append(time.monotonic() - sent)
            await asyncio.sleep(0.1)

    async def sample() -> None:
        nonlocal peak
        while time.monotonic() - start < seconds:
            peak = max(peak, rss_mb(pid))
            await asyncio.sleep(0.2)

    await asyncio.gather(*(flood() for _ in range(connections)), deliveries(), sample())
    await listener.close()
    return {"rss_before_mb": round(before, 1), "rss_peak_mb": round(peak, 1),
            "closed_after_s": [round(c, 2) for c in closed_after],
            "worst_delivery_s": round(max(delays), 3) if delays else None}


async def flood_only(port: int, seconds: float) -> float | None:
    """PINGs without reading for ``seconds``; when the server dropped us, or None."""
    _reader, writer = await raw_websocket(port)
    frames = ping_frames(50)
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds:
            writer.write(frames)
            await writer.drain()
    except ConnectionError:
        return time.monotonic() - start
    finally:
        writer.transport.abort()
    return None


async def never_joins(gateway: services.Service, limit: float) -> float:
    reader, writer = await raw_websocket(gateway.port)
    start = time.monotonic()
    try:
        async with asyncio.timeout(limit):
            while await reader.read(4096):
                pass
    except TimeoutError:
        pass
    writer.transport.abort()
    return round(time.monotonic() - start, 2)


async def handshake_rounds(gateway: services.Service, rounds: int, count: int,
                           wait: float, many_ips: bool) -> dict[str, Any]:
    assert gateway.proc is not None
    pid = gateway.proc.pid
    sizes = [round(rss_mb(pid), 1)]
    statuses: dict[int, int] = {}
    url = f"{gateway.http}/socket.io/?EIO=4&transport=polling"
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=1)) as http:
        for r in range(rounds):
            for i in range(count):
                headers = {"X-Forwarded-For": f"10.{r}.{i // 250}.{i % 250 + 1}"} \
                    if many_ips else {}
                status = (await http.get(url, headers=headers)).status_code
                statuses[status] = statuses.get(status, 0) + 1
            sizes.append(round(rss_mb(pid), 1))
            await asyncio.sleep(wait)
    sizes.append(round(rss_mb(pid), 1))
    return {"rss_mb": sizes, "statuses": statuses}


async def malformed_answer(gateway: services.Service, sessions: int) -> dict[str, Any]:
    url = f"{gateway.http}/socket.io/?EIO=4&transport=polling"
    times = []
    unanswered = 0
    async with httpx.AsyncClient(timeout=10) as http:
        for _ in range(sessions):
            opened = await http.get(url)
            sid = json.loads(opened.text[1:])["sid"]
            start = time.monotonic()
            try:
                await http.post(f"{url}&sid={sid}", content="4zzzz")
                times.append(time.monotonic() - start)
            except httpx.TimeoutException:
                unanswered += 1
    return {"answered": len(times), "unanswered_after_10s": unanswered,
            "median_ms": round(statistics.median(times) * 1000, 1) if times else None}


async def posts(gateway: services.Service) -> dict[str, Any]:
    url = f"{gateway.http}/socket.io/?EIO=4&transport=polling"
    out: dict[str, Any] = {}

    async def chunked() -> Any:
        yield b"40"

    async with httpx.AsyncClient(timeout=40) as http:
        for name, body in (("70KB", b"4" * 70 * 1024), ("1MB", b"4" * 1024 * 1024),
                           ("chunked", None)):
            sid = json.loads((await http.get(url)).text[1:])["sid"]
            start = time.monotonic()
            try:
                answer = await http.post(f"{url}&sid={sid}",
                                         content=chunked() if body is None else body)
                out[name] = (answer.status_code, round(time.monotonic() - start, 2))
            except httpx.HTTPError as exc:
                out[name] = (type(exc).__name__, round(time.monotonic() - start, 2))
    return out


async def garbage(gateway: services.Service, connections: int) -> dict[str, Any]:
    url = gateway.ws.removesuffix("/ws") + "/socket.io/?EIO=4&transport=websocket"
    size = gateway.log_path.stat().st_size
    start = time.monotonic()
    for i in range(connections):
        try:
            async with websockets.connect(url) as ws:
                await ws.recv()
                await ws.send("x" if i % 2 else "")
                async with asyncio.timeout(5):
                    while True:
                        await ws.recv()
        except (websockets.ConnectionClosed, TimeoutError):
            pass
    logs = gateway.log_path.read_text(errors="replace")
    return {"seconds": round(time.monotonic() - start, 2),
            "log_bytes": gateway.log_path.stat().st_size - size,
            "tracebacks": logs.count("Traceback")}


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as logs, LocalRedis() as redis:
        gateway = services.gateway(redis.url, Path(logs), LOG_LEVEL="INFO").start()
        try:
            report: dict[str, Any] = {}
            report["refusal"] = {s: refusal(gateway, s)
                                 for s in ("default", "polling", "websocket")}
            print(json.dumps({"refusal": report["refusal"]}), flush=True)
            report["posts"] = await posts(gateway)
            print(json.dumps({"posts": report["posts"]}), flush=True)
            report["malformed"] = await malformed_answer(gateway, 20)
            print(json.dumps({"malformed": report["malformed"]}), flush=True)
            report["garbage"] = await garbage(gateway, 200)
            print(json.dumps({"garbage": report["garbage"]}), flush=True)
            report["never_joins_s"] = await never_joins(gateway, 60)
            print(json.dumps({"never_joins_s": report["never_joins_s"]}), flush=True)
            report["ping_flood_1"] = await ping_flood(gateway, redis.url, args.flood, 1)
            print(json.dumps({"ping_flood_1": report["ping_flood_1"]}), flush=True)
            report["ping_flood_4"] = await ping_flood(gateway, redis.url, args.flood, 4)
            print(json.dumps({"ping_flood_4": report["ping_flood_4"]}), flush=True)
            for many in (False, True):
                key = "handshakes_many_ips" if many else "handshakes_one_ip"
                report[key] = await handshake_rounds(gateway, args.rounds, args.handshakes,
                                                     11.0, many)
                print(json.dumps({key: report[key]}), flush=True)
        finally:
            gateway.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--handshakes", type=int, default=5000)
    parser.add_argument("--flood", type=float, default=15.0, help="seconds of PING flood")
    parser.add_argument("--flood-port", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.flood_port:
        print(json.dumps(asyncio.run(flood_only(options.flood_port, options.flood))))
    else:
        asyncio.run(main(options))
