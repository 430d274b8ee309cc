"""Drop-in compatibility: what the original server sends (seed-protocol.md), checked with the
official JavaScript ``socket.io-client`` v4 against a real gateway fed by a real ingester.

Every Socket.IO row of seed-protocol.md runs on the three transport settings a frontend may
use (socket.io-client's default: polling then upgrade; polling only; websocket only). The
HTTP rows (``/health``, ``/status``, ``/metrics``) are checked once. Each assertion is on
field names and types as the original sends them; values only where they matter (ids,
order, counts). The refusal cases of issue 14 are not here (another change owns them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from adstack_devnet import DEFAULT_CONTRACTS, DEVNET_DEPLOYER
from adstack_devnet.chain import Block, Chain
from adstack_events import ContractEvent
from adstack_ingester.payloads import new_block_decoder
from adstack_ingester.pipeline import block_record, contract_filter
from tests.conftest import make_token
from tests.helpers import services
from tests.helpers.jsclient import JS_DIR, run_node
from tests.helpers.scrape import scrape, value, wait_until

TRANSPORTS = {"default": None, "polling": ["polling"], "websocket": ["websocket"]}
MAX_SUBSCRIPTIONS = 2
HISTORY_PUSH = 10  # SUBSCRIBE_HISTORY's default, the original's fixed 10
OTHERS = [DEFAULT_CONTRACTS["BRIDGE_CONTRACT"], DEFAULT_CONTRACTS["PAYMENT_CONTRACT"],
          DEFAULT_CONTRACTS["GOVERNANCE_CONTRACT"]]
EVENT_FIELDS = {"id": str, "type": str, "contractId": str, "txId": str, "blockHeight": int,
                "timestamp": int, "data": dict}


class System:
    def __init__(self, ingester: services.Service, gateway: services.Service,
                 tmp: Path) -> None:
        self.ingester = ingester
        self.gateway = gateway
        self.tmp = tmp
        self.chain = Chain({}, seed=14, events_per_block=12)

    def block(self, contracts: dict[str, str]) -> tuple[Block, list[ContractEvent]]:
        """The next block, its events only from ``contracts``."""
        self.chain.contracts = contracts
        block = self.chain.next_block()
        record = block_record(new_block_decoder.decode(json.dumps(block.payload).encode()),
                              contract_filter(("*",)))
        return block, list(record.events)

    def post(self, block: Block) -> None:
        reply = httpx.post(f"{self.ingester.http}/new_block", content=json.dumps(block.payload),
                           timeout=10)
        assert reply.status_code == 200, reply.text


@pytest.fixture(scope="module")
def system(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp("compat")
    # The worker's Redis is shared by every test it runs: another test's chain tip there
    # would make this ingester take the blocks below it as old (held, nothing published).
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    client.close()
    ingester = services.ingester(redis_url, tmp).start()
    gateway = services.gateway(redis_url, tmp, GLOBAL_EVENTS="true",
                               MAX_SUBSCRIPTIONS_PER_CLIENT=str(MAX_SUBSCRIPTIONS),
                               WS_PING_INTERVAL="1", WS_PING_TIMEOUT="3").start()
    try:
        ingester.wait_healthy()
        gateway.wait_healthy()
        yield System(ingester, gateway, tmp)
    finally:
        gateway.stop()
        ingester.stop()


def typed(data: Any, fields: dict[str, type]) -> None:
    """``data`` is an object with every one of ``fields`` of its type (ints are not bools)."""
    assert isinstance(data, dict), data
    for name, kind in fields.items():
        assert name in data, f"{name} missing from {data}"
        assert isinstance(data[name], kind) and not (kind is int and isinstance(
            data[name], bool)), f"{name} is {data[name]!r}, not {kind.__name__}"


def frames(lines: list[dict[str, Any]], who: str, event: str) -> list[Any]:
    return [line["data"] for line in lines if line.get("who") == who
            and line.get("event") == event]


@pytest.mark.parametrize("setting", list(TRANSPORTS))
def test_every_socketio_row_of_the_original(system: System, setting: str) -> None:
    contract = f"{DEVNET_DEPLOYER}.compat-{setting}"
    other = f"{DEVNET_DEPLOYER}.compat-{setting}-other"
    # History first: 12 events of the contract, then a live block that mixes both.
    first, first_events = system.block({"CAMPAIGN_CONTRACT": contract})
    system.post(first)
    second, second_events = system.block({"CAMPAIGN_CONTRACT": contract,
                                          "AUCTION_CONTRACT": other})
    live = [e for e in second_events if e.contractId == contract]
    foreign = [e for e in second_events if e.contractId == other]
    assert live and foreign, "the live block carries both contracts (seeded)"
    block_file = system.tmp / f"block-{setting}.json"
    block_file.write_text(json.dumps(second.payload))
    config = {
        "url": system.gateway.http, "transports": TRANSPORTS[setting],
        "token": make_token(userId=f"user-{setting}"),
        "outsiderToken": make_token(userId="outsider", contracts=[other]),
        "contract": contract, "others": OTHERS, "ingester": system.ingester.http,
        "block": str(block_file), "live": len(live), "globalOwn": len(second_events),
        "globalOutsider": len(foreign), "historyLimit": 3, "timeoutMs": 40_000,
    }
    config_file = system.tmp / f"config-{setting}.json"
    config_file.write_text(json.dumps(config))
    lines = run_node(JS_DIR / "seed_protocol.js", str(config_file), timeout=60)
    assert lines[-1] == {"done": True}, lines[-3:]

    # Transports: what the client actually used (the default starts on long-polling and
    # upgrades to a WebSocket; the others keep the one they were given).
    ids = {line["who"]: line for line in lines if "socketId" in line}
    opened = [line["opened"] for line in lines if line.get("who") == "own" and "opened" in line]
    upgraded = [line["upgraded"] for line in lines
                if line.get("who") == "own" and "upgraded" in line]
    expected = {"default": (["polling"], ["websocket"]), "polling": (["polling"], []),
                "websocket": (["websocket"], [])}
    assert (opened, upgraded) == expected[setting]

    # connected: {message, socketId = the client's socket.id, userId, timestamp}
    (connected,) = frames(lines, "own", "connected")
    typed(connected, {"message": str, "socketId": str, "userId": str, "timestamp": int})
    assert connected["socketId"] == ids["own"]["socketId"]
    assert connected["userId"] == f"user-{setting}"
    (outsider_connected,) = frames(lines, "outsider", "connected")
    assert outsider_connected["socketId"] == ids["outsider"]["socketId"] != connected["socketId"]

    # subscribed: {contractId, eventTypes: [str], timestamp}
    subscribed = frames(lines, "own", "subscribed")
    typed(subscribed[0], {"contractId": str, "eventTypes": list, "timestamp": int})
    assert subscribed[0]["contractId"] == contract and subscribed[0]["eventTypes"] == []

    # history pushed right after subscribed: {contractId, events, count}, no limit,
    # the 10 newest first; then the getHistory reply: {…, limit}.
    order = [line.get("event") for line in lines if line.get("who") == "own"]
    assert order[order.index("subscribed") + 1] == "history"
    pushed, reply = frames(lines, "own", "history")
    typed(pushed, {"contractId": str, "events": list, "count": int})
    assert "limit" not in pushed
    newest_first = [e.id for e in reversed(first_events)]
    assert [e["id"] for e in pushed["events"]] == newest_first[:HISTORY_PUSH]
    assert pushed["count"] == HISTORY_PUSH
    for event in pushed["events"]:
        typed(event, EVENT_FIELDS)
    typed(reply, {"contractId": str, "events": list, "count": int, "limit": int})
    assert [e["id"] for e in reply["events"]] == newest_first[:3] and reply["limit"] == 3
    assert reply["count"] == 3

    # stats: {contractId, stats: {totalEvents, eventsByType: {type: int}, lastUpdated}}
    (stats,) = frames(lines, "own", "stats")
    typed(stats, {"contractId": str, "stats": dict})
    typed(stats["stats"], {"totalEvents": int, "eventsByType": dict, "lastUpdated": int})
    assert stats["stats"]["totalEvents"] == len(first_events)
    assert all(isinstance(k, str) and isinstance(v, int)
               for k, v in stats["stats"]["eventsByType"].items())
    assert sum(stats["stats"]["eventsByType"].values()) == len(first_events)

    # event: {id, type, contractId, txId, blockHeight, timestamp, data}, each once, only
    # the subscribed contract's, with the real block height and type.
    events = frames(lines, "own", "event")
    assert [e["id"] for e in events] == [e.id for e in live]
    for event, expected in zip(events, live, strict=True):
        typed(event, EVENT_FIELDS)
        assert event["blockHeight"] == second.height and event["type"] == expected.type
        assert event["type"] != "print"

    # global_event: {contractId, type, timestamp}; to every connection, only for the
    # contracts its token allows.
    for who, expected_events in (("own", second_events), ("outsider", foreign)):
        got = frames(lines, who, "global_event")
        for item in got:
            typed(item, {"contractId": str, "type": str, "timestamp": int})
        assert [(g["contractId"], g["type"]) for g in got] == [
            (e.contractId, e.type) for e in expected_events]

    # unsubscribed: {contractId, timestamp}; error: {message, code}
    (unsubscribed,) = frames(lines, "own", "unsubscribed")
    typed(unsubscribed, {"contractId": str, "timestamp": int})
    errors = frames(lines, "own", "error")
    for error in errors:
        typed(error, {"message": str, "code": str})
    assert [e["code"] for e in errors] == ["NOT_SUBSCRIBED", "MAX_SUBSCRIPTIONS"]
    assert len(frames(lines, "own", "subscribed")) == 1 + MAX_SUBSCRIPTIONS


def test_health_status_and_metrics_read_as_the_original(system: System) -> None:
    block, _ = system.block({"CAMPAIGN_CONTRACT": f"{DEVNET_DEPLOYER}.compat-http"})
    system.post(block)  # the ingester has heard from its source

    def feed_live() -> bool:
        return bool(httpx.get(f"{system.gateway.http}/health", timeout=5)
                    .json()["services"]["stacksWebSocket"])

    wait_until(feed_live, what="the gateway to see the chain feed live")
    for service, clients in ((system.gateway, True), (system.ingester, False)):
        reply = httpx.get(f"{service.http}/health", timeout=5)
        assert reply.status_code == 200
        health = reply.json()
        assert health["status"] == "ok"
        assert isinstance(health["timestamp"], str) and health["timestamp"].endswith("Z")
        assert isinstance(health["uptime"], int | float) and health["uptime"] > 0
        services_ = health["services"]
        assert services_["redis"] is True and services_["stacksWebSocket"] is True
        assert isinstance(services_["websocket"], int)
        typed(health["metrics"], {"connectedClients": int, "activeSubscriptions": int,
                                  "memoryUsage": dict})
        typed(health["metrics"]["memoryUsage"], {"rss": int, "heapTotal": int, "heapUsed": int,
                                                 "external": int, "arrayBuffers": int})
        assert health["metrics"]["memoryUsage"]["rss"] > 1 << 20

        status = httpx.get(f"{service.http}/status", timeout=5).json()
        typed(status, {"version": str, "environment": str, "timestamp": str, "uptime": dict,
                       "services": dict, "contracts": dict, "system": dict})
        typed(status["uptime"], {"seconds": float, "formatted": str})
        typed(status["services"]["redis"], {"connected": bool, "url": str})
        typed(status["services"]["stacksWebSocket"], {"connected": bool})
        typed(status["services"]["websocket"], {"connectedClients": int,
                                                "activeSubscriptions": int})
        assert set(status["contracts"]) >= {"campaigns", "auctions", "bridge", "payments",
                                            "governance"}
        typed(status["system"], {"nodeVersion": str, "platform": str, "memory": dict})
        assert all(v.endswith("MB") for v in status["system"]["memory"].values())
        assert set(status["system"]["memory"]) == {"rss", "heapTotal", "heapUsed"}

        samples = scrape(service.http)
        for kind in ("rss", "heap_total", "heap_used"):
            assert value(samples, "adstack_memory_usage_bytes", type=kind) > 0
        text = httpx.get(f"{service.http}/metrics", timeout=5).text
        assert "# TYPE adstack_uptime_seconds counter\n" in text
        assert "\nadstack_uptime_seconds " in text
        if clients:
            assert "adstack_connected_clients" in text
            assert "adstack_active_subscriptions" in text
