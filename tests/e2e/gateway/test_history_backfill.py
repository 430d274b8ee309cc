"""History backfill from a Stacks API: Redis holds the newest events, REST the older ones;
the gateway merges them without duplicates, newest first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adstack_events import ContractEvent, event_id
from tests.e2e.gateway.conftest import FAST_KEEPALIVE, Connect
from tests.helpers import services
from tests.helpers.events import CAMPAIGN, publish
from tests.helpers.fake_hiro_rest import FakeHiro, index_block_hash

pytestmark = pytest.mark.e2e

TXS = 30
"""Transactions at heights 100…129, each printing twice (event indexes 0 and 2; index 1
is an STX transfer): n = 0…59, oldest first."""
IN_REDIS = 5
"""The newest transactions the ingester published (10 events) are also in Redis."""


def txid(i: int) -> str:
    return f"0x{i + 1:064x}"


@pytest.fixture(scope="module")
def hiro() -> Iterator[FakeHiro]:
    with FakeHiro() as api:
        for i in range(TXS):
            api.add_tx(CAMPAIGN, txid(i), 100 + i, {0: 2 * i, 2: 2 * i + 1}, event_count=3)
        yield api


@pytest.fixture(scope="module")
def backfilling(redis_url: str, log_root: Path, hiro: FakeHiro) -> Iterator[services.Service]:
    gateway = services.gateway(redis_url, log_root, STACKS_API_URL=hiro.url,
                               **FAST_KEEPALIVE).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def observed(i: int, index: int) -> ContractEvent:
    """The event as the ingester publishes it (same id the API's data gives)."""
    height = 100 + i
    n = 2 * i + (1 if index else 0)
    return ContractEvent(
        id=event_id(index_block_hash(height), txid(i), index), type="spend_recorded",
        contractId=CAMPAIGN, txId=txid(i), blockHeight=height,
        blockHash=f"0x{height:064x}", indexBlockHash=index_block_hash(height),
        eventIndex=10 + index,  # block-wide in observer payloads
        timestamp=(1_700_000_000 + height) * 1000,
        data={"event": "spend-recorded", "n": n})


@pytest.fixture()
def seeded(fresh: str, hiro: FakeHiro) -> str:
    hiro.fail = False
    return fresh


async def seed_redis(redis_url: str) -> None:
    await publish(redis_url, [observed(i, index) for i in range(TXS - IN_REDIS, TXS)
                              for index in (0, 2)])


@pytest.mark.parametrize("transport", ["ws", "sio-websocket"])
async def test_history_is_completed_from_the_api_without_duplicates(
        backfilling: services.Service, connect: Connect, seeded: str, hiro: FakeHiro) -> None:
    await seed_redis(seeded)
    client = await connect(gateway=backfilling)
    history = await client.request("getHistory", {"contractId": CAMPAIGN, "limit": 25},
                                   "history")
    events = history["events"]
    assert history["count"] == 25 and history["backfilled"] == 15
    assert [e["data"]["n"] for e in events] == list(range(59, 34, -1))
    assert len({e["id"] for e in events}) == 25
    assert [e["source"] for e in events] == ["observer"] * 10 + ["api"] * 15
    assert [e["offset"] for e in events[:10]] == list(range(10, 0, -1))
    oldest = events[-1]  # n = 35: transaction 17, event index 2, from the API
    assert oldest["id"] == observed(17, 2).id
    assert (oldest["txId"], oldest["blockHeight"], oldest["eventIndex"]) == (txid(17), 117, 2)
    assert oldest["indexBlockHash"] == index_block_hash(117)
    assert oldest["timestamp"] == 1_700_000_117_000
    assert oldest["type"] == "spend_recorded" and "offset" not in oldest


@pytest.mark.parametrize("transport", ["ws"])  # the REST side is the same
async def test_large_requests_page_at_the_apis_maximum(
        backfilling: services.Service, connect: Connect, seeded: str, hiro: FakeHiro) -> None:
    await seed_redis(seeded)
    client = await connect(gateway=backfilling)
    before = len(hiro.requests)
    history = await client.request("getHistory", {"contractId": CAMPAIGN, "limit": 100},
                                   "history")
    assert history["count"] == 60 and history["backfilled"] == 50
    assert [e["data"]["n"] for e in history["events"]] == list(range(59, -1, -1))
    pages = [p for p in hiro.requests[before:] if "/events?" in p]
    assert pages == [f"/extended/v1/contract/{CAMPAIGN}/events?limit=50&offset={offset}"
                     for offset in (0, 50)]
    # Transactions and blocks are looked up once, then cached.
    again = await client.request("getHistory", {"contractId": CAMPAIGN, "limit": 100},
                                 "history")
    assert again["events"] == history["events"]
    lookups = [p for p in hiro.requests[before:] if "/tx/" in p or "/block/" in p]
    assert len(lookups) <= 2 * TXS


@pytest.mark.parametrize("transport", ["ws"])  # the REST side is the same
async def test_a_full_redis_history_needs_no_api(
        backfilling: services.Service, connect: Connect, seeded: str, hiro: FakeHiro) -> None:
    await seed_redis(seeded)
    client = await connect(gateway=backfilling)
    before = len(hiro.requests)
    history = await client.request("getHistory", {"contractId": CAMPAIGN, "limit": 10},
                                   "history")
    assert history["count"] == 10 and history["backfilled"] == 0
    assert hiro.requests[before:] == []


@pytest.mark.parametrize("transport", ["ws"])  # the REST side is the same
async def test_an_api_failure_leaves_the_redis_history(
        backfilling: services.Service, connect: Connect, seeded: str, hiro: FakeHiro) -> None:
    await seed_redis(seeded)
    hiro.fail = True
    client = await connect(gateway=backfilling)
    history = await client.request("getHistory", {"contractId": CAMPAIGN, "limit": 99},
                                   "history")
    assert history["count"] == 10 and history["backfilled"] == 0
