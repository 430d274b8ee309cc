"""One identity across sources, end to end, on mainnet-shaped devnet blocks.

One real ingester with the observer, Chainhook and Hiro sources on, a real Redis and the
Hiro fake. Every block (several prints per transaction, transfers, mints, burns, other
contracts' events, failed transactions that printed, uncommitted events) arrives through
all three sources, in each of the six arrival orders in turn; Chainhook deliveries leave
``position`` out on some receipt events (older releases). The first source publishes the
block's prints; the others find only duplicates; at the end every print is live once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from adstack_bus import keys
from adstack_devnet import DEFAULT_CONTRACTS
from adstack_devnet.chain import Block, Chain
from adstack_ingester.payloads import new_block_decoder
from adstack_ingester.pipeline import block_record, contract_filter
from tests.helpers import services
from tests.helpers.chainhook import delivery
from tests.helpers.fake_hiro import FakeHiro

pytestmark = pytest.mark.e2e

CONTRACTS = tuple(DEFAULT_CONTRACTS.values())
ALLOW = contract_filter(CONTRACTS)
ORDERS = list(itertools.permutations(("observer", "chainhook", "hiro")))


def ids_of(block: Block) -> list[str]:
    return [e.id for e in block_record(
        new_block_decoder.decode(json.dumps(block.payload).encode()), ALLOW).events]


def live_ids(redis_url: str) -> list[str]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        out: list[str] = []
        for contract in CONTRACTS:
            prefix = keys.seen_prefix(contract)
            out += [k[len(prefix):] for k in client.scan_iter(match=prefix + "*")]
        return out
    finally:
        client.close()


def published_total(redis_url: str) -> int:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return sum(int(client.hget(keys.stats(c), "total") or 0) for c in CONTRACTS)
    finally:
        client.close()


def hiro_synced(ing: services.Service) -> int:
    health: dict[str, Any] = httpx.get(f"{ing.http}/health", timeout=5).json()
    return int(health["services"]["stacks"]["hiro"]["blocksSynced"])


async def _until(predicate: Any, what: str, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out: {what}")


@pytest.mark.parametrize("nakamoto", [False, True], ids=["2.x", "nakamoto"])
async def test_every_arrival_order_publishes_each_print_once(
        clean_redis: str, log_dir: Path, nakamoto: bool) -> None:
    chain = Chain(DEFAULT_CONTRACTS, seed=23 + nakamoto, events_per_block=4, shape="mainnet",
                  nakamoto=nakamoto, start_time=1_700_000_000)
    rng = random.Random(5)
    async with FakeHiro() as fake:
        genesis = chain.next_block()
        fake.add(genesis.payload)
        ing = services.ingester(clean_redis, log_dir, STACKS_SOURCES="observer,chainhook,hiro",
                                STACKS_API_URL=fake.url,
                                STACKS_CONTRACTS=",".join(CONTRACTS)).start()
        try:
            ing.wait_healthy()
            # With no checkpoint the Hiro source starts at the API's current block.
            await _until(lambda: hiro_synced(ing) >= 1, "the Hiro source synced block 1")
            expected = ids_of(genesis)
            await _until(lambda: sorted(live_ids(clean_redis)) == sorted(expected),
                         "block 1's prints")
            async with httpx.AsyncClient(base_url=ing.http) as http:
                for step in range(2 * len(ORDERS)):
                    order = ORDERS[step % len(ORDERS)]
                    block = chain.next_block()
                    ids = ids_of(block)
                    assert len(ids) == 4
                    for position, source in enumerate(order):
                        first = position == 0
                        if source == "hiro":
                            synced = hiro_synced(ing)
                            await fake.notify(fake.add(block.payload))
                            if first:
                                await _until(lambda s=synced: hiro_synced(ing) > s,
                                             f"Hiro source synced block {block.height}")
                            continue
                        if source == "observer":
                            answer = await http.post("/new_block",
                                                     content=json.dumps(block.payload))
                        else:
                            answer = await http.post("/chainhook", content=delivery(
                                [block.payload], contracts=CONTRACTS,
                                drop_position=lambda *_: rng.random() < 0.3))
                        assert answer.status_code == 200, answer.text
                        got = answer.json()
                        assert (got["published"], got["duplicates"]) == (
                            (len(ids), 0) if first else (0, len(ids))), (order, source)
                    expected += ids
                    want = sorted(expected)
                    await _until(lambda w=want: sorted(live_ids(clean_redis)) == w,
                                 f"block {block.height}: {order}")
            assert sorted(live_ids(clean_redis)) == sorted(expected)
            assert published_total(clean_redis) == len(expected), "each print published once"
        finally:
            ing.stop()
