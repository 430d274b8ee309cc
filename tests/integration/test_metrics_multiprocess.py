"""With --workers N (PROMETHEUS_MULTIPROC_DIR), one scrape aggregates every worker: counters
and histograms add up, live gauges sum over live workers, uptime is the oldest worker's."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from prometheus_client import multiprocess
from prometheus_client.parser import text_string_to_metric_families

from adstack_metrics import metrics_body, prepare_multiprocess_dir, sweep_dead_workers
from tests.helpers.paths import REPO

WORKER = textwrap.dedent("""
    import os, sys, time
    from adstack_gateway import metrics as m
    from adstack_metrics import ProcessMetrics, set_redis_up
    connections, uptime = int(sys.argv[1]), float(sys.argv[2])
    m.record_delivery(3, event_type="campaign_created", source="observer")
    m.observe_relay_latency(0.002)
    m.record_disconnect(4001)
    m.set_live_counts(connections, connections * 2, 1)
    set_redis_up(connections != 1)
    ProcessMetrics("gateway", "test", started=time.time() - uptime).sample()
    print(os.getpid())
""")


def run_worker(directory: Path, connections: int, uptime: float) -> int:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    result = subprocess.run([sys.executable, "-c", WORKER, str(connections), str(uptime)],
                            env=env, capture_output=True, text=True, timeout=60, cwd=REPO,
                            check=True)
    return int(result.stdout.strip())


def scrape(directory: Path, monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], float]:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    body, content_type = metrics_body()
    assert content_type.startswith("text/plain")
    samples: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            key = (sample.name, ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items())))
            samples[key] = sample.value
    return samples


def test_workers_are_aggregated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = run_worker(tmp_path, connections=1, uptime=100)
    run_worker(tmp_path, connections=4, uptime=30)
    samples = scrape(tmp_path, monkeypatch)
    assert samples[("adstack_events_delivered_total",
                    "source=observer,type=campaign_created")] == 6
    assert samples[("adstack_relay_latency_seconds_count", "")] == 2
    assert samples[("adstack_relay_latency_seconds_bucket", "le=0.0025")] == 2
    assert samples[("adstack_disconnects_total", "reason=slow,transport=native")] == 2
    assert samples[("adstack_connected_clients", "")] == 5  # livesum
    assert samples[("adstack_active_subscriptions", "")] == 10
    assert samples[("adstack_redis_up", "")] == 0  # livemin: one worker lost Redis
    # livemax. A counter, as the original declared it: Python's parser names its sample
    # ``…_total``; the exposition (and Prometheus) keep ``adstack_uptime_seconds``.
    assert 100 <= samples[("adstack_uptime_seconds_total", "")] < 200
    assert samples[("adstack_memory_usage_bytes", "type=rss")] > 2 << 20  # both workers

    # A worker that exits drops out of the live gauges (uvicorn's parent would call this).
    multiprocess.mark_process_dead(first, str(tmp_path))
    samples = scrape(tmp_path, monkeypatch)
    assert samples[("adstack_connected_clients", "")] == 4
    assert samples[("adstack_redis_up", "")] == 1
    assert samples[("adstack_events_delivered_total",
                    "source=observer,type=campaign_created")] == 6, "counters are kept"


def test_sweep_drops_only_dead_workers_live_gauges(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    first = run_worker(tmp_path, connections=2, uptime=10)
    second = run_worker(tmp_path, connections=3, uptime=10)
    assert sweep_dead_workers(tmp_path, {first, second}) == []
    assert scrape(tmp_path, monkeypatch)[("adstack_connected_clients", "")] == 5
    # The supervisor reports the workers now running: `first` was replaced.
    assert sweep_dead_workers(tmp_path, {second, 999_999_999}) == [first]
    samples = scrape(tmp_path, monkeypatch)
    assert samples[("adstack_connected_clients", "")] == 3
    assert samples[("adstack_relay_latency_seconds_count", "")] == 2, "histograms are kept"
    assert sweep_dead_workers(tmp_path, set()) == [second]
    assert not list(tmp_path.glob("gauge_live*.db"))
    assert list(tmp_path.glob("counter_*.db")), "counter files stay"


def test_prepare_creates_or_empties_the_directory(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    created, made = prepare_multiprocess_dir(environ)
    try:
        assert made and created.is_dir() and environ["PROMETHEUS_MULTIPROC_DIR"] == str(created)
        assert not any(created.iterdir())
    finally:
        created.rmdir()
    run_worker(tmp_path, connections=1, uptime=1)
    (tmp_path / "notes.txt").write_text("not ours")
    assert list(tmp_path.glob("*.db"))
    environ = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    assert prepare_multiprocess_dir(environ) == (tmp_path, False)
    assert not list(tmp_path.glob("*.db")), "an earlier run's samples are gone"
    assert (tmp_path / "notes.txt").exists()
    nested = tmp_path / "a" / "b"
    assert prepare_multiprocess_dir({"PROMETHEUS_MULTIPROC_DIR": str(nested)}) == (nested,
                                                                                    False)
    assert nested.is_dir()
