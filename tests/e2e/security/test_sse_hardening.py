"""SSE refusals: malformed positions, the per-IP cap, failed subscribes (issue 18 items 5
and 13). Each refusal is a coded HTTP answer, and none leaves a session behind: the IP's
next ordinary stream is served."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import make_token
from tests.e2e.security.conftest import MAX_CONNECTIONS_PER_IP, Listener, next_ip
from tests.helpers import services
from tests.helpers.events import AUCTION, CAMPAIGN

pytestmark = pytest.mark.e2e

SUITE_BAD_INPUT = "bad-input catalogue"

BAD_POSITIONS: list[tuple[str, dict[str, str], dict[str, Any]]] = [
    # (case, query, headers)
    ("non-ASCII digit in lastEventId", {"lastEventId": "abc:\u00b2"}, {}),
    ("5,000-digit offset in lastEventId", {"lastEventId": "abc:" + "9" * 5000}, {}),
    ("raw byte 0xB2 in Last-Event-ID", {}, {"Last-Event-ID": b"abc:\xb2"}),
    ("5,000-digit offset in Last-Event-ID", {}, {"Last-Event-ID": "abc:" + "1" * 5000}),
    ("offset over 2^53-1", {"lastEventId": "abc:9007199254740992"}, {}),
    ("non-ASCII epoch", {"lastEventId": "\u00e9poch:5"}, {}),
    ("no offset", {"lastEventId": "abc:"}, {}),
    ("no epoch", {"lastEventId": "42"}, {}),
]


def sse_params(token: str, contract: str = CAMPAIGN, **extra: str) -> dict[str, str]:
    return {"contractId": contract, "token": token, **extra}


async def first_records(response: httpx.Response, count: int) -> list[dict[str, Any]]:
    """The first ``count`` SSE records (comments and ``retry`` skipped); the stream stays
    open (an ``async for`` left early would close the generator, and the response)."""
    lines: AsyncIterator[str] = response.extensions.setdefault("lines", response.aiter_lines())
    out: list[dict[str, Any]] = []
    record: dict[str, Any] = {}
    while len(out) < count:
        line = await anext(lines)
        if line == "":
            if "event" in record:
                out.append(record)
            record = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            record[key] = json.loads(value) if key == "data" else value
    return out


async def assert_stream_served(gateway: services.Service, ip: str) -> None:
    """An ordinary stream from ``ip`` gets ``connected`` and ``subscribed``.

    (Each stream has its own httpx client: a line iterator left mid-stream stalls the
    client's later requests.)"""
    async with (httpx.AsyncClient(timeout=10) as http,
                http.stream("GET", f"{gateway.http}/sse", params=sse_params(make_token()),
                            headers={"X-Forwarded-For": ip}) as response):
        assert response.status_code == 200, await response.aread()
        records = await asyncio.wait_for(first_records(response, 2), 10)
    assert [r["event"] for r in records] == ["connected", "subscribed"]


@pytest.mark.parametrize(("case", "query", "headers"), BAD_POSITIONS,
                         ids=[c for c, _, _ in BAD_POSITIONS])
async def test_a_malformed_position_is_a_coded_400_and_leaves_no_session(
        guarded: services.Service, listener: Listener, hostile: Callable[[str, str], None],
        case: str, query: dict[str, str], headers: dict[str, Any]) -> None:
    hostile(SUITE_BAD_INPUT, f"sse: {case}")
    ip = next_ip()
    async with httpx.AsyncClient(timeout=10) as http:
        # Far more than the per-IP cap: a session left registered by any of them would
        # lock the IP out (it did: 500 with a traceback, then 4004 for every connection).
        for _ in range(MAX_CONNECTIONS_PER_IP * 4):
            answer = await http.get(f"{guarded.http}/sse",
                                    params=sse_params(make_token(), **query),
                                    headers={"X-Forwarded-For": ip, **headers})
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"]["code"] == "INVALID_PAYLOAD"
            assert "5000" not in answer.text and "99999" not in answer.text
        await assert_stream_served(guarded, ip)
    await listener.still_receives()
    assert "Traceback" not in guarded.logs()


async def test_two_hundred_bad_positions_from_one_ip_then_a_normal_stream(
        guarded: services.Service, hostile: Callable[[str, str], None]) -> None:
    """The issue's reproduction: 200 crashing requests from one IP, then a normal one."""
    hostile(SUITE_BAD_INPUT, "sse: 200 malformed positions from one IP")
    ip = next_ip()
    async with httpx.AsyncClient(timeout=10) as http:
        for n in range(200):
            case_query, case_headers = BAD_POSITIONS[n % 3][1:]
            answer = await http.get(f"{guarded.http}/sse",
                                    params=sse_params(make_token(), **case_query),
                                    headers={"X-Forwarded-For": ip, **case_headers})
            assert answer.status_code == 400
        await assert_stream_served(guarded, ip)


async def test_the_per_ip_cap_answers_429_with_retry_after(
        guarded: services.Service, hostile: Callable[[str, str], None]) -> None:
    hostile(SUITE_BAD_INPUT, "sse: over the per-IP cap")
    ip = next_ip()
    headers = {"X-Forwarded-For": ip}
    async with httpx.AsyncClient(timeout=10) as http:
        async with contextlib.AsyncExitStack() as streams:
            for _ in range(MAX_CONNECTIONS_PER_IP):
                own = await streams.enter_async_context(httpx.AsyncClient(timeout=10))
                response = await streams.enter_async_context(own.stream(
                    "GET", f"{guarded.http}/sse", params=sse_params(make_token()),
                    headers=headers))
                assert response.status_code == 200
                await asyncio.wait_for(first_records(response, 2), 10)
            refused = await http.get(f"{guarded.http}/sse", params=sse_params(make_token()),
                                     headers=headers)
            assert refused.status_code == 429
            assert int(refused.headers["Retry-After"]) >= 1
            assert refused.json()["error"]["code"] == 4004
        # The streams' sessions are gone once they end: the IP is served again.
        for _ in range(100):
            answer = await http.get(f"{guarded.http}/sse",
                                    params=sse_params(make_token(), lastEventId="x:y"),
                                    headers=headers)  # a quick 400, counted as nothing
            assert answer.status_code == 400
            try:
                await assert_stream_served(guarded, ip)
                break  # (a 429 from a stream not yet ended fails the assertion: retry)
            except AssertionError:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("the IP stayed locked out after its streams ended")


@pytest.mark.parametrize(("case", "token", "contract", "extra", "status", "code"), [
    ("invalid contract", None, "not-a-contract", {}, 400, "INVALID_CONTRACT"),
    ("bad checksum", None, CAMPAIGN[:-20] + "X" + CAMPAIGN[-19:], {}, 400, "INVALID_CONTRACT"),
    ("bad eventTypes", None, CAMPAIGN, {"eventTypes": "no spaces!"}, 400, "INVALID_PAYLOAD"),
    ("forbidden contract", {"contracts": [CAMPAIGN]}, AUCTION, {}, 403, "FORBIDDEN"),
])
async def test_a_failed_subscribe_sends_error_and_ends_the_stream(
        guarded: services.Service, hostile: Callable[[str, str], None], case: str,
        token: dict[str, Any] | None, contract: str, extra: dict[str, str], status: int,
        code: str) -> None:
    hostile(SUITE_BAD_INPUT, f"sse: failed subscribe ({case})")
    ip = next_ip()
    async with httpx.AsyncClient(timeout=10) as http:
        for _ in range(MAX_CONNECTIONS_PER_IP + 2):
            # The whole answer is read: it ends (it used to stay open after the error).
            answer = await asyncio.wait_for(http.get(
                f"{guarded.http}/sse", params=sse_params(make_token(**(token or {})),
                                                         contract, **extra),
                headers={"X-Forwarded-For": ip}), 10)
            assert answer.status_code == status
            assert answer.headers["content-type"].startswith("text/event-stream")
            assert answer.text.startswith("event: error\n")
            data = json.loads(answer.text.split("data: ", 1)[1])
            assert data["code"] == code
        await assert_stream_served(guarded, ip)
