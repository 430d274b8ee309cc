"""The Hiro API source (against a local fake) and the Chainhook receiver, end to end."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from adstack_devnet import DEFAULT_CONTRACTS
from adstack_devnet.chain import Block, Chain
from tests.helpers import services
from tests.helpers.chainview import event_ids, live_ids
from tests.helpers.client import WsClient
from tests.helpers.fake_hiro import FakeHiro
from tests.helpers.fixtures import load_bytes

pytestmark = pytest.mark.e2e

CONTRACTS = list(DEFAULT_CONTRACTS.values())


async def _client(gateway: services.Service, token: str) -> WsClient:
    client = WsClient(gateway.ws, token)
    await client.__aenter__()
    await client.wait_for("connected")
    for contract in CONTRACTS:
        await client.request("subscribe", {"contractId": contract}, "subscribed")
    return client


async def _until(predicate: Any, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


async def test_hiro_source_live_backfill_dedup_and_non_canonical(
        clean_redis: str, log_dir: Path, token: str) -> None:
    chain = Chain(DEFAULT_CONTRACTS, seed=41, events_per_block=3)
    async with FakeHiro() as fake:
        for _ in range(3):
            fake.add(chain.next_block().payload)
        ing = services.ingester(clean_redis, log_dir, STACKS_SOURCES="hiro,observer",
                                STACKS_API_URL=fake.url,
                                STACKS_CONTRACTS=",".join(CONTRACTS)).start()
        gateway = services.gateway(clean_redis, log_dir).start()
        client = await _client(gateway, token)
        try:
            ing.wait_healthy()
            # No checkpoint yet: the source starts at the API's current block.
            expected = event_ids(chain.blocks[2:])
            await client.wait_for("event", len(expected))
            # A live block over the WebSocket.
            block4 = chain.next_block()
            await fake.notify(fake.add(block4.payload))
            expected += event_ids([block4])
            await client.wait_for("event", len(expected))
            async with httpx.AsyncClient() as http:
                # The same block from the observer: all duplicates.
                same = await http.post(f"{ing.http}/new_block", content=json.dumps(
                    block4.payload))
                assert same.json()["published"] == 0
                assert same.json()["duplicates"] == len(event_ids([block4]))
                # The observer first, then the Hiro API: published once.
                block5 = chain.next_block()
                first = await http.post(f"{ing.http}/new_block",
                                        content=json.dumps(block5.payload))
                assert first.json()["published"] == len(event_ids([block5]))
            await fake.notify(fake.add(block5.payload))
            expected += event_ids([block5])
            # Disconnect mid-stream; blocks made while disconnected are backfilled.
            await fake.disconnect_all()
            missed = [chain.next_block(), chain.next_block()]
            for block in missed:
                fake.add(block.payload)
            expected += event_ids(missed)
            await client.wait_for("event", len(expected), timeout=20)
            assert fake.sockets, "the source reconnected"
            # Block 7 turns non-canonical: 7' and 8' win.
            fake.orphan(missed[-1].index_block_hash)
            orphaned, branch = chain.fork(1)
            added = [fake.add(b.payload) for b in branch]
            await fake.notify(added[-1])
            orphan_ids = event_ids(orphaned)
            expected = [i for i in expected if i not in orphan_ids] + event_ids(branch)
            await _until(lambda: sorted(live_ids(client.frames)[0]) == sorted(expected))
            _live, reverted = live_ids(client.frames)
            assert sorted(reverted) == sorted(orphan_ids)
            events = client.of("event")
            assert len({e["id"] for e in events}) == len(events), "each event once"
            assert {e["source"] for e in events} == {"hiro", "observer"}
            assert fake.bad_requests == 0, "stayed within the API's limits"
            health = httpx.get(f"{ing.http}/health").json()
            assert health["services"]["stacks"]["hiro"]["connects"] >= 2
        finally:
            await client.__aexit__(None, None, None)
            gateway.stop()
            ing.stop()


def _chainhook_block(block: Block) -> dict[str, Any]:
    """A Chainhook ``apply`` block for a devnet block (only transactions with prints)."""
    payload = block.payload
    by_tx: dict[str, list[dict[str, Any]]] = {}
    for event in payload["events"]:
        by_tx.setdefault(event["txid"], []).append(event)
    txs = []
    for tx in payload["transactions"]:
        events = by_tx.get(tx["txid"])
        if not events:
            continue
        txs.append({
            "transaction_identifier": {"hash": tx["txid"]},
            "operations": [],
            "metadata": {
                "success": True, "raw_tx": tx["raw_tx"], "result": "(ok true)",
                "sender": "ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5", "fee": 200,
                "kind": {"type": "ContractCall", "data": {
                    "contract_identifier": events[0]["contract_event"]["contract_identifier"],
                    "method": "call", "args": []}},
                "position": {"index": tx["tx_index"]},
                "receipt": {"mutated_contracts_radius": [], "mutated_assets_radius": [],
                            "contract_calls_stack": [], "events": [
                                {"type": "SmartContractEvent",
                                 "data": e["contract_event"],
                                 "position": {"index": e["event_index"]}} for e in events]},
            },
        })
    return {"block_identifier": {"index": payload["block_height"],
                                 "hash": payload["index_block_hash"]},
            "parent_block_identifier": {"index": payload["block_height"] - 1,
                                        "hash": payload["parent_index_block_hash"]},
            "timestamp": payload["burn_block_time"],
            "metadata": {"bitcoin_anchor_block_identifier": {
                "index": payload["burn_block_height"], "hash": payload["burn_block_hash"]}},
            "transactions": txs}


def _delivery(apply: list[Block], rollback: list[Block] = ()) -> bytes:  # type: ignore[assignment]
    return json.dumps({"apply": [_chainhook_block(b) for b in apply],
                       "rollback": [_chainhook_block(b) for b in rollback],
                       "chainhook": {"uuid": "1", "predicate": {"scope": "print_event"},
                                     "is_streaming_blocks": True}}).encode()


async def test_chainhook_apply_rollback_auth_and_dedup_with_the_observer(
        clean_redis: str, log_dir: Path, token: str) -> None:
    auth = "Bearer chainhook-secret"
    ing = services.ingester(clean_redis, log_dir, STACKS_SOURCES="observer,chainhook",
                            CHAINHOOK_AUTH_HEADER=auth).start()
    gateway = services.gateway(clean_redis, log_dir).start()
    client = await _client(gateway, token)
    chain = Chain(DEFAULT_CONTRACTS, seed=51, events_per_block=4)
    try:
        ing.wait_healthy()
        blocks = [chain.next_block() for _ in range(3)]
        async with httpx.AsyncClient() as http:
            url = f"{ing.http}/chainhook"
            denied = await http.post(url, content=_delivery(blocks[:1]),
                                     headers={"authorization": "Bearer wrong"})
            assert denied.status_code == 401
            assert denied.json()["error"]["code"] == "UNAUTHORIZED"
            headers = {"authorization": auth}
            ok = await http.post(url, content=_delivery(blocks[:2]), headers=headers)
            assert ok.status_code == 200
            assert ok.json()["published"] == len(event_ids(blocks[:2]))
            # The observer delivers the same blocks: every event is a duplicate.
            for block in blocks[:2]:
                dup = await http.post(f"{ing.http}/new_block", content=json.dumps(block.payload))
                assert dup.json()["published"] == 0
            # The observer first, then Chainhook: once.
            await http.post(f"{ing.http}/new_block", content=json.dumps(blocks[2].payload))
            again = await http.post(url, content=_delivery(blocks[2:]), headers=headers)
            assert again.json()["published"] == 0
            # Chainhook reorg: roll back block 3, apply 3' and 4'.
            orphaned, branch = chain.fork(1)
            reorg = await http.post(url, content=_delivery(branch, orphaned), headers=headers)
            assert reorg.status_code == 200
            assert reorg.json()["reverted"] == len(event_ids(orphaned))
            bad = await http.post(url, content=b"[1,2]", headers=headers)
            assert bad.status_code == 400
        expected = event_ids(chain.blocks)
        await _until(lambda: sorted(live_ids(client.frames)[0]) == sorted(expected))
        assert sorted(live_ids(client.frames)[1]) == sorted(event_ids(orphaned))
        events = client.of("event")
        assert len({e["id"] for e in events}) == len(events)
    finally:
        await client.__aexit__(None, None, None)
        gateway.stop()
        ing.stop()


async def test_observer_paths_feeds_and_standby_rules(clean_redis: str, log_dir: Path,
                                                      token: str) -> None:
    ing = services.ingester(clean_redis, log_dir, OBSERVER_TOKEN="node-secret").start()
    gateway = services.gateway(clean_redis, log_dir).start()
    headers = {"authorization": "Bearer node-secret"}
    try:
        ing.wait_healthy()
        async with WsClient(gateway.ws, token) as client, httpx.AsyncClient() as http:
            await client.wait_for("connected")
            await client.request("subscribeBlocks", None, "subscribed")
            await client.request("subscribeTransactions", None, "subscribed")
            for name, path in [
                ("observer_new_burn_block_nakamoto.json", "/new_burn_block"),
                ("observer_new_mempool_tx.json", "/new_mempool_tx"),
                ("observer_drop_mempool_tx.json", "/drop_mempool_tx"),
                ("observer_new_microblocks_mainnet_2021.json", "/new_microblocks"),
                ("observer_doc_example_attachments_new.json", "/attachments/new"),
                ("observer_doc_example_stackerdb_chunks.json", "/stackerdb_chunks"),
                ("observer_doc_example_proposal_response.json", "/proposal_response"),
                ("observer_new_block_epoch25_print_events_signers_voting.json", "/new_block"),
                ("observer_new_block_nakamoto_tenure_start.json", "/new_block"),
            ]:
                response = await http.post(f"{ing.http}{path}", content=load_bytes(name),
                                           headers=headers)
                assert response.status_code == 200, (path, response.text)
            unauthorized = await http.post(f"{ing.http}/new_block", content=b"{}")
            assert unauthorized.status_code == 401
            blocks = await client.wait_for("block", 2)
            assert [b["height"] for b in blocks] == [16, blocks[1]["height"]]
            txs = await client.wait_for("transaction", 3)
            assert {t["functionName"] for t in txs} == {"vote-for-aggregate-public-key"}
            assert {t["status"] for t in txs} == {"success"}
            assert all(t["blockHeight"] == 16 and t["sender"].startswith("ST") for t in txs)
            # Mempool contract calls appear as pending, then dropped.
            chain = Chain(DEFAULT_CONTRACTS, seed=61, events_per_block=1)
            raw_tx = chain.next_block().payload["transactions"][0]["raw_tx"]
            txid = chain.blocks[0].payload["transactions"][0]["txid"]
            await http.post(f"{ing.http}/new_mempool_tx", content=json.dumps([raw_tx]),
                            headers=headers)
            await http.post(f"{ing.http}/drop_mempool_tx", headers=headers, content=json.dumps(
                {"dropped_txids": [txid], "reason": "ReplaceByFee", "new_txid": None}))
            txs = await client.wait_for("transaction", 5)
            assert [(t["txId"], t["status"], t["blockHeight"]) for t in txs[3:]] == [
                (txid, "pending", None), (txid, "dropped_replace_by_fee", None)]
    finally:
        gateway.stop()
        ing.stop()
