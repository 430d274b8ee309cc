"""Server-Sent Events fallback: same events as /ws, ids carry the offset, Last-Event-ID resumes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from adstack_bus import Publisher, create_redis
from adstack_events import ContractEvent
from adstack_gateway.protocol import ProtocolError
from adstack_gateway.sse import parse_last_event_id
from tests.helpers import services

pytestmark = pytest.mark.e2e

C1 = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"


def make_event(n: int, etype: str = "spend_recorded") -> ContractEvent:
    return ContractEvent(id=f"sse-{n}", type=etype, contractId=C1, txId=f"0x{n:064x}",
                         blockHeight=n, blockHash="0x" + "ab" * 32,
                         indexBlockHash="0x" + "cd" * 32, eventIndex=0, timestamp=n,
                         data={"n": n})


async def until_subscribed(records: list[dict[str, Any]], reader: asyncio.Task[None]) -> None:
    """Await the stream's ``subscribed`` record: events published before it are not sent."""
    deadline = asyncio.get_running_loop().time() + 15
    while not any(r["event"] == "subscribed" for r in records):
        assert not reader.done(), reader
        assert asyncio.get_running_loop().time() < deadline, records
        await asyncio.sleep(0.02)


async def read_records(response: httpx.Response, want_events: int,
                       out: list[dict[str, Any]]) -> None:
    record: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if line == "":
            if "event" in record:
                out.append(record)
                if sum(1 for r in out if r["event"] == "event") >= want_events:
                    return
            record = {}
        elif line.startswith(":"):
            continue
        else:
            key, _, value = line.partition(": ")
            record[key] = json.loads(value) if key == "data" else value


def test_last_event_id_parsing() -> None:
    assert parse_last_event_id("abc123:42") == {"epoch": "abc123", "offset": 42}
    assert parse_last_event_id("a:b:7") == {"epoch": "a:b", "offset": 7}
    assert parse_last_event_id(None) is None
    assert parse_last_event_id("") is None
    # Malformed positions are refused, not ignored (issue 18 item 5: "\u00b2".isdigit()
    # is True and int() of it raised; 5,000 digits raised too).
    for bad in ["42", "e:x", ":5", "e:", "e:\u00b2", "e:\u0663", "e:" + "9" * 5000,
                "e:9007199254740992", "e:-1", "e:+1", "e: 1", "\u00e9:1", "e" * 65 + ":1"]:
        with pytest.raises(ProtocolError) as info:
            parse_last_event_id(bad)
        assert info.value.code == "INVALID_PAYLOAD"
    assert parse_last_event_id("e:9007199254740991") == {"epoch": "e",
                                                         "offset": 9007199254740991}


async def test_sse_streams_filters_and_resumes_with_last_event_id(
        clean_redis: str, log_dir: Path, token: str) -> None:
    redis = create_redis(clean_redis)
    publisher = Publisher(redis, history_limit=1000)
    try:
        with services.gateway(clean_redis, log_dir).start() as gw:
            async with httpx.AsyncClient(timeout=20) as http:
                bad = await http.get(f"{gw.http}/sse", params={"token": token})
                assert bad.status_code == 400
                refused = await http.get(f"{gw.http}/sse", params={"contractId": C1,
                                                                   "token": "nope"})
                assert refused.status_code == 401

                records: list[dict[str, Any]] = []
                params = {"contractId": C1, "token": token,
                          "eventTypes": "spend_recorded,campaign_paused"}
                async with http.stream("GET", f"{gw.http}/sse", params=params) as response:
                    assert response.headers["content-type"].startswith("text/event-stream")
                    reader = asyncio.create_task(read_records(response, 3, records))
                    await until_subscribed(records, reader)
                    await publisher.publish_events([
                        make_event(1), make_event(2, "campaign_created"), make_event(3),
                        make_event(4, "campaign_paused")])
                    await asyncio.wait_for(reader, 10)
                events = [r for r in records if r["event"] == "event"]
                assert [e["data"]["data"]["n"] for e in events] == [1, 3, 4]
                assert [r["event"] for r in records][:2] == ["connected", "subscribed"]
                last_id = events[-1]["id"]
                epoch = events[-1]["data"]["epoch"]
                assert last_id == f"{epoch}:4"

                # Missed while disconnected, then resumed from Last-Event-ID.
                await publisher.publish_events([make_event(n) for n in range(5, 9)])
                resumed: list[dict[str, Any]] = []
                async with http.stream("GET", f"{gw.http}/sse", params=params,
                                       headers={"Last-Event-ID": last_id}) as response:
                    reader = asyncio.create_task(read_records(response, 5, resumed))
                    await until_subscribed(resumed, reader)
                    await publisher.publish_events([make_event(9)])
                    await asyncio.wait_for(reader, 10)
                subscribed = next(r for r in resumed if r["event"] == "subscribed")
                assert subscribed["data"]["recovered"] is True
                got = [r["data"]["data"]["n"] for r in resumed if r["event"] == "event"]
                assert got == [5, 6, 7, 8, 9]
                assert [r["id"] for r in resumed if r["event"] == "event"] == [
                    f"{epoch}:{n}" for n in range(5, 10)]
    finally:
        await redis.aclose()
