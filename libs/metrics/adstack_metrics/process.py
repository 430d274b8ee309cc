"""Process-level metrics every service exposes, and the sampler that keeps them current.

``adstack_uptime_seconds`` and ``adstack_memory_usage_bytes{type}`` keep the original Node
server's names. Gauges carry a ``multiprocess_mode`` so that with ``--workers N`` (and
``PROMETHEUS_MULTIPROC_DIR``) the exposition aggregates the workers sensibly: memory and
counts are summed over live workers, uptime is the oldest live worker's, ``redis_up`` is
the worst worker's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from prometheus_client import Counter, Gauge

log = logging.getLogger(__name__)

UPTIME_NAME = "adstack_uptime_seconds"
"""Exposed as the original did: this name, no suffix, ``# TYPE … counter`` (see
:func:`adstack_metrics.exposition.metrics_body`)."""

MEMORY_TYPES = ("rss", "heap_total", "heap_used", "virtual")
"""The original Node server's types, as they apply to a Python process: ``rss`` the resident
set (``VmRSS``); ``heap_total`` the private data segments it has reserved (heap and
anonymous mappings, where CPython's allocators live: ``VmData``); ``heap_used`` the part
of them actually in memory (resident anonymous pages, ``RssAnon``); and ``virtual`` the
whole address space (``VmSize``)."""

UPTIME = Gauge(UPTIME_NAME, "Seconds since this process started.",
               multiprocess_mode="livemax")
MEMORY = Gauge("adstack_memory_usage_bytes", "Memory of this process by type (rss, heap_total, "
               "heap_used, virtual).", ["type"], multiprocess_mode="livesum")
BUILD_INFO = Gauge("adstack_build_info", "Always 1; labels name the service and its version.",
                   ["service", "version"], multiprocess_mode="livemax")
REDIS_UP = Gauge("adstack_redis_up", "1 while this process's Redis connection works, else 0.",
                 multiprocess_mode="livemin")
REDIS_RECONNECTS = Counter("adstack_redis_reconnects",
                           "Times a lost Redis connection was re-established.")

_STATUS_FIELDS = {"VmRSS:": "rss", "VmData:": "heap_total", "RssAnon:": "heap_used",
                  "VmSize:": "virtual"}


def memory_usage(status_path: Path = Path("/proc/self/status")) -> dict[str, int]:
    """This process's memory in bytes by type (see :data:`MEMORY_TYPES`).

    Reads ``/proc/self/status`` on Linux; elsewhere only ``rss`` (the peak, from
    ``getrusage``) is known.
    """
    usage: dict[str, int] = {}
    try:
        text = status_path.read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] in _STATUS_FIELDS and parts[2].lower() == "kb":
            usage[_STATUS_FIELDS[parts[0]]] = int(parts[1]) * 1024
    if "rss" not in usage:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        usage["rss"] = peak if sys.platform == "darwin" else peak * 1024
    return usage


def record_redis_reconnect() -> None:
    """A lost Redis connection came back."""
    REDIS_RECONNECTS.inc()


def set_redis_up(up: bool) -> None:
    REDIS_UP.set(1 if up else 0)


class ProcessMetrics:
    """Samples this process's uptime and memory, plus any service-specific state.

    ``probe`` (async, e.g. a Redis ping) runs before each sample, bounded by
    ``probe_timeout``; ``extra`` (sync, e.g. connection counts from live state) runs on
    every sample. A failing probe or extra is logged and never breaks a scrape.
    """

    def __init__(self, service: str, version: str, *, started: float | None = None,
                 probe: Callable[[], Awaitable[None]] | None = None,
                 extra: Callable[[], None] | None = None, probe_timeout: float = 2.0) -> None:
        self.service = service
        self.started = time.time() if started is None else started
        self.probe = probe
        self.extra = extra
        self.probe_timeout = probe_timeout
        BUILD_INFO.labels(service=service, version=version).set(1)

    def sample(self) -> None:
        """Set the gauges from the current state (cheap: one small /proc read)."""
        UPTIME.set(max(0.0, time.time() - self.started))
        for kind, value in memory_usage().items():
            MEMORY.labels(type=kind).set(value)
        if self.extra is not None:
            try:
                self.extra()
            except Exception:
                log.exception("metrics sampling failed")

    async def refresh(self) -> None:
        """Run the probe, then :meth:`sample`."""
        if self.probe is not None:
            try:
                await asyncio.wait_for(self.probe(), timeout=self.probe_timeout)
            except TimeoutError:
                log.warning("metrics probe timed out after %.1fs", self.probe_timeout)
            except Exception:
                log.exception("metrics probe failed")
        self.sample()

    @asynccontextmanager
    async def sampling(self, interval: float = 5.0) -> AsyncIterator[None]:
        """Refresh now and every ``interval`` seconds while the block runs.

        Needed with ``--workers N``: a scrape is answered by one worker, which refreshes
        itself first; the other workers' gauges are kept fresh by this loop.
        """
        await self.refresh()
        task = asyncio.create_task(self._loop(interval), name=f"{self.service}-metrics")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.refresh()


def multiprocess_enabled() -> bool:
    """True when ``PROMETHEUS_MULTIPROC_DIR`` is set (samples are shared through files)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
