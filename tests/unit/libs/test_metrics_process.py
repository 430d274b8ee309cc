"""Process metrics: memory from /proc, uptime, the sampler and its probe."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from adstack_metrics import (
    ProcessMetrics,
    memory_usage,
    metrics_body,
    record_redis_reconnect,
    set_redis_up,
)

STATUS = """Name:\tpython
VmPeak:\t  300000 kB
VmSize:\t  250000 kB
VmData:\t  120000 kB
VmRSS:\t   40000 kB
RssAnon:\t   30000 kB
Threads:\t4
"""


def value(name: str, **labels: str) -> float:
    sample = REGISTRY.get_sample_value(name, labels)
    return 0.0 if sample is None else sample


def test_memory_usage_reads_proc_status_in_bytes(tmp_path: Path) -> None:
    path = tmp_path / "status"
    path.write_text(STATUS)
    assert memory_usage(path) == {"rss": 40000 * 1024, "heap_total": 120000 * 1024,
                                  "heap_used": 30000 * 1024, "virtual": 250000 * 1024}


def test_memory_usage_of_this_process_is_plausible() -> None:
    usage = memory_usage()
    assert 1 << 20 < usage["rss"] <= usage["virtual"]
    assert 0 < usage["heap_used"] <= usage["heap_total"] <= usage["virtual"]
    assert usage["heap_used"] <= usage["rss"]


def test_memory_usage_without_proc_falls_back_to_rusage(tmp_path: Path) -> None:
    usage = memory_usage(tmp_path / "missing")
    assert set(usage) == {"rss"} and usage["rss"] > 1 << 20


def test_sample_sets_uptime_memory_build_info_and_extra() -> None:
    calls: list[int] = []
    started = time.time() - 42
    metrics = ProcessMetrics("unit-svc", "9.9.9", started=started,
                             extra=lambda: calls.append(1))
    metrics.sample()
    assert 42 <= value("adstack_uptime_seconds") < 60
    assert value("adstack_memory_usage_bytes", type="rss") == pytest.approx(
        memory_usage()["rss"], rel=0.5)
    assert value("adstack_build_info", service="unit-svc", version="9.9.9") == 1
    assert calls == [1]


def test_a_failing_extra_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise RuntimeError("boom")

    metrics = ProcessMetrics("unit-svc", "1", extra=broken)
    with caplog.at_level(logging.ERROR):
        metrics.sample()
    assert "metrics sampling failed" in caplog.text


async def test_refresh_bounds_a_hanging_probe_and_still_samples(
        caplog: pytest.LogCaptureFixture) -> None:
    samples: list[float] = []

    async def hang() -> None:
        await asyncio.sleep(30)

    metrics = ProcessMetrics("unit-svc", "1", probe=hang, probe_timeout=0.1,
                             extra=lambda: samples.append(time.monotonic()))
    start = time.monotonic()
    with caplog.at_level(logging.WARNING):
        await metrics.refresh()
    assert time.monotonic() - start < 5
    assert len(samples) == 1
    assert "probe timed out" in caplog.text


async def test_sampling_runs_until_the_block_ends() -> None:
    count = 0
    enough = asyncio.Event()

    def tick() -> None:
        nonlocal count
        count += 1
        if count >= 4:
            enough.set()

    metrics = ProcessMetrics("unit-svc", "1", extra=tick)
    async with metrics.sampling(interval=0.02):
        await asyncio.wait_for(enough.wait(), timeout=5)
    assert count >= 4
    stopped_at = count
    await asyncio.sleep(0.1)
    assert count == stopped_at, "no sampling after the block"


def test_redis_gauge_and_reconnect_counter() -> None:
    before = value("adstack_redis_reconnects_total")
    record_redis_reconnect()
    record_redis_reconnect()
    assert value("adstack_redis_reconnects_total") - before == 2
    set_redis_up(False)
    assert value("adstack_redis_up") == 0
    set_redis_up(True)
    assert value("adstack_redis_up") == 1


def test_uptime_is_exposed_as_the_original_counter_with_its_bare_name() -> None:
    ProcessMetrics("unit-svc", "9.9.9", started=time.time() - 5).sample()
    body = metrics_body()[0].decode()
    assert "# TYPE adstack_uptime_seconds counter\n" in body
    assert "\nadstack_uptime_seconds " in body
    assert "adstack_uptime_seconds_total" not in body
    for kind in ("rss", "heap_total", "heap_used"):
        assert f'adstack_memory_usage_bytes{{type="{kind}"}}' in body
