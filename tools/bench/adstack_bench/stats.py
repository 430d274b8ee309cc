"""Latency histograms with fixed 0.1 ms buckets (pure, mergeable across processes)."""

from __future__ import annotations

import math
from collections.abc import Iterable

BUCKET_MS = 0.1
MAX_MS = 60_000.0
_N = int(MAX_MS / BUCKET_MS) + 1


class Histogram:
    """Counts samples in 0.1 ms buckets up to 60 s; the last bucket holds everything above."""

    __slots__ = ("buckets", "count", "max_ms")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.max_ms = 0.0

    def add(self, ms: float) -> None:
        index = int(ms / BUCKET_MS) if ms > 0 else 0
        if index >= _N:
            index = _N - 1
        self.buckets[index] = self.buckets.get(index, 0) + 1
        self.count += 1
        if ms > self.max_ms:  # noqa: PLR1730 - per event: cheaper than max()
            self.max_ms = ms

    def merge(self, other: Histogram) -> None:
        for index, n in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + n
        self.count += other.count
        self.max_ms = max(self.max_ms, other.max_ms)

    def percentile(self, p: float) -> float:
        """The ``p``-th percentile (0–100) in ms, to bucket resolution (upper edge)."""
        if self.count == 0:
            return 0.0
        rank = max(1, math.ceil(p / 100.0 * self.count))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return min((index + 1) * BUCKET_MS, self.max_ms)
        return self.max_ms

    def state(self) -> tuple[dict[int, int], int, float]:
        return dict(self.buckets), self.count, self.max_ms

    @classmethod
    def from_state(cls, state: tuple[dict[int, int], int, float]) -> Histogram:
        hist = cls()
        hist.buckets, hist.count, hist.max_ms = dict(state[0]), state[1], state[2]
        return hist

    @classmethod
    def of(cls, samples: Iterable[float]) -> Histogram:
        hist = cls()
        for sample in samples:
            hist.add(sample)
        return hist


def fmt(hist: Histogram, *, short: bool = False) -> str:
    """``p50 … p95 … p99 … max …`` in ms (``short``: p50 and p99 only)."""
    if short:
        return f"p50 {hist.percentile(50):6.1f} ms  p99 {hist.percentile(99):6.1f} ms"
    return (f"p50 {hist.percentile(50):.1f} ms  p95 {hist.percentile(95):.1f} ms  "
            f"p99 {hist.percentile(99):.1f} ms  max {hist.max_ms:.1f} ms  (n={hist.count})")


_KEY = b'"publishedAt":'


def published_at_ms(frame: bytes) -> int | None:
    """The ``publishedAt`` field of an event frame, without parsing the JSON (the last one:
    it follows the event's ``data``, which could contain anything)."""
    start = frame.rfind(_KEY)
    if start < 0:
        return None
    start += len(_KEY)
    end = frame.find(b",", start)
    if end < 0:
        end = frame.find(b"}", start)
    try:
        return int(frame[start:end])
    except ValueError:
        return None


def shares(total: int, parts: int) -> list[int]:
    """``total`` split over ``parts`` as evenly as possible (the first ones get the rest)."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]
