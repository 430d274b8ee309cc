"""The ingester's HTTP receivers in-process: authorization, body limits, refusals, standby,
disabled sources and the mempool feeds. The real app (its lifespan runs the election) over
httpx's ASGI transport, and a real valkey."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from adstack_bus import create_redis, keys
from adstack_devnet import DEFAULT_CONTRACTS
from adstack_devnet.chain import Chain
from adstack_ingester.app import create_app
from adstack_ingester.ingester import Ingester
from adstack_ingester.receivers import IGNORED_PATHS
from adstack_ingester.settings import IngesterSettings
from adstack_protocol.codes import IngestErrorCode as Code
from tests.helpers.fixtures import load_bytes

OBSERVER = {"authorization": "Bearer node-secret"}
CHAINHOOK = {"authorization": "Bearer chainhook-secret"}


def settings(redis_url: str, **env: str) -> IngesterSettings:
    return IngesterSettings.from_env({
        "REDIS_URL": redis_url, "OBSERVER_TOKEN": "node-secret",
        "CHAINHOOK_AUTH_HEADER": "Bearer chainhook-secret",
        "STACKS_SOURCES": "observer,chainhook", "OBSERVER_MAX_BODY_BYTES": "4096", **env})


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """``app`` started (its lifespan: the election) and a client that calls it in-process."""
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://ingester") as http:
        yield http


def ingester_of(client: httpx.AsyncClient) -> Ingester:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    ingester: Ingester = transport.app.state.ingester  # type: ignore[attr-defined]
    return ingester


@pytest.fixture()
async def client(clean_redis: str) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(create_app(settings(clean_redis))) as http:
        yield http


def error_of(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def test_observer_token_is_required_as_bearer_or_bare(client: httpx.AsyncClient) -> None:
    body = load_bytes("observer_new_burn_block_nakamoto.json")
    assert error_of(await client.post("/new_burn_block", content=body)) == (401, Code.UNAUTHORIZED)
    assert error_of(await client.post("/new_burn_block", content=body,
                                headers={"authorization": "Bearer wrong"})) == (
        401, Code.UNAUTHORIZED)
    for header in ("Bearer node-secret", "bearer node-secret", "node-secret"):
        response = await client.post("/new_burn_block", content=body,
                               headers={"authorization": header})
        assert response.status_code == 200, (header, response.text)
        assert response.json() == {"result": "ok"}


async def test_chainhook_wants_its_exact_header_and_not_the_observer_token(
        client: httpx.AsyncClient) -> None:
    body = json.dumps({"apply": [], "rollback": [], "chainhook": {"uuid": "u"}}).encode()
    assert error_of(await client.post("/chainhook", content=body,
                                headers=OBSERVER)) == (401, Code.UNAUTHORIZED)
    assert error_of(await client.post("/chainhook", content=body, headers={
        "authorization": "chainhook-secret"})) == (401, Code.UNAUTHORIZED)
    response = await client.post("/chainhook", content=body, headers=CHAINHOOK)
    assert response.status_code == 200, response.text
    assert response.json() == {"result": "ok", "published": 0, "duplicates": 0, "reverted": 0}
    ingester = ingester_of(client)
    assert ingester.heard_from == "chainhook"


async def test_bodies_over_the_limit_are_refused_declared_or_streamed(
        client: httpx.AsyncClient) -> None:
    big = b"[" + b" " * 5000 + b"]"
    assert error_of(await client.post("/new_mempool_tx", content=big,
                                headers=OBSERVER)) == (413, Code.PAYLOAD_TOO_LARGE)

    async def chunks() -> AsyncIterator[bytes]:  # no content-length: the limit applies on reading
        yield b"["
        for _ in range(10):
            yield b" " * 500
        yield b"]"

    response = await client.post("/new_mempool_tx", content=chunks(), headers=OBSERVER)
    assert "content-length" not in response.request.headers
    assert error_of(response) == (413, Code.PAYLOAD_TOO_LARGE)
    # The ignored paths read (and limit) the body too.
    assert error_of(await client.post(IGNORED_PATHS[0], content=big,
                                headers=OBSERVER)) == (413, Code.PAYLOAD_TOO_LARGE)


async def test_an_undecodable_payload_is_a_400_naming_the_path(client: httpx.AsyncClient) -> None:
    for path in ("/new_block", "/new_burn_block", "/new_mempool_tx", "/drop_mempool_tx",
                 "/new_microblocks"):
        response = await client.post(path, content=b'{"not": "a payload"', headers=OBSERVER)
        assert error_of(response) == (400, Code.INVALID_PAYLOAD), path
        assert response.json()["error"]["message"].startswith(f"invalid {path} payload")
    response = await client.post("/chainhook", content=b"[]", headers=CHAINHOOK)
    assert error_of(response) == (400, Code.INVALID_PAYLOAD)
    assert response.json()["error"]["message"].startswith("invalid Chainhook payload")


async def test_ignored_paths_answer_200_and_count_as_heard(client: httpx.AsyncClient) -> None:
    ingester = ingester_of(client)
    heard_before = ingester.heard_at
    assert heard_before is None
    for path in IGNORED_PATHS:
        assert error_of(await client.post(path, content=b"{}")) == (401, Code.UNAUTHORIZED)
        response = await client.post(path, content=b"{}", headers=OBSERVER)
        assert response.status_code == 200 and response.json() == {"result": "ok"}
    assert ingester.heard_at is not None and ingester.heard_from == "observer"


async def test_a_standby_refuses_with_503_and_health_says_why(clean_redis: str) -> None:
    async with serving(create_app(settings(clean_redis, INSTANCE_ID="first"))) as leader, \
            serving(create_app(settings(clean_redis, INSTANCE_ID="second"))) as standby:
        body = load_bytes("observer_new_burn_block_nakamoto.json")
        response = await leader.post("/new_burn_block", content=body, headers=OBSERVER)
        assert response.status_code == 200
        assert error_of(await standby.post("/new_burn_block", content=body,
                                           headers=OBSERVER)) == (503, Code.NOT_LEADER)
        health = await standby.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "standby" and health.json()["role"] == "standby"
        assert (await leader.get("/health")).json()["role"] == "leader"
        assert (await standby.get("/health/live")).json() == {"status": "alive"}


async def test_a_disabled_source_is_404(clean_redis: str) -> None:
    async with serving(create_app(settings(clean_redis, STACKS_SOURCES="chainhook"))) as client:
        assert error_of(await client.post("/new_block", content=b"{}", headers=OBSERVER)) == (
            404, Code.SOURCE_DISABLED)
    async with serving(create_app(settings(clean_redis, STACKS_SOURCES="observer"))) as client:
        assert error_of(await client.post("/chainhook", content=b"{}", headers=CHAINHOOK)) == (
            404, Code.SOURCE_DISABLED)


async def test_mempool_feeds_pending_then_dropped_through_the_processor(
        client: httpx.AsyncClient, clean_redis: str) -> None:
    chain = Chain(DEFAULT_CONTRACTS, seed=61, events_per_block=1)
    tx = chain.next_block().payload["transactions"][0]
    watcher = create_redis(clean_redis)
    pubsub = watcher.pubsub()
    await pubsub.subscribe(keys.TRANSACTION_CHANNEL)
    try:
        response = await client.post("/new_mempool_tx", content=json.dumps([tx["raw_tx"]]),
                               headers=OBSERVER)
        assert response.status_code == 200 and response.json() == {"result": "ok"}
        # A drop of an unknown txid publishes nothing; the known one is published dropped.
        await client.post("/drop_mempool_tx", headers=OBSERVER, content=json.dumps(
            {"dropped_txids": ["0x" + "ab" * 32, tx["txid"][2:].upper()],
             "reason": "ReplaceByFee", "new_txid": None}))
        frames: list[dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + 10
        while len(frames) < 2 and asyncio.get_running_loop().time() < deadline:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is not None:  # None: the subscribe confirmation, or nothing yet
                frames.append(json.loads(message["data"]))
    finally:
        await pubsub.aclose()
        await watcher.aclose()
    assert [(f["event"], f["data"]["txId"], f["data"]["status"]) for f in frames] == [
        ("transaction", tx["txid"], "pending"),
        ("transaction", tx["txid"], "dropped_replace_by_fee")]
    ingester = ingester_of(client)
    assert len(ingester.deliveries.pending) == 0
    assert ingester.deliveries.mempool_txs == 1
