"""The bad-input catalogue for the ingester's endpoints, on a real ingester: each hostile
POST gets its status and code, and the next real block is still published and reaches a
gateway client (nothing the bad request did got in the way).

The ingester runs with ``OBSERVER_TOKEN``, the Chainhook source with
``CHAINHOOK_AUTH_HEADER``, and a 64 KB body cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adstack_devnet.chain import Chain
from adstack_localredis import LocalRedis
from tests.conftest import make_token
from tests.helpers import services
from tests.helpers.client import WsClient
from tests.helpers.events import CAMPAIGN
from tests.helpers.fixtures import load_bytes

pytestmark = pytest.mark.e2e

SUITE = "bad-input catalogue"
OBSERVER_TOKEN = "observer-token-for-the-catalogue-0123"
CHAINHOOK_AUTH = "Bearer chainhook-secret-for-the-catalogue"
MAX_BODY = 65_536
GOOD = {"Authorization": f"Bearer {OBSERVER_TOKEN}", "Content-Type": "application/json"}
DELIVERY = b'{"apply":[],"rollback":[],"chainhook":{"uuid":"1"}}'
"""An empty Chainhook delivery (what is refused here is who sends it)."""


class Node:
    """A simulated stacks-node: real blocks for CAMPAIGN, posted with the right token."""

    def __init__(self, ingester: services.Service, client: WsClient) -> None:
        self.ingester = ingester
        self.client = client
        self.chain = Chain({"CAMPAIGN_CONTRACT": CAMPAIGN}, seed=99, events_per_block=2)

    def candidate(self) -> bytes:
        """A real block on the tip that is not added to the chain (it is meant to be refused;
        the next real block is built on the same tip)."""
        return json.dumps(self.chain.make_block(self.chain.tip).payload).encode()

    async def still_publishes(self, http: httpx.AsyncClient) -> None:
        """The next block is answered 200 and its prints reach the subscribed client."""
        block = self.chain.next_block()
        before = len(self.client.of("event"))
        answer = await http.post(f"{self.ingester.http}/new_block", headers=GOOD,
                                 content=json.dumps(block.payload).encode())
        assert answer.status_code == 200, answer.text
        assert answer.json()["published"] == len(block.prints) > 0
        got = await self.client.wait_for("event", before + len(block.prints))
        assert {e["txId"] for e in got[before:]} == {p["txId"] for p in block.prints}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[services.Service,
                                                                        services.Service]]:
    with ingester_and_gateway(
            tmp_path_factory.mktemp("ingester-catalogue"), OBSERVER_TOKEN=OBSERVER_TOKEN,
            STACKS_SOURCES="observer,chainhook", CHAINHOOK_AUTH_HEADER=CHAINHOOK_AUTH,
            OBSERVER_MAX_BODY_BYTES=str(MAX_BODY), STACKS_CONTRACTS="*") as both:
        yield both


@contextlib.contextmanager
def ingester_and_gateway(logs: Path, **ingester_env: str
                         ) -> Iterator[tuple[services.Service, services.Service]]:
    """A real valkey, ingester (with ``ingester_env``) and gateway, for one test module."""
    with LocalRedis() as redis:
        ingester = services.ingester(redis.url, logs, **ingester_env).start()
        gateway = services.gateway(redis.url, logs).start()
        try:
            ingester.wait_healthy()
            yield ingester, gateway
        finally:
            gateway.stop()
            ingester.stop()


@contextlib.asynccontextmanager
async def subscribed_node(system: tuple[services.Service, services.Service],
                          chain_state: dict[str, Any]) -> AsyncIterator[Node]:
    """A node posting to the ingester and a client subscribed to CAMPAIGN on the gateway;
    one chain per module (``chain_state``): each block extends the last."""
    ingester, gateway = system
    async with WsClient(gateway.ws, make_token()) as client:
        await client.wait_for("connected")
        await client.request("subscribe", {"contractId": CAMPAIGN}, "subscribed")
        node = Node(ingester, client)
        if "chain" in chain_state:
            node.chain = chain_state["chain"]
        chain_state["chain"] = node.chain
        yield node


def deep(depth: int) -> bytes:
    return b'{"block_hash":"0x01","nested":' + b"[" * depth + b"]" * depth + b"}"


def block_with(**changes: Any) -> Callable[[Node], bytes]:
    def build(node: Node) -> bytes:
        payload = dict(node.chain.make_block(node.chain.tip).payload)
        payload.update(changes)
        return json.dumps(payload).encode()
    return build


# (case, path, headers, body (bytes, or built from the node's chain), status, code)
Body = bytes | Callable[[Node], bytes]
CASES: list[tuple[str, str, dict[str, str], Body, int, str]] = [
    # unauthenticated
    ("no token", "/new_block", {}, Node.candidate, 401, "UNAUTHORIZED"),
    ("wrong token", "/new_block", {"Authorization": "Bearer nope"}, Node.candidate, 401,
     "UNAUTHORIZED"),
    ("token with a wrong last character", "/new_block",
     {"Authorization": f"Bearer {OBSERVER_TOKEN[:-1]}x"}, Node.candidate, 401, "UNAUTHORIZED"),
    ("token as a query parameter only", f"/new_block?token={OBSERVER_TOKEN}", {},
     Node.candidate, 401, "UNAUTHORIZED"),
    ("Basic instead of Bearer", "/new_block", {"Authorization": "Basic b2JzZXJ2ZXI6eA=="},
     Node.candidate, 401, "UNAUTHORIZED"),
    ("no token on /new_burn_block", "/new_burn_block", {},
     load_bytes("observer_new_burn_block_nakamoto.json"), 401, "UNAUTHORIZED"),
    ("no token on an ignored path", "/attachments/new", {}, b"[]", 401, "UNAUTHORIZED"),
    ("Chainhook without Authorization", "/chainhook", {}, DELIVERY, 401,
     "UNAUTHORIZED"),
    ("Chainhook with a wrong Authorization", "/chainhook", {"Authorization": "Bearer nope"},
     DELIVERY, 401, "UNAUTHORIZED"),
    ("Chainhook with the observer token", "/chainhook", GOOD, DELIVERY,
     401, "UNAUTHORIZED"),
    # oversized
    ("body over OBSERVER_MAX_BODY_BYTES", "/new_block", GOOD, b"[" + b" " * MAX_BODY + b"]",
     413, "PAYLOAD_TOO_LARGE"),
    ("Chainhook body over the cap", "/chainhook", {"Authorization": CHAINHOOK_AUTH},
     b" " * (MAX_BODY + 1), 413, "PAYLOAD_TOO_LARGE"),
    # truncated, not JSON
    ("truncated block", "/new_block", GOOD, lambda n: n.candidate()[:300], 400,
     "INVALID_PAYLOAD"),
    ("empty body", "/new_block", GOOD, b"", 400, "INVALID_PAYLOAD"),
    ("not JSON", "/new_block", GOOD, b"\x00\xffgarbage", 400, "INVALID_PAYLOAD"),
    ("invalid UTF-8 in a string", "/new_block", GOOD,
     b'{"block_hash":"\xff\xfe","block_height":1,"index_block_hash":"0x01"}', 400,
     "INVALID_PAYLOAD"),
    ("deeply nested JSON (20,000 levels)", "/new_block", GOOD, deep(20_000), 400,
     "INVALID_PAYLOAD"),
    ("deeply nested JSON to Chainhook", "/chainhook", {"Authorization": CHAINHOOK_AUTH},
     deep(5_000), 400, "INVALID_PAYLOAD"),
    ("height of 10^30", "/new_block", GOOD, block_with(block_height=10**30), 400,
     "INVALID_PAYLOAD"),
    ("negative height", "/new_block", GOOD, block_with(block_height=-1), 400,
     "INVALID_PAYLOAD"),
    ("event index of 2^64", "/new_block", GOOD,
     block_with(events=[{"txid": "0x01", "event_index": 2**64, "type": "contract_event"}]),
     400, "INVALID_PAYLOAD"),
    ("Chainhook height of 10^30", "/chainhook", {"Authorization": CHAINHOOK_AUTH},
     b'{"apply":[{"block_identifier":{"index":1' + b"0" * 30 + b',"hash":"0x01"}}]}', 400,
     "INVALID_PAYLOAD"),
    # wrongly typed
    ("JSON array", "/new_block", GOOD, b"[1, 2]", 400, "INVALID_PAYLOAD"),
    ("block_height is a string", "/new_block", GOOD, block_with(block_height="16"), 400,
     "INVALID_PAYLOAD"),
    ("events is an object", "/new_block", GOOD, block_with(events={}), 400,
     "INVALID_PAYLOAD"),
    ("an event's index is a string", "/new_block", GOOD,
     block_with(events=[{"txid": "0x01", "event_index": "0", "type": "contract_event"}]), 400,
     "INVALID_PAYLOAD"),
    ("missing index_block_hash", "/new_block", GOOD,
     b'{"block_hash":"0x01","block_height":1}', 400, "INVALID_PAYLOAD"),
    ("burn block height is negative text", "/new_burn_block", GOOD,
     b'{"burn_block_hash":"0x01","burn_block_height":"-1"}', 400, "INVALID_PAYLOAD"),
    ("mempool body is an object", "/new_mempool_tx", GOOD, b'{"tx":"0x00"}', 400,
     "INVALID_PAYLOAD"),
    ("dropped txids are numbers", "/drop_mempool_tx", GOOD, b'{"dropped_txids":[1,2]}', 400,
     "INVALID_PAYLOAD"),
    ("microblocks without a parent", "/new_microblocks", GOOD, b'{"events":[]}', 400,
     "INVALID_PAYLOAD"),
    ("Chainhook apply is a string", "/chainhook", {"Authorization": CHAINHOOK_AUTH},
     b'{"apply":"x","rollback":[]}', 400, "INVALID_PAYLOAD"),
]


@pytest.mark.parametrize(("case", "path", "headers", "body", "status", "code"), CASES,
                         ids=[c[0] for c in CASES])
async def test_bad_posts_get_their_status_and_code(
        node: Node, hostile: Callable[[str, str], None], case: str, path: str,
        headers: dict[str, str], body: Body, status: int, code: str) -> None:
    hostile(SUITE, f"ingester: {case}")
    content = body if isinstance(body, bytes) else body(node)
    async with httpx.AsyncClient(timeout=20) as http:
        answer = await http.post(f"{node.ingester.http}{path}", headers=headers,
                                 content=content)
        assert answer.status_code == status, answer.text
        assert answer.json()["error"]["code"] == code
        assert len(answer.text) < 1000, "errors never echo the body"
        await node.still_publishes(http)


async def test_a_chunked_body_over_the_cap_is_413(
        node: Node, hostile: Callable[[str, str], None]) -> None:
    """No Content-Length to check up front: the cap is enforced while reading."""
    hostile(SUITE, "ingester: chunked body over the cap")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b" " * 4096

    async with httpx.AsyncClient(timeout=20) as http:
        answer = await http.post(f"{node.ingester.http}/new_block", headers=GOOD,
                                 content=chunks())
        assert answer.status_code == 413
        assert answer.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
        await node.still_publishes(http)


async def test_a_body_cut_short_by_the_sender_is_dropped(
        node: Node, hostile: Callable[[str, str], None]) -> None:
    """Content-Length promises more than arrives, then the sender disconnects."""
    hostile(SUITE, "ingester: body cut short, sender gone")
    body = node.candidate()
    _reader, writer = await asyncio.open_connection("127.0.0.1", node.ingester.port)
    writer.write(b"POST /new_block HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + f"Authorization: Bearer {OBSERVER_TOKEN}\r\n".encode()
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[: len(body) // 2])
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()
    await writer.wait_closed()
    async with httpx.AsyncClient(timeout=20) as http:
        await node.still_publishes(http)
    assert "Traceback" not in node.ingester.logs()


async def test_an_undecodable_print_is_skipped_and_the_rest_published(
        node: Node, hostile: Callable[[str, str], None]) -> None:
    """A block whose print value is not Clarity is accepted: that print is reported as a
    decode failure and every other print is published."""
    hostile(SUITE, "ingester: undecodable Clarity value in a print")
    block = node.chain.next_block()
    payload = json.loads(json.dumps(block.payload))
    events = sorted(payload["events"], key=lambda e: e["event_index"])
    events[0]["contract_event"]["raw_value"] = "0x0c" + "ff" * 8  # a tuple of 4 G fields
    before = len(node.client.of("event"))
    async with httpx.AsyncClient(timeout=20) as http:
        answer = await http.post(f"{node.ingester.http}/new_block", headers=GOOD,
                                 content=json.dumps(payload).encode())
        assert answer.status_code == 200 and answer.json()["published"] == len(events) - 1
        good = {e["txid"] for e in events[1:]}
        got = await node.client.wait_for("event", before + len(good))
        assert {e["txId"] for e in got[before:]} == good
        status = (await http.get(f"{node.ingester.http}/health")).json()
        assert status["metrics"]["decodeFailures"] >= 1
        await node.still_publishes(http)
