"""``adstack-loadtest``: hold N clients on a gateway and measure what they receive."""

from __future__ import annotations

import argparse
import os

from adstack_bench.clients import WorkerConfig
from adstack_bench.runner import run

DEFAULT_CONTRACTS = [
    "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager",
    "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.auction-engine",
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="adstack-loadtest",
        description="Connect --clients clients to a gateway over --ramp-up seconds, keep them "
        "subscribed for --duration seconds, and report connect latency, events received, "
        "end-to-end latency (from the ingester's publishedAt stamp), errors, disconnects "
        "and the server's RSS.")
    parser.add_argument("--url", default="ws://127.0.0.1:3002/ws",
                        help="gateway URL (ws://…/ws; with --transport sio the same host)")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds after ramp-up")
    parser.add_argument("--ramp-up", type=float, default=5.0, help="seconds to connect all")
    parser.add_argument("--transport", choices=["ws", "sio"], default="ws")
    parser.add_argument("--contract", action="append", dest="contracts")
    parser.add_argument("--event-type", action="append", dest="event_types")
    parser.add_argument("--token", default=os.environ.get("ADSTACK_TOKEN"))
    parser.add_argument("--procs", type=int, default=1, help="client processes")
    args = parser.parse_args(argv)
    cfg = WorkerConfig(url=args.url, clients=args.clients, ramp_up=args.ramp_up,
                       duration=args.duration, contracts=args.contracts or DEFAULT_CONTRACTS,
                       event_types=args.event_types, transport=args.transport,
                       token=args.token)
    result = run(cfg, max(1, args.procs))
    print("\n== summary ==")
    print(result.summary())


if __name__ == "__main__":
    main()
