"""``make bench``: the fan-out benchmark on loopback, written to docs/performance.md.

Full path: simulated devnet at R events/s → ingester → Redis → gateway process(es) → N
clients in separate processes. For each N the clients connect once; the devnet's pace then
rises ×1.25 per step until a step fails (p99 end-to-end latency over the budget, a client
missing events, an error or a disconnect), is bisected twice between the last pass and the
first failure, and the best rate is confirmed with a longer step. It also measures the
ingester alone, RSS per idle connection, the issue's target rates, and two gateway
processes against one.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from adstack_bench import floor
from adstack_bench.clients import WorkerConfig
from adstack_bench.fleet import Fleet, cpu_seconds_of, rss_of
from adstack_bench.report import (
    FLOOR_BYTES,
    Memory,
    Report,
    Scaling,
    TargetCheck,
    commit,
    from_json,
    merge,
    to_json,
    write_report,
)
from adstack_bench.step import Step, Summary
from adstack_bench.system import System, ingest_throughput, raise_fd_limit

CONTRACTS = [
    "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager",
    "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.auction-engine",
    "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.bridge-adapter",
    "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.payment-processor",
    "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.governance-core",
]

START_RATES = {("ws", 100): 60_000.0, ("ws", 1000): 60_000.0, ("ws", 5000): 10_000.0,
               ("sio", 100): 60_000.0, ("sio", 1000): 60_000.0, ("sio", 5000): 10_000.0}
"""First delivered events/s tried per (transport, N)."""

Log = Callable[[str], None]

def machine_busy() -> tuple[float, float]:
    """(busy jiffies, total jiffies) of all CPUs, from /proc/stat."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


class Bench:
    def __init__(self, args: argparse.Namespace, log: Log, log_dir: Path, report: Report,
                 gateway_env: dict[str, str]) -> None:
        self.args = args
        self.log = log
        self.log_dir = log_dir
        self.report = report
        self.gateway_env = gateway_env
        self.trials: list[str] = []
        self.foreign: list[float] = []
        """Other work's CPU during each step (cores)."""

    def step(self, system: System, fleet: Fleet, target: float, seconds: float,
             transport: str) -> Step:
        """Measure ``target`` delivered events/s; a failure while other work took more than
        a fifth of a core is measured once more (it says more about the neighbours)."""
        step = self._step(system, fleet, target, seconds, transport)
        if step.failure(self.args.budget_ms) is not None and step.foreign_cpu > 0.2:
            self.log("   (busy machine: measuring that step again)")
            step = self._step(system, fleet, target, seconds, transport)
        return step

    def _step(self, system: System, fleet: Fleet, target: float, seconds: float,
              transport: str) -> Step:
        clients = fleet.clients
        system.set_rate(target / clients)
        time.sleep(self.args.warmup)
        pids = [gw.pid for gw in system.gateways]
        client_pids = fleet.pids
        own_pids = [*system.pids, *client_pids, os.getpid()]  # the gateways are in system.pids
        own0 = {pid: cpu_seconds_of(pid) or 0.0 for pid in own_pids}
        busy0, total0 = machine_busy()
        published0 = system.published()
        started = time.monotonic()
        window = fleet.measure(seconds)
        elapsed = time.monotonic() - started
        published = system.published() - published0
        busy1, total1 = machine_busy()
        used = {pid: (cpu_seconds_of(pid) or 0.0) - c for pid, c in own0.items()}
        cpu = sum(used[pid] for pid in pids)
        client_cpu = sum(used[pid] for pid in client_pids)
        own = sum(used.values())
        system.set_rate(0)
        machine = (busy1 - busy0) / max(1, total1 - total0)
        foreign = max(0.0, machine * (os.cpu_count() or 1) - own / elapsed)
        step = Step(clients, target, window, published, cpu / elapsed, machine,
                    client_cpu / elapsed, foreign)
        self.foreign.append(foreign)
        line = step.line(transport, self.args.budget_ms)
        self.log(line)
        self.trials.append(line)
        self.settle(fleet)
        reopened = fleet.repair()
        if reopened:
            # An overloaded step: the gateway closed clients that fell too far behind
            # (4001 SLOW), as it should. Later steps need the whole audience again.
            self.log(f"   ({reopened} clients closed as too slow; reconnected)")
            self.trials.append(f"   ({reopened} clients closed as too slow; reconnected)")
        return step

    def settle(self, fleet: Fleet, limit: float = 15.0) -> None:
        """Wait until nothing is in flight any more (after an overloaded step)."""
        started = time.monotonic()
        time.sleep(0.3)
        fleet.take()
        while time.monotonic() - started < limit:
            time.sleep(0.3)
            if fleet.take().events == 0:
                return

    def search(self, system: System, fleet: Fleet, transport: str, start: float) -> Step | None:
        """Highest passing delivered rate: ×1.25 steps, two bisections, a confirmation."""
        best, failed = self._climb(system, fleet, transport, start)
        if best is None and failed is not None:
            best, failed = self._descend(system, fleet, transport, failed)
        if best is None:
            return None
        if failed is not None and not self.args.quick:
            best = self._bisect(system, fleet, transport, best, failed)
        if self.args.quick:
            return best
        return self._confirm(system, fleet, transport, best.target)

    def _passes(self, system: System, fleet: Fleet, transport: str, rate: float,
                seconds: float) -> Step | None:
        """One step at ``rate``: the step if it met the budget, else None."""
        step = self.step(system, fleet, rate, seconds, transport)
        return step if step.failure(self.args.budget_ms) is None else None

    def _climb(self, system: System, fleet: Fleet, transport: str,
               start: float) -> tuple[Step | None, float | None]:
        """×1.25 from ``start`` until a step fails: (last passing step, first failed rate)."""
        best: Step | None = None
        rate = start
        for _ in range(self.args.max_steps):
            step = self._passes(system, fleet, transport, rate, self.args.duration)
            if step is None:
                return best, rate
            best = step
            rate *= 1.25
        return best, None

    def _descend(self, system: System, fleet: Fleet, transport: str,
                 failed: float) -> tuple[Step | None, float]:
        """The first rate failed: come down ×0.7 instead, to one event per second at least
        (below that a step holds too few events to judge)."""
        rate = failed
        for _ in range(self.args.max_steps):
            rate *= 0.7
            if rate < fleet.clients:
                break
            step = self._passes(system, fleet, transport, rate, self.args.duration)
            if step is not None:
                return step, failed
            failed = rate
        return None, failed

    def _bisect(self, system: System, fleet: Fleet, transport: str, best: Step,
                failed: float) -> Step:
        """Two bisections between the best passing step and the lowest failed rate."""
        low, high = best.target, failed
        for _ in range(2):
            mid = (low + high) / 2
            step = self._passes(system, fleet, transport, mid, self.args.duration)
            if step is not None:
                best, low = step, mid
            else:
                high = mid
        return best

    def _confirm(self, system: System, fleet: Fleet, transport: str,
                 rate: float) -> Step | None:
        """A longer step at ``rate`` (×0.85 on failure, three tries) confirms the result."""
        for _ in range(3):
            step = self._passes(system, fleet, transport, rate, self.args.confirm)
            if step is not None:
                return step
            rate *= 0.85
        return None

    def fleet(self, url: str | list[str], transport: str, clients: int, *,
              subscribe: bool = True, contracts: list[str] | None = None) -> Fleet:
        urls = url if isinstance(url, list) else [url]
        cfg = WorkerConfig(url=urls[0], contracts=contracts or CONTRACTS, transport=transport,
                           subscribe=subscribe)
        fleet = Fleet(cfg, max(self.args.procs, len(urls)), urls=urls)
        connect = fleet.connect(clients, max(1.0, clients / self.args.connect_rate),
                                progress=self.log if clients >= 2000 else None)
        if connect.connected < clients:
            self.log(f"only {connect.connected}/{clients} clients connected "
                     f"({connect.connect_errors} errors)")
        return fleet

    def ingest(self) -> None:
        """The ingester alone, fed over HTTP as fast as it answers."""
        args, log_dir, report, log = self.args, self.log_dir, self.report, self.log
        blocks = 6 if args.quick else 150
        events, seconds, cpu = ingest_throughput(log_dir / "ingest", blocks=blocks)
        report.ingest = (events, seconds, cpu)
        log(f"ingester: {events:,} events in {seconds:.2f} s = {events / seconds:,.0f} events/s "
            f"({cpu / seconds:.0%} of a core)")

    def floor(self, sizes: list[int]) -> None:
        """The bare send-loop fan-out to each audience (the machine's kernel floor)."""
        rounds = 1 if self.args.quick else 5
        for clients in sizes:
            result = floor.measure(clients, procs=self.args.procs, rounds=rounds,
                                   size=FLOOR_BYTES)
            self.report.floor.append(result)
            self.log(f"floor: N={clients:,}: bare send loop reaches the last socket after "
                     f"{result.last_ms:.1f} ms ({result.us_per_send:.1f} µs per send alone)")

    def memory(self) -> None:
        """RSS per idle connection, on a fresh gateway."""
        args, log_dir, report, log, bench = self.args, self.log_dir, self.report, self.log, self
        gateway_env = self.gateway_env
        system = System(log_dir / "memory", contracts=CONTRACTS, gateway_env=gateway_env,
                        devnet=False)
        settle = 0.3 if args.quick else 2.0
        try:
            time.sleep(settle)
            pid = system.gateways[0].pid
            before = rss_of(pid) or 0
            log(f"memory: connecting {args.idle:,} idle clients")
            fleet = bench.fleet(system.ws_urls[0], "ws", args.idle, contracts=CONTRACTS[:1])
            time.sleep(settle)
            after = rss_of(pid) or 0
            held = fleet.take().connected
            fleet.close()
            report.memory = Memory(before, after, held)
            log(f"memory: {held:,} connections, RSS {before / 1e6:.1f} → {after / 1e6:.1f} MB, "
                f"{report.memory.per_connection / 1024:.1f} KiB each")
        finally:
            system.stop()

    def fanout(self, sizes: list[int], transports: list[str]) -> None:
        """The highest passing rate per transport and N on one gateway, and the targets."""
        args, log_dir, report, log, bench = self.args, self.log_dir, self.report, self.log, self
        gateway_env = self.gateway_env
        system = System(log_dir / "one", contracts=CONTRACTS, gateway_env=gateway_env)
        try:
            for transport in transports:
                for clients in sizes:
                    log(f"fan-out: {transport} N={clients}")
                    with bench.fleet(system.ws_urls[0], transport, clients) as fleet:
                        start = args.start or START_RATES.get((transport, clients), 20_000.0)
                        if args.quick:
                            start = 5_000.0
                        best = bench.search(system, fleet, transport, start)
                        report.fanout.append((transport, clients, self.summary(best)))
                        target = {1000: (95_000.0, 25.0), 5000: (47_500.0, 50.0)}.get(clients)
                        if transport == "ws" and target is not None and not args.quick:
                            step = bench.step(system, fleet, target[0], args.confirm, transport)
                            report.targets.append(TargetCheck(clients, target[0], target[1],
                                                              Summary.of(step, target[1])))
        finally:
            system.stop()

    def summary(self, step: Step | None) -> Summary | None:
        return None if step is None else Summary.of(step, self.args.budget_ms)

    def scaling(self) -> None:
        """Two gateway processes against one (same total N, same search)."""
        args, log_dir, report, log, bench = self.args, self.log_dir, self.report, self.log, self
        gateway_env = self.gateway_env
        scaling_n = 100 if args.quick else 1000
        one = next((s for t, n, s in report.fanout if t == "ws" and n == scaling_n), None)
        if one is None:
            system = System(log_dir / "scale1", contracts=CONTRACTS, gateway_env=gateway_env)
            try:
                with bench.fleet(system.ws_urls[0], "ws", scaling_n) as fleet:
                    one = self.summary(bench.search(system, fleet, "ws",
                                                    START_RATES[("ws", 1000)]))
            finally:
                system.stop()
        system = System(log_dir / "scale2", gateways=2, contracts=CONTRACTS,
                        gateway_env=gateway_env)
        try:
            log(f"scaling: 2 gateways, N={scaling_n}")
            with bench.fleet(system.ws_urls, "ws", scaling_n) as fleet:
                start = one.target * 1.25 if one is not None else 60_000.0
                two = self.summary(bench.search(system, fleet, "ws", start))
            sharded = None
            if not args.quick:
                # The 5,000-client target once more, the audience split over two processes.
                log("scaling: 5,000 clients over 2 gateways at 47,500 events/s")
                with bench.fleet(system.ws_urls, "ws", 5000) as fleet:
                    sharded = self.summary(bench.step(system, fleet, 47_500.0, args.confirm,
                                                      "ws"))
        finally:
            system.stop()
        report.scaling = Scaling(scaling_n, one, two, sharded)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="adstack-bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a seconds-long smoke run (CI): N=100, one step per measurement")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per search step")
    parser.add_argument("--confirm", type=float, default=8.0,
                        help="seconds of the step that confirms the best rate")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="seconds at a new rate before measuring")
    parser.add_argument("--max-steps", type=int, default=10)
    parser.add_argument("--budget-ms", type=float, default=50.0,
                        help="p99 end-to-end latency a passing step must stay under")
    parser.add_argument("--sizes", default="100,1000,5000", help="audiences N to search")
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections for RSS")
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--connect-rate", type=float, default=1000.0,
                        help="new connections per second while connecting")
    parser.add_argument("--transport", choices=["ws", "sio", "both"], default="both")
    parser.add_argument("--phases", default="ingest,floor,memory,fanout,scaling",
                        help="comma-separated subset of ingest,floor,memory,fanout,scaling")
    parser.add_argument("--start", type=float, default=0.0,
                        help="first delivered events/s of every search (default: per N)")
    parser.add_argument("--output", default="docs/performance.md")
    parser.add_argument("--json", metavar="FILE", help="also save this run's figures as JSON")
    parser.add_argument("--merge", nargs="+", metavar="FILE",
                        help="measure nothing: write --output from runs saved with --json, "
                        "each figure the median run's")
    parser.add_argument("--gateway-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the gateways (A/B runs)")
    args = parser.parse_args(argv)
    if args.merge:
        merged = merge([from_json(Path(f).read_text()) for f in args.merge])
        write_report(Path(args.output), merged)
        left_out = f"; left out: {len(merged.dropped)}" if merged.dropped else ""
        print(f"wrote {args.output} (median of {merged.runs} runs{left_out})")
        return
    if args.quick:
        args.sizes, args.idle, args.max_steps = "100", 200, 1
        args.duration, args.confirm, args.warmup = min(args.duration, 1.0), 1.0, 0.3
    raise_fd_limit()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    transports = ["ws", "sio"] if args.transport == "both" else [args.transport]
    gateway_env = dict(item.split("=", 1) for item in args.gateway_env)
    log_dir = Path(tempfile.mkdtemp(prefix="adstack-bench-"))

    def log(line: str) -> None:
        print(line, flush=True)

    report = Report(started=time.time(), load_before=loadavg(), budget_ms=args.budget_ms,
                    quick=args.quick, gateway_env=gateway_env, commit=commit())
    bench = Bench(args, log, log_dir, report, gateway_env)
    log(f"load average before: {report.load_before} (quiet: 1-min < 0.8); logs in {log_dir}")

    phases = set(args.phases.split(","))
    if "ingest" in phases:
        bench.ingest()
    if "floor" in phases:
        bench.floor(sizes)
    if "memory" in phases:
        bench.memory()
    if "fanout" in phases:
        bench.fanout(sizes, transports)
    if "scaling" in phases:
        bench.scaling()
    report.trials = bench.trials
    report.foreign_cpu = sum(bench.foreign) / len(bench.foreign) if bench.foreign else 0.0
    report.load_after = loadavg()
    write_report(Path(args.output), report)
    if args.json:
        Path(args.json).write_text(to_json(report))
    log(f"load average after: {report.load_after}; wrote {args.output}")


__all__ = ["CONTRACTS", "Step", "main"]

if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
