"""The Python SDK across a gateway crash: reconnect to the other replica, resume, no loss."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adstack_bus import Publisher, create_redis
from adstack_client import Event, RecoveryFailed, connect
from adstack_events import ContractEvent
from tests.helpers import services

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

C1 = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"
C2 = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.auction-engine"
TYPES = ("campaign_created", "spend_recorded", "campaign_paused")


def make_event(n: int, contract: str) -> ContractEvent:
    etype = TYPES[n % len(TYPES)]
    return ContractEvent(id=f"{contract[-6:]}-{n}", type=etype, contractId=contract,
                         txId=f"0x{n:064x}", blockHeight=n // 10, blockHash="0x" + "ab" * 32,
                         indexBlockHash="0x" + "cd" * 32, eventIndex=n % 10,
                         timestamp=n, data={"n": n})


async def consume(urls: list[str], token: str, types: list[str] | None,
                  expected: int, out: list[int], notes: list[object]) -> None:
    async with connect(urls, token=token, max_backoff=0.5) as client:
        async for item in client.subscribe(C1, event_types=types):
            if isinstance(item, Event):
                out.append(item.data["n"])
                if len(out) >= expected:
                    break
            else:
                notes.append(item)
        notes.append(("connections", client.connections))


async def test_sdk_clients_survive_a_gateway_kill_with_exact_sequences(
        clean_redis: str, log_dir: Path, token: str) -> None:
    total = 5000
    gw_a = services.gateway(clean_redis, log_dir).start()
    gw_b = services.gateway(clean_redis, log_dir).start()
    redis = create_redis(clean_redis)
    publisher = Publisher(redis, history_limit=20_000)
    try:
        all_types = [n for n in range(total)]
        filtered = [n for n in range(total) if TYPES[n % 3] in ("campaign_created",
                                                                  "campaign_paused")]
        runs: list[tuple[list[str], list[str] | None, list[int], list[object], int]] = []
        for urls in ([gw_a.ws, gw_b.ws], [gw_b.ws, gw_a.ws]):
            runs.append((urls, None, [], [], total))
            runs.append((urls, ["campaign_created", "campaign_paused"], [], [], len(filtered)))
        tasks = [asyncio.create_task(consume(urls, token, types, exp, out, notes))
                 for urls, types, out, notes, exp in runs]
        # A fresh subscribe does not replay what was published before it.
        await services.await_subscriptions([gw_a, gw_b], len(runs))

        async def produce() -> None:
            for start in range(0, total, 25):
                batch = [make_event(n, C1) for n in range(start, min(total, start + 25))]
                batch.append(make_event(start, C2))
                await publisher.publish_events(batch)
                await asyncio.sleep(0.004)

        producer = asyncio.create_task(produce())
        while not runs[0][2] or runs[0][2][-1] < total // 3:
            await asyncio.sleep(0.01)
        gw_a.kill()
        await producer
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
        for urls, types, out, notes, _exp in runs:
            expected = all_types if types is None else filtered
            assert out == expected, (urls[0] == gw_a.ws, types, len(out),
                                     [n for n in expected if n not in set(out)][:10])
            assert not any(isinstance(note, RecoveryFailed) for note in notes)
            # Clients that started on the killed gateway reconnected once; the others never.
            assert notes[-1] == ("connections", 2 if urls[0] == gw_a.ws else 1)
    finally:
        await redis.aclose()
        gw_a.stop()
        gw_b.stop()
