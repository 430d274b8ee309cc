"""Slow request bodies, against real processes: a client that sends a complete head and
then stalls or trickles the body gets ``408`` with the ``BODY_TIMEOUT`` code at the
deadline and is closed, and other clients are served meanwhile. A large block sent at a
steady pace inside the deadline is published.

The ingester runs with ``BODY_TIMEOUT=2`` (and ``OBSERVER_TOKEN``, as in production); the
gateway is the suite's ``guarded`` one (same deadline), whose only body-reading endpoint
is Engine.IO's polling POST.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import make_token
from tests.e2e.security.conftest import BODY_TIMEOUT, Listener, next_ip
from tests.e2e.security.test_ingester_inputs import (
    GOOD,
    OBSERVER_TOKEN,
    Node,
    ingester_and_gateway,
)
from tests.helpers import services
from tests.helpers.hostile import tcp_held_for
from tests.helpers.scrape import scrape, value

pytestmark = pytest.mark.e2e

SUITE = "bad-input catalogue"
Hostile = Callable[[str, str], None]
BOUND = BODY_TIMEOUT + 2.5
"""Latest a late body may be answered and closed (generous: a shared, busy machine)."""


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[services.Service,
                                                                        services.Service]]:
    with ingester_and_gateway(tmp_path_factory.mktemp("slow-bodies"),
                              OBSERVER_TOKEN=OBSERVER_TOKEN, BODY_TIMEOUT=str(BODY_TIMEOUT),
                              STACKS_CONTRACTS="*") as both:
        yield both


def post_head(path: str, length: int | None, headers: dict[str, str]) -> bytes:
    """A POST head with ``Content-Length: length``, or chunked when ``length`` is None."""
    lines = [f"POST {path} HTTP/1.1", "Host: x", *(f"{k}: {v}" for k, v in headers.items()),
             "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer_of(raw: bytes) -> tuple[bytes, dict[str, str], bytes]:
    """(status line, headers, body) of one HTTP/1.1 response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.decode().partition(":") for line in lines)}
    return status, headers, body


def assert_408(raw: bytes, held: float) -> None:
    status, headers, body = answer_of(raw)
    assert status.startswith(b"HTTP/1.1 408 "), raw[:200]
    assert headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert error["code"] == "BODY_TIMEOUT"
    assert f"{BODY_TIMEOUT:g}s" in error["message"]
    # Answered at the deadline, not before it, and the connection closed right after
    # (tcp_held_for returns when the server closes).
    assert BODY_TIMEOUT * 0.8 <= held <= BOUND, held


# -- ingester -------------------------------------------------------------------------------

def ingester_cases(node: Node) -> dict[str, tuple[bytes, bytes]]:
    body = node.candidate()
    half = len(body) // 2
    return {
        "stalled after half the body": (
            post_head("/new_block", len(body), GOOD) + body[:half], b""),
        "trickled a byte every 100 ms": (
            post_head("/new_block", len(body), GOOD) + body[:half], body[half:half + 60]),
        "chunked, trickled, never ended": (
            post_head("/new_block", None, GOOD) + f"{half:x}\r\n".encode() + body[:half]
            + b"\r\n", b"1\r\n \r\n" * 12),
    }


@pytest.mark.parametrize("case", ["stalled after half the body",
                                  "trickled a byte every 100 ms",
                                  "chunked, trickled, never ended"])
async def test_a_late_block_body_gets_408_while_the_node_is_served(
        node: Node, hostile: Hostile, case: str) -> None:
    hostile(SUITE, f"ingester: body {case}")
    payload, trickle = ingester_cases(node)[case]
    before = value(scrape(node.ingester.http), "adstack_ingest_requests_total",
                   outcome="timeout")
    started = time.monotonic()
    slow = asyncio.create_task(tcp_held_for(node.ingester.port, payload, trickle=trickle,
                                            every=0.1, limit=BOUND + 5))
    await asyncio.sleep(0.1)
    async with httpx.AsyncClient(timeout=20) as http:
        await node.still_publishes(http)  # another sender, while this one holds on
    served = time.monotonic() - started
    held, raw = await slow
    assert served < min(held, BODY_TIMEOUT), (served, held)
    assert_408(raw, held)
    after = value(scrape(node.ingester.http), "adstack_ingest_requests_total",
                  outcome="timeout")
    assert after == before + 1
    logs = node.ingester.logs()
    assert "request body not complete within" in logs and "Traceback" not in logs
    async with httpx.AsyncClient(timeout=20) as http:
        await node.still_publishes(http)


async def test_a_large_block_sent_at_a_steady_pace_is_published(node: Node) -> None:
    """A legitimate large block (2,000 print events, about 2.7 MB) that takes most of the
    deadline to arrive is published: the deadline bounds the whole body, not its size."""
    block = node.chain.next_block(n_events=2000)
    body = json.dumps(block.payload).encode()
    assert len(body) > 2_000_000
    pieces = 32
    step = -(-len(body) // pieces)
    before = len(node.client.of("event"))
    reader, writer = await asyncio.open_connection("127.0.0.1", node.ingester.port)
    try:
        started = time.monotonic()
        writer.write(post_head("/new_block", len(body), GOOD))
        for offset in range(0, len(body), step):
            writer.write(body[offset:offset + step])
            await writer.drain()
            await asyncio.sleep(BODY_TIMEOUT * 0.5 / pieces)  # ~1 s in all
        sent = time.monotonic() - started
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        status, headers, _ = answer_of(head)
        answer = await reader.readexactly(int(headers["content-length"]))
    finally:
        writer.close()
    assert BODY_TIMEOUT * 0.4 <= sent < BODY_TIMEOUT, sent
    assert status.startswith(b"HTTP/1.1 200"), (status, answer)
    assert json.loads(answer)["published"] == len(block.prints) == 2000
    got = await node.client.wait_for("event", before + 2000, timeout=30)
    assert {e["txId"] for e in got[before:]} == {p["txId"] for p in block.prints}


# -- gateway --------------------------------------------------------------------------------

async def test_a_late_socketio_polling_body_gets_408(
        guarded: services.Service, listener: Listener, hostile: Hostile) -> None:
    """Engine.IO's polling POST is the gateway's one endpoint that reads a body."""
    hostile(SUITE, "Socket.IO polling POST: body stalled")
    ip = next_ip()
    base = f"{guarded.http}/socket.io/?EIO=4&transport=polling"
    async with httpx.AsyncClient(headers={"X-Forwarded-For": ip}, timeout=10) as http:
        opened = await http.get(base)
        sid = json.loads(opened.text[1:])["sid"]
    packet = ("40" + json.dumps({"token": make_token()})).encode()
    payload = post_head(f"/socket.io/?EIO=4&transport=polling&sid={sid}", len(packet),
                        {"X-Forwarded-For": ip, "Content-Type": "text/plain"})
    slow = asyncio.create_task(tcp_held_for(guarded.port, payload + packet[:10],
                                            limit=BOUND + 5))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await listener.still_receives()  # delivery goes on meanwhile
    assert time.monotonic() - started < BODY_TIMEOUT
    held, raw = await slow
    assert_408(raw, held)
    await listener.still_receives()


async def test_a_body_trickled_after_the_answer_is_cut_at_the_deadline(
        guarded: services.Service, listener: Listener, hostile: Hostile) -> None:
    """An endpoint that answers without reading the body (``GET /health`` with one): the
    client trickling the rest no longer holds the connection for as long as it likes."""
    hostile(SUITE, "connection: body trickled after the answer")
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
    held, raw = await tcp_held_for(guarded.port, head, trickle=b"x" * 80, every=0.1,
                                   limit=BOUND + 5)
    assert raw.startswith(b"HTTP/1.1 ") and b" 408 " not in raw.split(b"\r\n")[0], raw[:80]
    assert BODY_TIMEOUT * 0.8 <= held <= BOUND, held
    await listener.still_receives()
