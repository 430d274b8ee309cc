"""``adstack-stress``: add clients step by step until errors or latency break a threshold."""

from __future__ import annotations

import argparse
import os

from adstack_bench.clients import WorkerConfig
from adstack_bench.loadtest import DEFAULT_CONTRACTS
from adstack_bench.runner import run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="adstack-stress",
        description="Step the number of clients from --start by --increment up to --max, "
        "holding each step for --step-duration seconds; stop at the first step whose error "
        "rate or p99 latency breaks the threshold, and report the last good step.")
    parser.add_argument("--url", default="ws://127.0.0.1:3002/ws")
    parser.add_argument("--start", type=int, default=100)
    parser.add_argument("--increment", type=int, default=100)
    parser.add_argument("--max", type=int, default=2000)
    parser.add_argument("--step-duration", type=float, default=10.0)
    parser.add_argument("--max-p99-ms", type=float, default=250.0)
    parser.add_argument("--max-error-rate", type=float, default=0.01)
    parser.add_argument("--transport", choices=["ws", "sio"], default="ws")
    parser.add_argument("--contract", action="append", dest="contracts")
    parser.add_argument("--token", default=os.environ.get("ADSTACK_TOKEN"))
    parser.add_argument("--procs", type=int, default=1)
    args = parser.parse_args(argv)
    last_good: tuple[int, float, float] | None = None
    clients = args.start
    while clients <= args.max:
        print(f"\n== step: {clients} clients ==", flush=True)
        cfg = WorkerConfig(url=args.url, clients=clients, ramp_up=min(5.0, clients / 200),
                           duration=args.step_duration,
                           contracts=args.contracts or DEFAULT_CONTRACTS,
                           transport=args.transport, token=args.token)
        result = run(cfg, max(1, args.procs))
        print(result.summary(), flush=True)
        failures = result.connect_errors + result.errors + result.disconnects
        error_rate = failures / max(1, clients)
        p99 = result.latency.percentile(99)
        if error_rate > args.max_error_rate or p99 > args.max_p99_ms:
            print(f"\nbroke at {clients} clients: error rate {error_rate:.2%}, "
                  f"p99 {p99:.1f} ms (limits {args.max_error_rate:.2%}, {args.max_p99_ms} ms)")
            break
        last_good = (clients, result.events_per_second, p99)
        clients += args.increment
    if last_good is None:
        print("\nno step passed the thresholds")
    else:
        print(f"\nlast good step: {last_good[0]} clients, {last_good[1]:,.0f} events/s, "
              f"p99 {last_good[2]:.1f} ms")


if __name__ == "__main__":
    main()
