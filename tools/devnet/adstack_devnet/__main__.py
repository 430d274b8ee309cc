"""``adstack-devnet``: a stand-in Stacks node that POSTs ``/new_block`` to the ingester.

Like the real node it re-sends a block until it gets HTTP 200 (backoff from 100 ms,
doubling with jitter), so an ingester restart or a Redis outage loses nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import sys
import threading
import time
from types import FrameType
from typing import TextIO

import httpx

from adstack_devnet import DEFAULT_CONTRACTS
from adstack_devnet.chain import Block, Chain

log = logging.getLogger("adstack.devnet")

_stop = False


def _on_signal(_signum: int, _frame: FrameType | None) -> None:
    global _stop
    _stop = True


def contracts_from_env(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """The five seed contract variables, defaulting to the AdStack devnet deployer's."""
    return {var: environ.get(var, default) or default for var, default in DEFAULT_CONTRACTS.items()}


def post_block(client: httpx.Client, url: str | list[str], block: Block, *,
               token: str | None, timeout: float = 1.0) -> int:
    """POST until an ingester answers 200; returns the number of attempts.

    With several URLs it behaves like a load balancer that routes by readiness: a non-200
    answer or a connection error moves on to the next URL at once; after a full round of
    failures it backs off (from 100 ms, doubling with jitter, capped at 3 × timeout, as the
    node does).
    """
    urls = [url] if isinstance(url, str) else url
    headers = {"content-type": "application/json", "connection": "close"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    body = json.dumps(block.payload).encode()
    delay = 0.1
    attempts = 0
    while True:
        for target in urls:
            attempts += 1
            try:
                response = client.post(f"{target}/new_block", content=body, headers=headers,
                                        timeout=timeout)
                if response.status_code == 200:
                    return attempts
                log.warning("%s answered %d for block %d; trying on", target,
                            response.status_code, block.height)
            except httpx.HTTPError as exc:
                log.warning("POST block %d to %s failed (%s); trying on", block.height, target,
                            type(exc).__name__)
        if _stop and attempts > 3 * len(urls):
            raise SystemExit(1)
        time.sleep(delay + random.uniform(0, delay))
        delay = min(delay * 2, 3 * timeout)


class Pace:
    """Blocks per second and events per block; ``--control`` changes them while running."""

    def __init__(self, rate: float, events_per_block: int) -> None:
        self.rate = rate
        self.events_per_block = events_per_block
        self.version = 0

    def follow(self, lines: TextIO) -> None:
        """Read ``<blocks/s> <events/block>`` lines in a daemon thread (0 blocks/s pauses)."""

        def read() -> None:
            for line in lines:
                parts = line.split()
                try:
                    rate, per_block = float(parts[0]), int(parts[1])
                except (IndexError, ValueError):
                    log.warning("ignored control line %r", line)
                    continue
                self.rate, self.events_per_block = rate, max(1, per_block)
                self.version += 1

        threading.Thread(target=read, name="control", daemon=True).start()


def make_chain(args: argparse.Namespace) -> Chain:
    return Chain(contracts_from_env(os.environ), seed=args.seed,
                 events_per_block=args.events_per_block, nakamoto=args.nakamoto,
                 shape=args.shape, start_time=args.start_time)


def dump(args: argparse.Namespace) -> None:
    """Write ``args.blocks`` (default 100) /new_block payloads as JSON lines; post nothing."""
    chain = make_chain(args)
    with open(args.dump, "w") as out:
        for _ in range(args.blocks or 100):
            out.write(json.dumps(chain.next_block().payload) + "\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adstack-devnet",
        description="Simulated Stacks devnet: POSTs realistic /new_block payloads with AdStack "
        "print events (real Clarity hex) to the ingester's event-observer endpoint.",
        epilog="contracts come from CAMPAIGN_CONTRACT, AUCTION_CONTRACT, BRIDGE_CONTRACT, "
        "PAYMENT_CONTRACT, GOVERNANCE_CONTRACT (default: the devnet deployer's).",
    )
    parser.add_argument("--ingester-url",
                        default=os.environ.get("INGESTER_URL", "http://127.0.0.1:3700"),
                        help="ingester URL, or a comma-separated list tried in turn (like a "
                        "load balancer that routes by readiness)")
    parser.add_argument("--rate", type=float, default=float(os.environ.get("DEVNET_RATE", "1")),
                        help="blocks per second (default 1)")
    parser.add_argument("--events-per-block", type=int,
                        default=int(os.environ.get("DEVNET_EVENTS_PER_BLOCK", "5")))
    parser.add_argument("--blocks", type=int, default=0, help="stop after N blocks (0: never)")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("DEVNET_SEED", "1")))
    parser.add_argument("--fork-every", type=int, default=0,
                        help="inject a fork every N blocks (0: never)")
    parser.add_argument("--fork-depth", type=int, default=1, help="orphaned blocks per fork")
    parser.add_argument("--fork-length", type=int, default=0,
                        help="blocks in the winning branch (default: depth + 1)")
    parser.add_argument("--nakamoto", action="store_true",
                        help="epoch-3 payloads (signer fields); forks may be shorter")
    parser.add_argument("--shape", choices=("mainnet", "simple"),
                        default=os.environ.get("DEVNET_SHAPE", "mainnet"),
                        help="mainnet (default): blocks mix prints with coinbase, transfers, "
                        "mints, burns, deploys, other contracts' events and failed "
                        "transactions that printed, several prints per transaction; simple: "
                        "one print per transaction. Both publish --events-per-block prints")
    parser.add_argument("--start-time", type=int, default=None, metavar="UNIX_SECONDS",
                        help="pin the first block's timestamp and advance 10 s a block "
                        "(reproducible dumps); default: blocks carry the wall clock")
    parser.add_argument("--timeout", type=float, default=1.0,
                        help="seconds to wait for each POST, like the node's timeout_ms "
                        "(default 1.0); retries back off up to 3 × this")
    parser.add_argument("--token", default=os.environ.get("OBSERVER_TOKEN"),
                        help="bearer token for the ingester (OBSERVER_TOKEN)")
    parser.add_argument("--log-file", help="append one JSON line per posted block here")
    parser.add_argument("--dump", metavar="FILE",
                        help="write --blocks payloads to FILE (one JSON line each) instead of "
                        "posting them (benchmarks replay them at full speed)")
    parser.add_argument("--control", action="store_true",
                        help="read '<blocks/s> <events/block>' lines on stdin and switch to "
                        "that pace (0 blocks/s pauses); used by the fan-out benchmark")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.dump:
        dump(args)
        return
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)-5s devnet: %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)
    # httpx logs every request at INFO: one line a block would flood `make dev`.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    run(args)


def run(args: argparse.Namespace) -> None:
    """Post blocks at the pace (and with the forks) ``args`` asks for, until stopped."""
    chain = make_chain(args)
    urls = [u.strip().rstrip("/") for u in args.ingester_url.split(",") if u.strip()]
    pace = Pace(args.rate, args.events_per_block)
    if args.control:
        pace.follow(sys.stdin)
    version = pace.version
    interval = 1.0 / args.rate if args.rate > 0 else 0.0
    sink = open(args.log_file, "a") if args.log_file else None  # noqa: SIM115
    posted = 0
    next_at = time.monotonic()
    log.info("posting %s-shaped blocks to %s at %.2f blocks/s, %d events/block", args.shape,
             args.ingester_url, args.rate, args.events_per_block)
    with httpx.Client() as client:
        while not _stop and (args.blocks == 0 or posted < args.blocks):
            if pace.version != version:
                version = pace.version
                interval = 1.0 / pace.rate if pace.rate > 0 else 0.0
                next_at = time.monotonic()
            if args.control and pace.rate <= 0:
                time.sleep(0.01)
                continue
            for block in _next_blocks(chain, args, posted, pace, sink):
                post_block(client, urls, block, token=args.token, timeout=args.timeout)
                posted += 1
                if sink is not None:
                    _log_posted(sink, block)
            next_at += interval
            _wait_until(next_at, pace, version, control=args.control)
    if sink is not None:
        sink.close()
    log.info("posted %d blocks", posted)


def _next_blocks(chain: Chain, args: argparse.Namespace, posted: int, pace: Pace,
                 sink: TextIO | None) -> list[Block]:
    """The next block, or a fork's winning branch every ``--fork-every`` blocks."""
    fork = (args.fork_every > 0 and posted > 0 and posted % args.fork_every == 0
            and len(chain.blocks) > args.fork_depth)
    if not fork:
        return [chain.next_block(pace.events_per_block)]
    orphaned, blocks = chain.fork(args.fork_depth, length=args.fork_length or None)
    log.info("fork: orphaning %d blocks from height %d", len(orphaned), orphaned[0].height)
    if sink is not None:
        sink.write(json.dumps({"orphaned": [b.index_block_hash for b in orphaned]}) + "\n")
    return blocks


def _log_posted(sink: TextIO, block: Block) -> None:
    """One ``--log-file`` line for a posted block."""
    sink.write(json.dumps({"height": block.height,
                           "postedAt": round(time.time(), 3),
                           "indexBlockHash": block.index_block_hash,
                           "parent": block.payload["parent_index_block_hash"],
                           "prints": block.prints}) + "\n")
    sink.flush()


def _wait_until(next_at: float, pace: Pace, version: int, *, control: bool) -> None:
    """Sleep until ``next_at`` (monotonic), unless stopped or the pace changes."""
    while not _stop and pace.version == version:
        wait = next_at - time.monotonic()
        if wait <= 0:
            break
        # Short naps under --control: a new pace applies at once, not after the
        # (possibly long) wait for the next block at the old one.
        time.sleep(min(wait, 0.05) if control else wait)


if __name__ == "__main__":
    main()
