"""``adstack-stress``: add clients step by step until errors or latency break a threshold."""

from __future__ import annotations

import argparse

from adstack_bench.fleet import Fleet, server_rss
from adstack_bench.loadtest import _print, add_common, config, summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="adstack-stress",
        description="Start with --start clients and add --increment more per step up to --max, "
        "holding each step for --step-duration seconds (connections stay open between "
        "steps). Stop at the first step whose error rate or p99 end-to-end latency breaks "
        "the threshold, and report the last good step.")
    parser.add_argument("--start", type=int, default=100)
    parser.add_argument("--increment", type=int, default=100)
    parser.add_argument("--max", type=int, default=2000)
    parser.add_argument("--step-duration", type=float, default=10.0)
    parser.add_argument("--max-p99-ms", type=float, default=250.0)
    parser.add_argument("--max-error-rate", type=float, default=0.01,
                        help="(connect errors + error frames + disconnects) / clients")
    parser.add_argument("--ramp-rate", type=float, default=500.0,
                        help="new connections per second within a step")
    add_common(parser)
    args = parser.parse_args(argv)
    last_good: tuple[int, float, float] | None = None
    target = args.start
    failures = 0
    with Fleet(config(args), max(1, args.procs)) as fleet:
        while target <= args.max:
            print(f"\n== step: {target} clients ==", flush=True)
            add = target - fleet.clients
            connect = fleet.connect(add, add / args.ramp_rate, progress=_print)
            run = fleet.measure(args.step_duration, progress=_print)
            print(summary(target, connect, run, server_rss(args.url)), flush=True)
            failures += connect.connect_errors + run.errors + run.disconnects
            error_rate = failures / max(1, target)
            p99 = run.latency.percentile(99)
            if error_rate > args.max_error_rate or p99 > args.max_p99_ms:
                print(f"\nbroke at {target} clients: error rate {error_rate:.2%}, "
                      f"p99 {p99:.1f} ms (limits {args.max_error_rate:.2%}, "
                      f"{args.max_p99_ms} ms)")
                break
            rate = run.events / run.seconds if run.seconds else 0.0
            last_good = (target, rate, p99)
            target += args.increment
    if last_good is None:
        print("\nno step passed the thresholds")
    else:
        print(f"\nlast good step: {last_good[0]} clients, {last_good[1]:,.0f} events/s, "
              f"p99 {last_good[2]:.1f} ms")


if __name__ == "__main__":
    main()
