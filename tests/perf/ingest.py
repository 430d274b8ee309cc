"""``make bench-ingest``: decode + publish throughput (a benchmark, not a test).

Builds a stream of devnet-style /new_block payloads (real Clarity hex, real contract-call
transactions) carrying 10,000 print events in total, then runs each block through the whole
write path of the observer source: JSON decode, Clarity decode, transaction decode, chain
planning, the fenced publish script and the chain record, against a real local valkey.
Prints events/s for the single ingester process (Redis runs in its own process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from adstack_bus import ChainStore, Lease, Publisher, create_redis
from adstack_localredis import LocalRedis


def build_payloads(events: int, per_block: int, seed: int) -> list[bytes]:
    from adstack_devnet import DEFAULT_CONTRACTS  # dev-only dependency of the benchmark
    from adstack_devnet.chain import Chain

    chain = Chain(DEFAULT_CONTRACTS, seed=seed, events_per_block=per_block)
    payloads = []
    made = 0
    while made < events:
        block = chain.next_block(min(per_block, events - made))
        made += len(block.prints)
        payloads.append(json.dumps(block.payload).encode())
    return payloads


async def run(events: int, per_block: int, seed: int) -> dict[str, float]:
    from adstack_ingester.payloads import new_block_decoder
    from adstack_ingester.pipeline import block_record, block_txs, contract_filter
    from adstack_ingester.processor import BlockProcessor

    payloads = build_payloads(events, per_block, seed)
    allow = contract_filter(("*",))
    with LocalRedis() as server:
        redis = create_redis(server.url)
        token = await Lease(redis, "bench").acquire()
        publisher = Publisher(redis, history_limit=100, fence=token)
        processor = BlockProcessor(publisher, ChainStore(redis))
        published = 0
        started = time.perf_counter()
        cpu_started = time.process_time()
        for body in payloads:
            block = new_block_decoder.decode(body)
            record = block_record(block, allow, now_ms=int(time.time() * 1000),
                                  with_txs=False)
            outcome = await processor.process(record, reorg_to=block.nakamoto,
                                              txs=lambda b=block: block_txs(b, allow))
            published += outcome.published
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        await redis.aclose()
    return {"blocks": len(payloads), "events": published, "seconds": elapsed,
            "cpu_seconds": cpu, "events_per_s": published / elapsed}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.perf.ingest",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--per-block", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.events, args.per_block, args.seed))
    print(f"{result['events']:.0f} print events in {result['blocks']:.0f} blocks: "
          f"{result['seconds']:.3f} s wall, {result['cpu_seconds']:.3f} s ingester CPU "
          f"→ {result['events_per_s']:,.0f} events/s decoded + published")


if __name__ == "__main__":
    main()
