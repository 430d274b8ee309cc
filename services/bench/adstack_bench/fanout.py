"""``make bench``: the fan-out benchmark on loopback, written to docs/performance.md.

Full path: simulated devnet at R events/s → ingester → Redis → gateway process(es) → N
clients in separate processes. For each N it raises R until the p99 end-to-end latency
(ingester stamp → client receipt) exceeds the budget or clients stop receiving everything,
and reports the best passing rate. It also measures RSS per idle connection and one
gateway process against two.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from adstack_bench.clients import WorkerConfig
from adstack_bench.runner import Result, run
from adstack_bench.system import System

SCALING_N = 1000

CONTRACTS = [
    "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager",
    "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.auction-engine",
    "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.bridge-adapter",
    "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.payment-processor",
    "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.governance-core",
]


@dataclass
class Trial:
    clients: int
    rate: float
    delivered: float
    expected: float
    result: Result

    @property
    def p99(self) -> float:
        return self.result.latency.percentile(99)

    def passed(self, budget_ms: float) -> bool:
        return (self.result.connected == self.clients and self.p99 <= budget_ms
                and self.delivered >= 0.95 * self.expected and self.result.disconnects == 0)


def raise_fd_limit(n: int = 65536) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, min(n, hard) if hard != resource.RLIM_INFINITY else n)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(target, n), max(hard, n)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def trial(system: System, clients: int, rate: float, *, duration: float, procs: int,
          transport: str = "ws") -> Trial:
    system.start_devnet(rate)
    try:
        urls = system.ws_urls
        cfg = WorkerConfig(url=urls[0], clients=clients, ramp_up=max(1.0, clients / 1500),
                           duration=duration, contracts=CONTRACTS, transport=transport)
        # Worker processes are spread over the gateways (several gateways: one each).
        result = run(cfg, max(procs, len(urls)), progress=False, urls=urls)
    finally:
        system.stop_devnet()
    expected = clients * rate
    return Trial(clients, rate, result.events_per_second, expected, result)


def search(system: System, clients: int, *, start_delivered: float, budget_ms: float,
           duration: float, procs: int, step: float = 1.3, max_trials: int = 7,
           transport: str = "ws", log: list[str]) -> Trial | None:
    best: Trial | None = None
    delivered = start_delivered
    for _ in range(max_trials):
        t = trial(system, clients, delivered / clients, duration=duration, procs=procs,
                  transport=transport)
        line = (f"N={clients:>5} {transport} rate={t.rate:8.1f} ev/s  expected "
                f"{t.expected:>9,.0f}/s  delivered {t.delivered:>9,.0f}/s  "
                f"p50 {t.result.latency.percentile(50):6.1f} ms  p99 {t.p99:6.1f} ms  "
                f"{'PASS' if t.passed(budget_ms) else 'fail'}")
        print(line, flush=True)
        log.append(line)
        if not t.passed(budget_ms):
            break
        best = t
        delivered *= step
    return best


def idle_rss(system: System, connections: int, procs: int) -> tuple[int, int, int]:
    """(RSS before, RSS after, connections held) of the first gateway."""
    gateway = system.gateways[0]
    time.sleep(1.0)
    before = gateway.rss()
    cfg = WorkerConfig(url=system.ws_urls[0], clients=connections,
                       ramp_up=max(2.0, connections / 2000), duration=4.0,
                       contracts=CONTRACTS[:1], idle=False)
    holder: dict[str, int] = {}

    def on_progress(conn: int, _events: int, _window: object) -> None:
        if conn >= connections and "after" not in holder:
            holder["after"] = gateway.rss()
            holder["conn"] = conn

    result = run(cfg, procs, progress=False, on_progress=on_progress)
    after = holder.get("after", gateway.rss())
    return before, after, holder.get("conn", result.connected)


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
    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Linux "
            f"{platform.release()}, Python {platform.python_version()}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="adstack-bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="a seconds-long smoke run (CI): small N, one trial each")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per trial")
    parser.add_argument("--budget-ms", type=float, default=50.0)
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections for RSS")
    parser.add_argument("--output", default="docs/performance.md")
    parser.add_argument("--transport", choices=["ws", "sio", "both"], default="both")
    args = parser.parse_args(argv)
    raise_fd_limit()
    log_dir = Path(tempfile.mkdtemp(prefix="adstack-bench-"))
    lines: list[str] = []
    rows: list[str] = []
    plan = ([(100, 2_000.0, 1)] if args.quick else
            [(100, 40_000.0, 1), (1000, 50_000.0, 2), (5000, 25_000.0, 2)])
    transports = ["ws", "sio"] if args.transport == "both" else [args.transport]
    scaling_n = 100 if args.quick else SCALING_N
    system = System(log_dir / "one")
    try:
        for transport in transports:
            for clients, start, procs in plan:
                if transport == "sio" and clients > 1000:
                    continue
                best = search(system, clients, start_delivered=start / (3 if transport == "sio"
                                                                        else 1),
                              budget_ms=args.budget_ms, duration=args.duration, procs=procs,
                              max_trials=1 if args.quick else 7, transport=transport,
                              log=lines)
                if best is None:
                    rows.append(f"| {transport} | {clients:,} | — | — | — | none passed |")
                else:
                    rows.append(
                        f"| {transport} | {clients:,} | {best.rate:,.0f} | "
                        f"{best.delivered:,.0f} | {best.result.latency.percentile(50):.1f} | "
                        f"{best.p99:.1f} |")
        idle_n = 200 if args.quick else args.idle
        before, after, held = idle_rss(system, idle_n, 2)
        memory = Memory(before, after, held)
        scaling: list[str] = []
        one = search(system, scaling_n, start_delivered=40_000.0, budget_ms=args.budget_ms,
                     duration=args.duration, procs=2, max_trials=1 if args.quick else 7,
                     log=lines)
        scaling.append(f"| 1 | {one.delivered:,.0f} | {one.p99:.1f} |" if one else "| 1 | — | — |")
    finally:
        system.stop()
    two_system = System(log_dir / "two", gateways=2)
    try:
        two = search(two_system, scaling_n, start_delivered=40_000.0, budget_ms=args.budget_ms,
                     duration=args.duration, procs=2, max_trials=1 if args.quick else 8,
                     log=lines)
        scaling.append(f"| 2 | {two.delivered:,.0f} | {two.p99:.1f} |" if two else "| 2 | — | — |")
    finally:
        two_system.stop()
    write_report(Path(args.output), rows=rows, lines=lines, memory=memory, scaling=scaling,
                 scaling_n=scaling_n, args=args)


@dataclass
class Memory:
    before: int
    after: int
    held: int

    @property
    def per_connection(self) -> float:
        return (self.after - self.before) / max(1, self.held)


def write_report(path: Path, *, rows: list[str], lines: list[str], memory: Memory,
                 scaling: list[str], scaling_n: int, args: argparse.Namespace) -> None:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=False).stdout.strip()
    except OSError:
        commit = "?"
    text = f"""# Performance

Measured by `make bench` (`python -m adstack_bench.fanout`) on {time.strftime('%Y-%m-%d')},
commit `{commit}`, on {machine()}.
Everything runs on this one machine over loopback: valkey, the ingester, the gateway,
the simulated devnet and the client processes share the cores, so the figures are a floor
for a gateway with a core of its own.

Path: devnet → ingester (decode, Lua publish) → Redis pub/sub → **one gateway process** →
N clients (raw WebSocket clients in separate processes, every client subscribed to all
five AdStack contracts, so every event goes to every client). Latency is end to end: from
the ingester's `publishedAt` stamp to receipt by the client. A rate passes if every client
stays connected, receives ≥ 95 % of what was published and p99 ≤ {args.budget_ms:.0f} ms.

## Fan-out: highest passing rate per audience

| transport | clients N | events/s in | delivered events/s | p50 ms | p99 ms |
|---|---|---|---|---|---|
{chr(10).join(rows)}

## Memory

{memory.held:,} idle subscribed connections on one gateway: RSS {memory.before / 1e6:.1f} MB →
{memory.after / 1e6:.1f} MB, **{memory.per_connection / 1024:.1f} KB per connection**.

## One gateway process against two (N = {scaling_n:,}, same machine)

| gateways | highest passing delivered events/s | p99 ms |
|---|---|---|
{chr(10).join(scaling)}

## Trials

```
{chr(10).join(lines)}
```

## Reproduce

```sh
make bench            # full run, a few minutes; rewrites this file
make bench-smoke      # seconds-long smoke run (what CI runs)
```
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
