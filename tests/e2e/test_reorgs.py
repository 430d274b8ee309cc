"""Reorgs end to end: real fork replay and injected devnet forks → event_reverted frames."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from adstack_devnet import DEFAULT_CONTRACTS
from adstack_devnet.chain import Chain
from tests.helpers import services
from tests.helpers.chainview import event_ids, live_ids
from tests.helpers.client import WsClient
from tests.helpers.fixtures import replay_rows

pytestmark = pytest.mark.e2e

BNS = "SP000000000000000000002Q6VF78.bns"
CONTRACTS = list(DEFAULT_CONTRACTS.values())


@pytest.fixture()
def system(clean_redis: str, log_dir: Path
           ) -> Iterator[tuple[services.Service, services.Service]]:
    ing = services.ingester(clean_redis, log_dir).start()
    gw = services.gateway(clean_redis, log_dir).start()
    ing.wait_healthy()
    try:
        yield ing, gw
    finally:
        gw.stop()
        ing.stop()


@pytest.fixture()
async def client(system: tuple[services.Service, services.Service],
                 token: str) -> AsyncIterator[WsClient]:
    async with WsClient(system[1].ws, token) as ws:
        await ws.wait_for("connected")
        yield ws


async def test_real_mainnet_fork_replay(system: tuple[services.Service, services.Service],
                                        client: WsClient) -> None:
    ing, _ = system
    await client.request("subscribe", {"contractId": BNS}, "subscribed")
    async with httpx.AsyncClient() as http:
        for _row, path, body in replay_rows():
            response = await http.post(f"{ing.http}{path}", content=body)
            assert response.status_code == 200, response.text
    await client.wait_for("event", 2)
    await client.wait_for("event_reverted", 1)
    await asyncio.sleep(0.3)
    names = [f["event"] for f in client.frames if f["event"].startswith("event")]
    assert names == ["event", "event_reverted", "event"]
    first, second = client.of("event")
    reverted = client.of("event_reverted")[0]
    assert first["indexBlockHash"].startswith("0xd4e86b87")
    assert second["indexBlockHash"].startswith("0x9f79f0a8")
    assert reverted["ids"] == [first["id"]]
    assert reverted["indexBlockHash"] == first["indexBlockHash"]
    assert reverted["blockHeight"] == 2 and reverted["reason"] == "reorg"
    assert [first["offset"], reverted["offset"], second["offset"]] == [1, 2, 3]
    history = await client.request("getHistory", {"contractId": BNS}, "history")
    assert [e["id"] for e in history["events"]] == [second["id"]]
    stats = await client.request("getStats", {"contractId": BNS}, "stats")
    assert stats["total"] == 1


async def _subscribe_all(client: WsClient) -> None:
    for contract in CONTRACTS:
        await client.request("subscribe", {"contractId": contract}, "subscribed")


async def test_injected_forks_depth_1_to_6(system: tuple[services.Service, services.Service],
                                           client: WsClient) -> None:
    ing, _ = system
    await _subscribe_all(client)
    chain = Chain(DEFAULT_CONTRACTS, seed=31, events_per_block=2)
    orphans: list[str] = []
    async with httpx.AsyncClient() as http:

        async def post(payload: dict[str, object]) -> None:
            response = await http.post(f"{ing.http}/new_block", content=json.dumps(payload))
            assert response.status_code == 200, response.text

        for _ in range(7):
            await post(chain.next_block().payload)
        for depth in range(1, 7):
            orphaned, branch = chain.fork(depth)
            orphans += event_ids(orphaned)
            for block in branch:
                await post(block.payload)
    expected = event_ids(chain.blocks)
    reverted_expected = len(orphans)
    await client.wait_for("event", len(expected) + reverted_expected, timeout=20)
    for _ in range(100):
        live, reverted = live_ids(client.frames)
        if sorted(reverted) == sorted(orphans):
            break
        await asyncio.sleep(0.05)
    assert sorted(reverted) == sorted(orphans)
    assert sorted(live) == sorted(expected)
    for contract in CONTRACTS:
        history = await client.request("getHistory", {"contractId": contract, "limit": 100},
                                       "history")
        ids = [e["id"] for e in history["events"]]
        assert not set(ids) & set(orphans)
        assert set(ids) == {i for i in expected if i in set(ids)}


async def test_devnet_cli_nakamoto_forks_to_shorter_branches(
        system: tuple[services.Service, services.Service], client: WsClient,
        tmp_path: Path) -> None:
    ing, _ = system
    await _subscribe_all(client)
    log_file = tmp_path / "posted.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "adstack_devnet", "--ingester-url", ing.http, "--rate", "0",
         "--blocks", "24", "--events-per-block", "2", "--fork-every", "5", "--fork-depth", "3",
         "--fork-length", "1", "--nakamoto", "--seed", "7", "--log-file", str(log_file)],
        capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    orphaned_blocks = {h for line in lines if "orphaned" in line for h in line["orphaned"]}
    assert orphaned_blocks
    posted = [line for line in lines if "prints" in line]
    orphan_txs = {p["txId"] for line in posted if line["indexBlockHash"] in orphaned_blocks
                  for p in line["prints"]}
    live_txs = {p["txId"] for line in posted if line["indexBlockHash"] not in orphaned_blocks
                for p in line["prints"]}
    total = len(orphan_txs) + len(live_txs)
    await client.wait_for("event", total, timeout=20)
    for _ in range(100):
        live, reverted = live_ids(client.frames)
        if len(reverted) == len(orphan_txs):
            break
        await asyncio.sleep(0.05)
    events = {e["id"]: e for e in client.of("event")}
    assert {events[i]["txId"] for i in live} == live_txs
    assert {events[i]["txId"] for i in reverted} == orphan_txs
