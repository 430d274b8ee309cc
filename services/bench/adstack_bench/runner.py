"""Run client workers in separate processes and aggregate what they report."""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from adstack_bench.clients import WorkerConfig, worker_main
from adstack_bench.stats import Histogram, fmt


@dataclass
class Result:
    clients: int = 0
    connected: int = 0
    connect_errors: int = 0
    events: int = 0
    steady_events: int = 0
    """Events received after the ramp-up (what the rate is computed from)."""
    errors: int = 0
    disconnects: int = 0
    seconds: float = 0.0
    latency: Histogram = field(default_factory=Histogram)
    connect: Histogram = field(default_factory=Histogram)
    server_rss: int | None = None

    @property
    def events_per_second(self) -> float:
        return self.steady_events / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        rss = f"{self.server_rss / 1e6:.1f} MB" if self.server_rss else "n/a"
        return "\n".join([
            f"clients          {self.connected}/{self.clients} connected "
            f"({self.connect_errors} connect errors)",
            f"connect latency  {fmt(self.connect)}",
            f"events received  {self.events} ({self.events_per_second:,.0f}/s in the "
            f"{self.seconds:.0f} s after ramp-up)",
            f"end-to-end       {fmt(self.latency)}",
            f"errors           {self.errors}",
            f"disconnects      {self.disconnects}",
            f"server RSS       {rss}",
        ])


def http_base(url: str) -> str:
    base = url.replace("ws://", "http://").replace("wss://", "https://")
    return base.split("/ws")[0].split("/socket.io")[0].rstrip("/")


def server_rss(url: str) -> int | None:
    """RSS of the gateway process behind ``url`` (its /health names its pid; same host)."""
    try:
        health = httpx.get(f"{http_base(url)}/health", timeout=3).json()
        pid = int(health["metrics"]["pid"])
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (httpx.HTTPError, KeyError, ValueError, OSError):
        return None
    return None


def run(cfg: WorkerConfig, procs: int, *, progress: bool = True,
        on_progress: Any = None, urls: list[str] | None = None) -> Result:
    """Run ``cfg.clients`` clients split over ``procs`` processes; block until done.

    With ``urls``, worker *i* connects to ``urls[i % len(urls)]`` (several gateways).
    """
    targets = urls or [cfg.url]
    ctx = mp.get_context("spawn")
    report: Any = ctx.Queue()
    shares = [cfg.clients // procs + (1 if i < cfg.clients % procs else 0)
              for i in range(procs)]
    workers = [ctx.Process(target=worker_main,
                           args=(replace(cfg, clients=n, worker=i,
                                         url=targets[i % len(targets)]), report),
                           daemon=True)
               for i, n in enumerate(shares) if n]
    for w in workers:
        w.start()
    result = Result(clients=cfg.clients)
    live: dict[int, tuple[int, int, int, int]] = {}
    window = Histogram()
    done = 0
    started = time.monotonic()
    measure_from = started + cfg.ramp_up
    last_print = started
    samples: list[tuple[float, int]] = []
    """(time, events received by all workers so far), once per progress report."""
    while done < len(workers):
        try:
            msg = report.get(timeout=1.0)
        except queue.Empty:
            if not any(w.is_alive() for w in workers):
                break
            continue
        kind, worker = msg[0], msg[1]
        if kind == "progress":
            live[worker] = (msg[2], msg[3], msg[4], msg[5])
            hist = Histogram.from_state(msg[6])
            now = time.monotonic()
            if now >= measure_from:
                result.latency.merge(hist)
                samples.append((now, sum(v[1] for v in live.values())))
            window.merge(hist)
        else:
            done += 1
            result.connected += msg[2]
            result.events += msg[3]
            result.errors += msg[4]
            result.disconnects += msg[5]
            result.latency.merge(Histogram.from_state(msg[6]))
            result.connect.merge(Histogram.from_state(msg[7]))
            result.connect_errors += msg[8]
        now = time.monotonic()
        if progress and now - last_print >= 1.0 and kind == "progress":
            conn = sum(v[0] for v in live.values())
            events = sum(v[1] for v in live.values())
            print(f"[{now - started:6.1f}s] connected {conn:>6}  events {events:>9}  "
                  f"window p99 {window.percentile(99):6.1f} ms", flush=True)
            if on_progress is not None:
                on_progress(conn, events, window)
            window = Histogram()
            last_print = now
    for w in workers:
        w.join(5)
    # Rate over the steady window: between the first and last progress sample after ramp-up.
    if len(samples) >= 2:
        result.seconds = samples[-1][0] - samples[0][0]
        result.steady_events = samples[-1][1] - samples[0][1]
    rss = [server_rss(url) for url in targets]
    result.server_rss = sum(r for r in rss if r) or None
    return result
