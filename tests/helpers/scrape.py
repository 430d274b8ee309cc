"""Scraping ``/metrics`` of a real process and comparing two scrapes."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(base_url: str) -> Samples:
    """Every sample of ``GET <base_url>/metrics``, keyed by (name, labels)."""
    response = httpx.get(f"{base_url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample with exactly these labels; 0 when absent (a series not yet created)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of every sample of ``name`` whose labels include ``labels``."""
    wanted = labels.items()
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= dict(ls).items())


def deltas(before: Samples, after: Samples, prefix: str = "adstack_") -> dict[str, float]:
    """Every series (``name{a="x"}``) under ``prefix`` whose value changed, and by how much.

    Counter ``_created`` timestamps and the uptime clock (a counter, as the original declared
    it: Python's parser reads it as ``…_total``) are left out; series new in ``after`` count
    from 0.
    """
    out: dict[str, float] = {}
    for key, now in after.items():
        name, labels = key
        if (not name.startswith(prefix) or name.endswith("_created")
                or name.startswith("adstack_uptime_seconds")):
            continue
        change = now - before.get(key, 0.0)
        if change:
            rendered = ",".join(f'{k}="{v}"' for k, v in sorted(labels))
            out[f"{name}{{{rendered}}}" if rendered else name] = change
    return out


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0,
               what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
