"""A worker process full of client connections that measure what they receive.

Each worker runs its own event loop, opens its share of the connections (native ``/ws`` or
Socket.IO), and reports counts and latency histograms to the parent through a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import time
from dataclasses import dataclass, field
from typing import Any

from adstack_bench.rawws import open_raw
from adstack_bench.stats import Histogram, published_at_ms


@dataclass
class WorkerConfig:
    url: str
    clients: int
    ramp_up: float
    duration: float
    contracts: list[str]
    event_types: list[str] | None = None
    transport: str = "ws"
    token: str | None = None
    idle: bool = False
    """Only connect and hold (memory measurements): no subscriptions."""
    worker: int = 0


@dataclass
class Counters:
    connected: int = 0
    connect_errors: int = 0
    disconnects: int = 0
    events: int = 0
    errors: int = 0
    latency: Histogram = field(default_factory=Histogram)
    connect: Histogram = field(default_factory=Histogram)


def _ws_url(cfg: WorkerConfig) -> str:
    url = cfg.url
    if cfg.token:
        url += ("&" if "?" in url else "?") + f"token={cfg.token}"
    return url


async def _native_client(cfg: WorkerConfig, c: Counters, stop: asyncio.Event) -> None:
    started = time.perf_counter()
    first = asyncio.get_running_loop().create_future()

    def on_text(payload: bytes) -> None:
        if payload.startswith(b'{"event":"event"'):
            c.events += 1
            stamp = published_at_ms(payload)
            if stamp is not None:
                c.latency.add(time.time() * 1000 - stamp)
        elif payload.startswith(b'{"event":"connected"'):
            if not first.done():
                first.set_result(None)
        elif payload.startswith(b'{"event":"error"'):
            c.errors += 1

    try:
        client = await open_raw(_ws_url(cfg), on_text)
        await asyncio.wait_for(first, 30)
    except Exception:
        c.connect_errors += 1
        return
    c.connect.add((time.perf_counter() - started) * 1000)
    c.connected += 1
    if not cfg.idle:
        for contract in cfg.contracts:
            client.send(json.dumps({"event": "subscribe", "data": {
                "contractId": contract, "eventTypes": cfg.event_types}}).encode())
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({stopper, client.closed}, return_when=asyncio.FIRST_COMPLETED)
    if not stop.is_set():
        c.disconnects += 1
        stopper.cancel()
    client.close()


async def _sio_client(cfg: WorkerConfig, c: Counters, stop: asyncio.Event) -> None:
    import socketio

    client = socketio.AsyncClient(reconnection=False)

    @client.on("event")  # type: ignore[untyped-decorator]
    async def on_event(data: dict[str, Any]) -> None:
        c.events += 1
        stamp = data.get("publishedAt")
        if isinstance(stamp, int):
            c.latency.add(time.time() * 1000 - stamp)

    @client.on("error")  # type: ignore[untyped-decorator]
    async def on_error(_data: Any) -> None:
        c.errors += 1

    @client.on("disconnect")  # type: ignore[untyped-decorator]
    async def on_disconnect(*_args: Any) -> None:
        if not stop.is_set():
            c.disconnects += 1

    base = cfg.url.replace("ws://", "http://").replace("wss://", "https://")
    base = base.split("/ws")[0]
    started = time.perf_counter()
    try:
        await client.connect(base, auth={"token": cfg.token} if cfg.token else None,
                             transports=["websocket"], wait_timeout=30)
    except Exception:
        c.connect_errors += 1
        return
    c.connect.add((time.perf_counter() - started) * 1000)
    c.connected += 1
    try:
        if not cfg.idle:
            for contract in cfg.contracts:
                await client.emit("subscribe", {"contractId": contract,
                                                "eventTypes": cfg.event_types})
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await client.disconnect()


async def run_worker(cfg: WorkerConfig, report: mp.Queue[Any]) -> None:
    """Open ``cfg.clients`` connections over ``cfg.ramp_up`` s, hold them ``cfg.duration`` s."""
    counters = Counters()
    stop = asyncio.Event()
    client = _sio_client if cfg.transport == "sio" else _native_client
    tasks: list[asyncio.Task[None]] = []
    gap = cfg.ramp_up / cfg.clients if cfg.clients else 0

    async def reporter() -> None:
        while True:
            await asyncio.sleep(1.0)
            report.put(("progress", cfg.worker, counters.connected, counters.events,
                        counters.errors, counters.disconnects, counters.latency.state()))
            counters.latency = Histogram()

    rep = asyncio.create_task(reporter())
    for _ in range(cfg.clients):
        tasks.append(asyncio.create_task(client(cfg, counters, stop)))
        if gap:
            await asyncio.sleep(gap)
    await asyncio.sleep(cfg.duration)
    stop.set()
    await asyncio.wait(tasks, timeout=10)
    rep.cancel()
    report.put(("done", cfg.worker, counters.connected, counters.events, counters.errors,
                counters.disconnects, counters.latency.state(), counters.connect.state(),
                counters.connect_errors))


def worker_main(cfg: WorkerConfig, report: mp.Queue[Any]) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(run_worker(cfg, report))
