"""``adstack-loadtest``: hold N clients on a gateway and measure what they receive."""

from __future__ import annotations

import argparse
import os

from adstack_bench.clients import Window, WorkerConfig
from adstack_bench.fleet import Fleet, server_rss
from adstack_bench.stats import fmt

DEFAULT_CONTRACTS = [
    "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager",
    "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.auction-engine",
]


def summary(clients: int, connect: Window, run: Window, rss: int | None) -> str:
    """The end-of-run report shared by the load and stress tools."""
    rate = run.events / run.seconds if run.seconds else 0.0
    return "\n".join([
        f"clients          {run.connected}/{clients} connected at the end "
        f"({connect.connect_errors} connect errors)",
        f"connect latency  {fmt(connect.connect)}",
        f"events received  {run.events:,} ({rate:,.0f}/s over {run.seconds:.1f} s; fewest "
        f"per client {run.min_client_events or 0:,}, most {run.max_client_events:,})",
        f"end-to-end       {fmt(run.latency)}",
        f"errors           {run.errors}",
        f"disconnects      {run.disconnects + connect.disconnects}",
        f"server RSS       {f'{rss / 1e6:.1f} MB' if rss else 'n/a (gateway not on this host)'}",
    ])


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="ws://127.0.0.1:3002/ws",
                        help="gateway /ws URL (Socket.IO: the same host and port)")
    parser.add_argument("--transport", choices=["ws", "sio"], default="ws",
                        help="native /ws or Socket.IO (Engine.IO over WebSocket)")
    parser.add_argument("--contract", action="append", dest="contracts",
                        help="contract to subscribe to (repeatable; default: two AdStack "
                        "devnet contracts)")
    parser.add_argument("--event-type", action="append", dest="event_types")
    parser.add_argument("--token", default=os.environ.get("ADSTACK_TOKEN"),
                        help="client JWT (default $ADSTACK_TOKEN; none with SKIP_AUTH)")
    parser.add_argument("--procs", type=int, default=2, help="client processes")


def config(args: argparse.Namespace) -> WorkerConfig:
    return WorkerConfig(url=args.url, contracts=args.contracts or DEFAULT_CONTRACTS,
                        event_types=args.event_types, transport=args.transport,
                        token=args.token)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="adstack-loadtest",
        description="Connect --clients clients to a gateway over --ramp-up seconds, keep them "
        "subscribed for --duration seconds, print progress every second, and report connect "
        "latency, events received, end-to-end latency (from the ingester's publishedAt "
        "stamp), errors, disconnects and the server's RSS.")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds after ramp-up")
    parser.add_argument("--ramp-up", type=float, default=5.0, help="seconds to connect all")
    add_common(parser)
    args = parser.parse_args(argv)
    with Fleet(config(args), min(max(1, args.procs), max(1, args.clients))) as fleet:
        print(f"== connecting {args.clients} {args.transport} clients to {args.url} ==",
              flush=True)
        connect = fleet.connect(args.clients, args.ramp_up, progress=_print)
        print(f"== holding for {args.duration:.0f} s ==", flush=True)
        run = fleet.measure(args.duration, progress=_print)
        rss = server_rss(args.url)
    print("\n== summary ==")
    print(summary(args.clients, connect, run, rss))


def _print(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    main()
