"""A worker process full of client connections that measure what they receive.

Each worker runs its own event loop and obeys its parent over a pipe: ``connect`` opens
more connections (native ``/ws`` or Socket.IO over WebSocket, both with the raw client of
:mod:`adstack_bench.rawws`, a few µs per frame), ``take`` returns what happened since the
previous ``take`` (a :class:`Window`) and starts a new window, ``close`` ends it. The
connections stay open across windows, so one fleet serves every step of a benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from adstack_bench.rawws import OnTexts, RawClient, open_raw
from adstack_bench.stats import Histogram, published_at_ms
from adstack_protocol import ClientCommand, ServerEvent


def _native(name: ServerEvent) -> bytes:
    """How a native frame of ``name`` starts (the wire codec puts the event name first)."""
    return b'{"event":"' + name.encode() + b'"'


def _sio(name: ServerEvent) -> bytes:
    """How a Socket.IO event packet of ``name`` starts."""
    return b'42["' + name.encode() + b'",'


NATIVE_EVENT = _native(ServerEvent.EVENT)
NATIVE_CONNECTED = _native(ServerEvent.CONNECTED)
NATIVE_ERROR = _native(ServerEvent.ERROR)
NATIVE_SUBSCRIBED = _native(ServerEvent.SUBSCRIBED)
SIO_EVENT = _sio(ServerEvent.EVENT)
SIO_CONNECTED = _sio(ServerEvent.CONNECTED)
SIO_ERROR = _sio(ServerEvent.ERROR)
SIO_SUBSCRIBED = _sio(ServerEvent.SUBSCRIBED)


@dataclass
class WorkerConfig:
    url: str
    """``ws://host:port/ws``; Socket.IO uses the same host and port."""
    contracts: list[str]
    event_types: list[str] | None = None
    transport: str = "ws"
    token: str | None = None
    subscribe: bool = True
    """False: connect and hold only (memory measurements)."""
    worker: int = 0


@dataclass
class Window:
    """What one worker (or, merged, the whole fleet) saw between two ``take`` calls."""

    connected: int = 0
    """Open connections at the end of the window (a level, not a count of events)."""
    pending: int = 0
    """Connections still being opened, or still waiting for their ``subscribed`` replies."""
    connect_errors: int = 0
    disconnects: int = 0
    events: int = 0
    errors: int = 0
    min_client_events: int | None = None
    """Fewest events one connected client received since the fleet's last ``reset``."""
    max_client_events: int = 0
    """Most events one client received since the last ``reset``."""
    latency: Histogram = field(default_factory=Histogram)
    connect: Histogram = field(default_factory=Histogram)
    seconds: float = 0.0

    def merge(self, other: Window) -> None:
        self.connected += other.connected
        self.pending += other.pending
        self.connect_errors += other.connect_errors
        self.disconnects += other.disconnects
        self.events += other.events
        self.errors += other.errors
        if other.min_client_events is not None:
            self.min_client_events = (other.min_client_events if self.min_client_events is None
                                      else min(self.min_client_events, other.min_client_events))
        self.max_client_events = max(self.max_client_events, other.max_client_events)
        self.latency.merge(other.latency)
        self.connect.merge(other.connect)
        self.seconds = max(self.seconds, other.seconds)

    def extend(self, later: Window) -> None:
        """Append a later window of the same fleet (levels and per-client counts, which
        run since the last reset, come from ``later``)."""
        connected, pending, seconds = later.connected, later.pending, self.seconds + later.seconds
        low, high = later.min_client_events, later.max_client_events
        self.merge(later)
        self.connected, self.pending, self.seconds = connected, pending, seconds
        self.min_client_events, self.max_client_events = low, high

    def to_wire(self) -> dict[str, Any]:
        return {**self.__dict__, "latency": self.latency.state(),
                "connect": self.connect.state()}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Window:
        return cls(**{**data, "latency": Histogram.from_state(data["latency"]),
                      "connect": Histogram.from_state(data["connect"])})


class _Client:
    """One connection's counters (events since the last reset: the completeness check)."""

    __slots__ = ("conn", "events", "open", "subscribed")

    def __init__(self) -> None:
        self.conn: RawClient | None = None
        self.events = 0
        self.open = False
        self.subscribed = 0


class Worker:
    def __init__(self, cfg: WorkerConfig) -> None:
        self.cfg = cfg
        self.clients: list[_Client] = []
        self.window = Window()
        self.window_started = time.monotonic()
        self.tasks: set[asyncio.Task[None]] = set()
        self.pending = 0
        self.stopping = False
        self.url = self._url()
        self.subscribe_frames = self._subscribe_frames()
        """Built once: every connection sends the same."""

    # -- connections ---------------------------------------------------------------------

    def _url(self) -> str:
        cfg = self.cfg
        if cfg.transport == "sio":
            base = cfg.url.split("/ws")[0]
            return f"{base}/socket.io/?EIO=4&transport=websocket"
        url = cfg.url
        if cfg.token:
            url += ("&" if "?" in url else "?") + f"token={cfg.token}"
        return url

    def _subscribe_frames(self) -> list[bytes]:
        cfg = self.cfg
        frames = []
        for contract in cfg.contracts:
            data = {"contractId": contract, "eventTypes": cfg.event_types}
            if cfg.transport == "sio":
                frames.append(b"42" + json.dumps([ClientCommand.SUBSCRIBE, data]).encode())
            else:
                frames.append(json.dumps({"event": ClientCommand.SUBSCRIBE,
                                          "data": data}).encode())
        return frames

    def _reader(self, client: _Client, ready: asyncio.Future[None],
                expected: int) -> OnTexts:
        """The frame reader of one connection: counts events and their latency inline; the
        rare other frames go to :meth:`_control`."""
        window_of = self  # the current window is looked up on every frame
        event_prefix = SIO_EVENT if self.cfg.transport == "sio" else NATIVE_EVENT
        control = self._control
        clock = time.time

        def on_texts(conn: RawClient, texts: list[bytes]) -> None:
            # Runs for every read of every connection: keep it lean.
            window = window_of.window
            now = clock() * 1000
            add = window.latency.add
            events = 0
            for payload in texts:
                if payload.startswith(event_prefix):
                    events += 1
                    stamp = published_at_ms(payload)
                    if stamp is not None:
                        add(now - stamp)
                else:
                    control(conn, payload, client, ready, expected)
            if events:
                window.events += events
                client.events += events

        return on_texts

    def _control(self, conn: RawClient, payload: bytes, client: _Client,
                 ready: asyncio.Future[None], expected: int) -> None:
        """A frame that is no event: Engine.IO ping and open, connected, subscribed, error."""
        sio = self.cfg.transport == "sio"
        if sio and payload == b"2":
            conn.send(b"3")  # Engine.IO pong
        elif sio and payload.startswith(b"0{"):
            # Engine.IO open: join the default namespace (with the token as auth).
            auth = json.dumps({"token": self.cfg.token}) if self.cfg.token else ""
            conn.send(b"40" + auth.encode())
        elif payload.startswith(SIO_CONNECTED if sio else NATIVE_CONNECTED):
            if not ready.done():
                ready.set_result(None)
        elif payload.startswith(SIO_SUBSCRIBED if sio else NATIVE_SUBSCRIBED):
            client.subscribed += 1
            if client.subscribed == expected:
                self.pending -= 1
        elif payload.startswith(SIO_ERROR if sio else NATIVE_ERROR):
            self.window.errors += 1

    async def _open_one(self) -> None:
        cfg = self.cfg
        client = _Client()
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        expected = len(cfg.contracts) if cfg.subscribe else 0
        on_texts = self._reader(client, ready, expected)

        started = time.perf_counter()
        self.pending += 1
        try:
            conn = await open_raw(self.url, on_texts)
            client.conn = conn
            await asyncio.wait_for(ready, 30)
        except Exception:
            self.window.connect_errors += 1
            if client.conn is not None:
                client.conn.close()
            return
        finally:
            self.pending -= 1
        self.window.connect.add((time.perf_counter() - started) * 1000)
        client.open = True
        self.clients.append(client)
        if expected:
            self.pending += 1  # until every subscription is confirmed
            for frame in self.subscribe_frames:
                conn.send(frame)
        await conn.closed
        client.open = False
        if client.subscribed < expected:
            self.pending -= 1
        if not self.stopping:
            self.window.disconnects += 1

    def connect(self, count: int, ramp_up: float) -> None:
        task = asyncio.ensure_future(self._connect(count, ramp_up))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _connect(self, count: int, ramp_up: float) -> None:
        gap = ramp_up / count if count else 0.0
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(count):
            task = asyncio.ensure_future(self._open_one())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            if gap:
                delay = start + (i + 1) * gap - loop.time()
                await asyncio.sleep(max(0.0, delay))
            elif i % 100 == 99:
                await asyncio.sleep(0)

    # -- windows -------------------------------------------------------------------------

    def take(self, reset: bool = False) -> Window:
        """This window's counts; per-client counts run until ``reset``."""
        window, self.window = self.window, Window()
        now = time.monotonic()
        window.seconds = now - self.window_started
        self.window_started = now
        open_clients = [c for c in self.clients if c.open]
        window.connected = len(open_clients)
        window.pending = self.pending
        if open_clients:
            counts = [c.events for c in open_clients]
            window.min_client_events = min(counts)
            window.max_client_events = max(counts)
        if reset:
            for c in self.clients:
                c.events = 0
        self.clients = open_clients
        return window

    async def close(self) -> None:
        self.stopping = True
        for c in self.clients:
            if c.conn is not None:
                c.conn.close()
        for task in list(self.tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), 5)


async def serve(cfg: WorkerConfig, pipe: Connection) -> None:
    """Obey commands from ``pipe`` until ``close``."""
    worker = Worker(cfg)
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def on_command() -> None:
        try:
            command = pipe.recv()
        except (EOFError, OSError):
            if not done.done():
                done.set_result(None)
            return
        kind = command[0]
        if kind == "connect":
            worker.connect(command[1], command[2])
            pipe.send(("ok",))
        elif kind == "take":
            pipe.send(("window", worker.take(bool(command[1:] and command[1])).to_wire()))
        elif kind == "close" and not done.done():
            done.set_result(None)

    loop.add_reader(pipe.fileno(), on_command)
    try:
        await done
    finally:
        loop.remove_reader(pipe.fileno())
        await worker.close()
        with contextlib.suppress(OSError):
            pipe.send(("closed",))


def worker_main(cfg: WorkerConfig, pipe: Connection) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(cfg, pipe))
