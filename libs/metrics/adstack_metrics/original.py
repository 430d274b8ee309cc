"""The original Node server's ops shapes, for monitors that parse its ``/health`` and
``/status`` (pure helpers; the services put their own detail beside them)."""

from __future__ import annotations

from datetime import UTC, datetime

MEBIBYTE = 1 << 20


def iso_timestamp(now: float) -> str:
    """``2024-01-15T10:30:00.000Z`` (JavaScript's ``Date.toISOString``)."""
    moment = datetime.fromtimestamp(now, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def formatted_uptime(seconds: float) -> str:
    """``1d 2h 3m 4s`` (days left out while zero)."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}h {minutes}m {secs}s"
    return f"{days}d {text}" if days else text


def memory_usage_js(memory: dict[str, int]) -> dict[str, int]:
    """``process.memoryUsage()``'s keys from :func:`adstack_metrics.memory_usage`: ``rss``,
    ``heapTotal`` (reserved private data, VmData), ``heapUsed`` (its resident part, RssAnon);
    ``external`` and ``arrayBuffers`` are V8 notions with no Python counterpart: 0."""
    return {"rss": memory.get("rss", 0), "heapTotal": memory.get("heap_total", 0),
            "heapUsed": memory.get("heap_used", 0), "external": 0, "arrayBuffers": 0}


def memory_megabytes(memory: dict[str, int]) -> dict[str, str]:
    """``/status``'s ``system.memory``: ``{rss, heapTotal, heapUsed}`` as ``"NNMB"``."""
    js = memory_usage_js(memory)
    return {key: f"{round(js[key] / MEBIBYTE)}MB" for key in ("rss", "heapTotal", "heapUsed")}
