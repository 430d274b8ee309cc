"""One measured rate of the fan-out benchmark, and whether it passed."""

from __future__ import annotations

from dataclasses import dataclass

from adstack_bench.clients import Window


@dataclass
class Step:
    """One measured rate on a connected fleet."""

    clients: int
    target: float
    """Delivered events/s asked for (devnet rate × N)."""
    window: Window
    published: int
    gateway_cpu: float
    """Gateway CPU seconds per second of the step (1.0 = one core busy), all gateways."""
    machine_cpu: float
    """Busy fraction of the whole machine during the step (0–1)."""
    client_cpu: float = 0.0
    """Client processes' CPU seconds per second of the step (the load generator's cost)."""
    foreign_cpu: float = 0.0
    """CPU seconds per second used by processes outside the benchmark (other work on a
    shared machine: a step with much of it measures the neighbours, not the gateway)."""

    @property
    def delivered(self) -> float:
        return self.window.events / self.window.seconds if self.window.seconds else 0.0

    @property
    def p50(self) -> float:
        return self.window.latency.percentile(50)

    @property
    def p99(self) -> float:
        return self.window.latency.percentile(99)

    @property
    def missing(self) -> int:
        """Events the worst-served client lacks against those published in the step,
        beyond what the step's edges explain (events in flight when it starts or ends)."""
        slack = max(2, int(0.02 * self.published))
        return max(0, self.published - slack - (self.window.min_client_events or 0))

    def failure(self, budget_ms: float) -> str | None:
        """Why the step failed, or None if it passed."""
        w = self.window
        if w.connected < self.clients:
            return f"{self.clients - w.connected} clients disconnected"
        if w.errors or w.disconnects:
            return f"{w.errors} errors, {w.disconnects} disconnects"
        if self.published <= 0 or w.events == 0:
            return "nothing delivered"
        if self.missing:
            return (f"a client got {self.window.min_client_events or 0} of "
                    f"{self.published} events")
        if self.delivered < 0.9 * self.target:
            return f"delivered {self.delivered:,.0f}/s of {self.target:,.0f}/s"
        if self.p99 > budget_ms:
            return f"p99 {self.p99:.1f} ms > {budget_ms:.0f} ms"
        return None

    def line(self, transport: str, budget_ms: float) -> str:
        why = self.failure(budget_ms)
        return (f"N={self.clients:>5} {transport:<3} target {self.target:>9,.0f}/s  "
                f"delivered {self.delivered:>9,.0f}/s  p50 {self.p50:6.1f} ms  "
                f"p99 {self.p99:6.1f} ms  max {self.window.latency.max_ms:7.1f} ms  "
                f"gateway CPU {self.gateway_cpu:4.0%}  clients {self.client_cpu:4.0%}  "
                f"machine {self.machine_cpu:4.0%}  others {self.foreign_cpu:4.0%}  "
                f"{'PASS' if why is None else 'fail: ' + why}")


@dataclass
class Summary:
    """What a report keeps of a step: plain numbers (JSON-able), the outcome, and the
    delivered rate of every run it is the median of."""

    clients: int
    target: float
    delivered: float
    p50: float
    p99: float
    max_ms: float
    gateway_cpu: float
    client_cpu: float
    machine_cpu: float
    events_in: float
    failure: str | None
    runs: list[float]
    """Delivered events/s of each run (one entry for a single run)."""
    p99_runs: list[float]
    foreign_cpu: float = 0.0

    @classmethod
    def of(cls, step: Step, budget_ms: float) -> Summary:
        w = step.window
        return cls(clients=step.clients, target=step.target, delivered=step.delivered,
                   p50=step.p50, p99=step.p99, max_ms=w.latency.max_ms,
                   gateway_cpu=step.gateway_cpu, client_cpu=step.client_cpu,
                   machine_cpu=step.machine_cpu,
                   events_in=step.published / w.seconds if w.seconds else 0.0,
                   failure=step.failure(budget_ms), runs=[step.delivered],
                   p99_runs=[step.p99], foreign_cpu=step.foreign_cpu)
