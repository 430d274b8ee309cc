"""The fan-out benchmark's rate search (``Bench.search``) against a system of known capacity:
which rates it tries, for how long, and what it reports."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from adstack_bench.clients import Window
from adstack_bench.fanout import Bench
from adstack_bench.step import Step


class _Measured(Step):
    """A step of a system that delivers any rate up to ``capacity`` within the budget."""

    capacity = 0.0

    def failure(self, budget_ms: float) -> str | None:
        return None if self.target <= self.capacity else "over capacity"


class _Fleet:
    clients = 100


class _Bench(Bench):
    """The real search over a system whose steps pass up to ``capacity`` events/s."""

    def __init__(self, capacity: float, *, quick: bool) -> None:
        args = argparse.Namespace(budget_ms=100.0, max_steps=8, duration=1.0, confirm=5.0,
                                  quick=quick)
        super().__init__(args, print, Path("."), None, {})  # type: ignore[arg-type]
        self.capacity = capacity
        self.tried: list[tuple[float, float]] = []

    def step(self, system: Any, fleet: Any, target: float, seconds: float,
             transport: str) -> Step:
        self.tried.append((round(target, 3), seconds))
        step = _Measured(clients=100, target=target, window=Window(), published=1,
                         gateway_cpu=0.0, machine_cpu=0.0)
        step.capacity = self.capacity
        return step


def search(capacity: float, *, quick: bool, start: float = 1000.0) -> tuple[Step | None, Any]:
    bench = _Bench(capacity, quick=quick)
    return bench.search(None, _Fleet(), "ws", start), bench.tried  # type: ignore[arg-type]


def test_climbs_by_a_quarter_until_a_step_fails_then_bisects_twice_and_confirms() -> None:
    best, tried = search(2000.0, quick=False)
    climb = [(1000.0, 1.0), (1250.0, 1.0), (1562.5, 1.0), (1953.125, 1.0), (2441.406, 1.0)]
    assert tried[:5] == climb
    # Two bisections between the best pass (1953.125) and the failure (2441.406).
    assert tried[5:7] == [(2197.266, 1.0), (2075.195, 1.0)]
    # Confirmed with a longer step at the best rate found.
    assert tried[7:] == [(1953.125, 5.0)]
    assert best is not None and best.target == pytest.approx(1953.125)


def test_quick_mode_stops_at_the_climb() -> None:
    best, tried = search(2000.0, quick=True)
    assert [seconds for _, seconds in tried] == [1.0] * 5
    assert best is not None and best.target == pytest.approx(1953.125)


def test_a_failing_start_comes_down_by_thirty_percent_but_not_below_the_fleet() -> None:
    best, tried = search(400.0, quick=True)
    assert [rate for rate, _ in tried] == [1000.0, 700.0, 490.0, 343.0]
    assert best is not None and best.target == pytest.approx(343.0)
    best, tried = search(50.0, quick=True)  # nothing passes above 100 clients' 1 event/s
    assert [rate for rate, _ in tried] == [1000.0, 700.0, 490.0, 343.0, 240.1, 168.07, 117.649]
    assert best is None


def test_a_confirmation_that_fails_comes_down_by_fifteen_percent_three_times() -> None:
    bench = _Bench(2000.0, quick=False)
    bench.capacity = 2000.0
    # The confirmation runs on a system that has since lost capacity.
    original = bench.step

    def slower(system: Any, fleet: Any, target: float, seconds: float,
               transport: str) -> Step:
        if seconds == 5.0:
            bench.capacity = 1500.0
        return original(system, fleet, target, seconds, transport)

    bench.step = slower  # type: ignore[method-assign]
    best = bench.search(None, _Fleet(), "ws", 1000.0)  # type: ignore[arg-type]
    assert [rate for rate, seconds in bench.tried if seconds == 5.0] == [
        1953.125, 1660.156, 1411.133]
    assert best is not None and best.target == pytest.approx(1411.133, abs=1e-3)
