"""Client worker processes driven from the parent: connect, measure in windows, close.

A :class:`Fleet` keeps its connections open across measurements, so a benchmark connects
N clients once and then measures several rates on them.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

import httpx

from adstack_bench.clients import Window, WorkerConfig, worker_main
from adstack_bench.stats import fmt, shares

Progress = Callable[[str], None]


def http_base(url: str) -> str:
    base = url.replace("ws://", "http://").replace("wss://", "https://")
    return base.split("/ws")[0].split("/socket.io")[0].rstrip("/")


def server_pid(url: str) -> int | None:
    """The pid of the gateway behind ``url`` (its /health names it; same host only)."""
    try:
        return int(httpx.get(f"{http_base(url)}/health", timeout=3).json()["metrics"]["pid"])
    except (httpx.HTTPError, KeyError, ValueError, TypeError):
        return None


def rss_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cpu_seconds_of(pid: int) -> float | None:
    """User + system CPU seconds a process has used (from /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_rss(url: str) -> int | None:
    pid = server_pid(url)
    return None if pid is None else rss_of(pid)


class Fleet:
    """``procs`` worker processes; worker *i* connects to ``urls[i % len(urls)]``."""

    def __init__(self, cfg: WorkerConfig, procs: int, urls: list[str] | None = None) -> None:
        self.cfg = cfg
        self.urls = urls or [cfg.url]
        ctx = mp.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        for i in range(max(1, procs)):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, daemon=True, args=(
                replace(cfg, worker=i, url=self.urls[i % len(self.urls)]), child))
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.procs.append(proc)
        self.clients = 0
        self.connect_window = Window()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _ask(self, command: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        for pipe in self.pipes:
            pipe.send(command)
        replies = []
        for pipe in self.pipes:
            if not pipe.poll(60):
                raise TimeoutError("a client worker did not answer")
            replies.append(pipe.recv())
        return replies

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs if proc.pid is not None]

    def take(self, *, reset: bool = False) -> Window:
        """What every worker saw since the previous take (per-client counts since the
        last ``reset``, which starts them again from zero)."""
        total = Window()
        for reply in self._ask(("take", reset)):
            total.merge(Window.from_wire(reply[1]))
        return total

    def connect(self, clients: int, ramp_up: float, *, timeout: float = 120.0,
                progress: Progress | None = None) -> Window:
        """Open ``clients`` more connections over ``ramp_up`` s; wait until all are open
        or failed. Returns the connect window (connect latency, errors)."""
        procs = len(self.pipes)
        for pipe, share in zip(self.pipes, shares(clients, procs), strict=True):
            pipe.send(("connect", share, ramp_up))
        for pipe in self.pipes:
            pipe.recv()
        self.clients += clients
        started = time.monotonic()
        result = Window()
        while True:
            time.sleep(0.5)
            window = self.take()
            result.extend(window)
            settled = result.connected + result.connect_errors + result.disconnects
            if progress is not None:
                progress(f"[{time.monotonic() - started:5.1f}s] connected "
                         f"{result.connected:>6}/{self.clients}  errors "
                         f"{result.connect_errors}  pending {window.pending}")
            if window.pending == 0 and settled >= self.clients:
                break
            if time.monotonic() - started > timeout + ramp_up:
                break
        self.connect_window.merge(result)
        return result

    def repair(self, *, progress: Progress | None = None) -> int:
        """Reopen the connections the gateway closed (e.g. SLOW after an overload step);
        returns how many were reopened."""
        connected = self.take().connected
        missing = self.clients - connected
        if missing <= 0:
            return 0
        self.clients -= missing
        self.connect(missing, max(1.0, missing / 1000), progress=progress)
        return missing

    def measure(self, seconds: float, *, progress: Progress | None = None,
                on_window: Callable[[Window], None] | None = None) -> Window:
        """Run for ``seconds`` in one-second windows; returns them combined."""
        self.take(reset=True)  # start fresh
        started = time.monotonic()
        total = Window()
        while True:
            remaining = seconds - (time.monotonic() - started)
            if remaining <= 0:
                break
            time.sleep(min(1.0, remaining))
            window = self.take()
            total.extend(window)
            if on_window is not None:
                on_window(window)
            if progress is not None:
                rate = window.events / window.seconds if window.seconds else 0.0
                progress(f"[{time.monotonic() - started:5.1f}s] connected "
                         f"{window.connected:>6}  events {rate:>9,.0f}/s  "
                         f"{fmt(window.latency, short=True)}  errors {window.errors}  "
                         f"disconnects {window.disconnects}")
        return total

    def close(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("close",))
            except OSError:
                continue
        for pipe in self.pipes:
            try:
                if pipe.poll(10):
                    pipe.recv()
            except (EOFError, OSError):
                pass
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
        self.pipes.clear()
        self.procs.clear()
