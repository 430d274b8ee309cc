"""The whole path on real processes: Redis → ingester → two gateways → WebSocket clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adstack_stacks import decode_hex, to_json
from tests.helpers import services
from tests.helpers.client import WsClient
from tests.helpers.fixtures import SIGNERS_VOTING, load_bytes, load_json

pytestmark = pytest.mark.e2e

FIXTURE = "observer_new_block_epoch25_print_events_signers_voting.json"
OTHER = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"


@pytest.fixture()
def system(clean_redis: str, log_dir: Path
           ) -> Iterator[tuple[services.Service, list[services.Service]]]:
    ing = services.ingester(clean_redis, log_dir).start()
    gateways = [services.gateway(clean_redis, log_dir).start() for _ in range(2)]
    try:
        yield ing, gateways
    finally:
        for gw in gateways:
            gw.stop()
        ing.stop()


async def test_every_subscriber_gets_each_print_event_exactly_once(
        system: tuple[services.Service, list[services.Service]], token: str) -> None:
    ing, gateways = system
    raw = load_json(FIXTURE)
    by_index = {e["event_index"]: e for e in raw["events"]}

    clients = [WsClient(gw.ws, token) for gw in gateways for _ in range(2)]
    other = WsClient(gateways[1].ws, token)
    for client in [*clients, other]:
        await client.__aenter__()
    try:
        for client in clients:
            await client.wait_for("connected")
            reply = await client.request("subscribe", {"contractId": SIGNERS_VOTING},
                                         "subscribed")
            assert reply["contractId"] == SIGNERS_VOTING
        await other.wait_for("connected")
        await other.request("subscribe", {"contractId": OTHER}, "subscribed")

        async with httpx.AsyncClient() as http:
            response = await http.post(f"{ing.http}/new_block", content=load_bytes(FIXTURE))
        assert response.status_code == 200
        assert response.json()["published"] == 4

        for client in clients:
            events = await client.wait_for("event", 4)
            await asyncio.sleep(0.3)  # any duplicate would arrive now
            events = client.of("event")
            assert len(events) == 4, "each event exactly once"
            assert [e["eventIndex"] for e in events] == [0, 1, 2, 3]
            assert [e["offset"] for e in events] == [1, 2, 3, 4]
            for event in events:
                source = by_index[event["eventIndex"]]
                assert event["contractId"] == SIGNERS_VOTING
                assert event["txId"] == source["txid"]
                assert event["blockHeight"] == 16
                assert event["blockHash"] == raw["block_hash"]
                assert event["data"] == to_json(
                    decode_hex(source["contract_event"]["raw_value"]))
            assert [e["type"] for e in events] == [
                "voted", "voted", "voted", "approved_aggregate_public_key"]
        assert other.of("event") == []

        history = await clients[0].request(
            "getHistory", {"contractId": SIGNERS_VOTING, "limit": 10}, "history")
        assert history["count"] == 4 and history["limit"] == 10
        assert [e["eventIndex"] for e in history["events"]] == [3, 2, 1, 0]  # newest first
        assert history["events"][0] == clients[0].of("event")[3]
    finally:
        for client in [*clients, other]:
            await client.__aexit__(None, None, None)


async def test_same_block_twice_is_published_once(
        system: tuple[services.Service, list[services.Service]], token: str) -> None:
    ing, gateways = system
    async with WsClient(gateways[0].ws, token) as client:
        await client.wait_for("connected")
        await client.request("subscribe", {"contractId": SIGNERS_VOTING}, "subscribed")
        async with httpx.AsyncClient() as http:
            first = await http.post(f"{ing.http}/new_block", content=load_bytes(FIXTURE))
            second = await http.post(f"{ing.http}/new_block", content=load_bytes(FIXTURE))
        assert (first.json()["published"], second.json()["published"]) == (4, 0)
        assert second.json()["duplicates"] == 4
        await client.wait_for("event", 4)
        await asyncio.sleep(0.3)
        assert len(client.of("event")) == 4
        stats = await client.request("getStats", {"contractId": SIGNERS_VOTING}, "stats")
        assert stats["total"] == 4
        assert stats["byType"] == {"voted": 3, "approved_aggregate_public_key": 1}


async def test_ingester_answers_503_while_redis_is_down_then_publishes(
        redis_url: str, log_dir: Path, tmp_path: Path) -> None:
    from adstack_localredis import LocalRedis

    with LocalRedis() as own:
        ing = services.ingester(own.url, log_dir).start()
        try:
            own.kill()
            async with httpx.AsyncClient() as http:
                down = await http.post(f"{ing.http}/new_block", content=load_bytes(FIXTURE))
                assert down.status_code == 503
                health = await http.get(f"{ing.http}/health")
                assert health.status_code == 503
                own.start()
                for _ in range(50):
                    up = await http.post(f"{ing.http}/new_block", content=load_bytes(FIXTURE))
                    if up.status_code == 200:
                        break
                    await asyncio.sleep(0.1)
                assert up.status_code == 200 and up.json()["published"] == 4
        finally:
            ing.stop()


async def test_bad_payloads_get_coded_errors(
        system: tuple[services.Service, list[services.Service]]) -> None:
    ing, _ = system
    async with httpx.AsyncClient() as http:
        bad = await http.post(f"{ing.http}/new_block", content=b"{not json")
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "INVALID_PAYLOAD"
        # Invalid UTF-8 inside a JSON string (a fuzzer find: it used to be a 500).
        bad_utf8 = await http.post(f"{ing.http}/new_block",
                                   content=b'{"block_hash":"\xff\xfe","block_height":1}')
        assert bad_utf8.status_code == 400
        assert bad_utf8.json()["error"]["code"] == "INVALID_PAYLOAD"
        for path in ("/new_burn_block", "/new_mempool_tx", "/drop_mempool_tx"):
            garbage = await http.post(f"{ing.http}{path}", content=b"\xff\x00garbage")
            assert garbage.status_code == 400, (path, garbage.status_code)
        ignored = await http.post(f"{ing.http}/new_burn_block",
                                  content=load_bytes("observer_new_burn_block_nakamoto.json"))
        assert ignored.status_code == 200
        assert json.loads(ignored.text) == {"result": "ok"}
