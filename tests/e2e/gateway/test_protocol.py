"""Every command, reply and error code, on each transport, against a real gateway process."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from adstack_bus import keys
from adstack_localredis import LocalRedis
from tests.conftest import make_token
from tests.e2e.gateway.conftest import FAST_KEEPALIVE, TRANSPORTS, Connect, client_for
from tests.helpers import services
from tests.helpers.client import SioClient, WsClient
from tests.helpers.events import (
    AUCTION,
    CAMPAIGN,
    DEPLOYER,
    PAYMENT,
    make_event,
    publish,
    publish_raw,
)

pytestmark = pytest.mark.e2e


async def test_connected_greets_with_identity_and_limits(connect: Connect) -> None:
    client = await connect(make_token(userId="alice"))
    hello = client.of("connected")[0]
    assert hello["userId"] == "alice" and hello["socketId"]
    assert hello["limits"]["maxSubscriptions"] == 10
    assert hello["limits"]["historyLimit"] == 100
    assert hello["limits"]["maxFrameBytes"] == 65536


async def test_subscribe_receive_unsubscribe(connect: Connect, fresh: str) -> None:
    await publish(fresh, [make_event(CAMPAIGN, 1)])  # one before: the position is reported
    client = await connect()
    reply = await client.request("subscribe", {"contractId": CAMPAIGN}, "subscribed")
    assert reply["contractId"] == CAMPAIGN and reply["eventTypes"] == []
    assert reply["offset"] == 1 and len(reply["epoch"]) > 0
    await publish(fresh, [make_event(CAMPAIGN, n) for n in (2, 3, 4)])
    events = await client.wait_for("event", 3)
    assert [e["offset"] for e in events] == [2, 3, 4]
    assert [e["data"]["n"] for e in events] == [2, 3, 4]
    assert all(e["epoch"] == reply["epoch"] and e["contractId"] == CAMPAIGN for e in events)

    gone = await client.request("unsubscribe", {"contractId": CAMPAIGN}, "unsubscribed")
    assert gone["contractId"] == CAMPAIGN
    await client.request("subscribe", {"contractId": AUCTION}, "subscribed")
    await publish(fresh, [make_event(CAMPAIGN, 5), make_event(AUCTION, 1)])
    await client.wait_for("event", 4)  # the AUCTION event: everything before it has arrived
    assert [(e["contractId"], e["offset"]) for e in client.of("event")][3:] == [(AUCTION, 1)]


async def test_event_types_filter_and_resubscribe_replaces_it(connect: Connect,
                                                              fresh: str) -> None:
    client = await connect()
    reply = await client.request("subscribe", {"contractId": CAMPAIGN,
                                               "eventTypes": ["spend-recorded"]}, "subscribed")
    assert reply["eventTypes"] == ["spend_recorded"]
    await publish(fresh, [make_event(CAMPAIGN, 1, "campaign_created"),
                          make_event(CAMPAIGN, 2, "spend_recorded")])
    await client.wait_for("event", 1)
    again = await client.request("subscribe", {"contractId": CAMPAIGN,
                                               "eventTypes": ["campaign_created"]}, "subscribed")
    assert again["eventTypes"] == ["campaign_created"]
    await publish(fresh, [make_event(CAMPAIGN, 3, "spend_recorded"),
                          make_event(CAMPAIGN, 4, "campaign_created")])
    await client.wait_for("event", 2)
    assert [(e["type"], e["offset"]) for e in client.of("event")] == [
        ("spend_recorded", 2), ("campaign_created", 4)]


@pytest.mark.parametrize(("event", "data", "code"), [
    ("launchMissiles", {}, "UNKNOWN_EVENT"),
    ("subscribe", {"contractId": "not-a-contract"}, "INVALID_CONTRACT"),
    ("subscribe", {"contractId": f"{DEPLOYER[:-1]}N.promo-manager"}, "INVALID_CONTRACT"),
    ("subscribe", {}, "INVALID_CONTRACT"),
    ("subscribe", [CAMPAIGN], "INVALID_PAYLOAD"),
    ("subscribe", {"contractId": CAMPAIGN, "eventTypes": [1]}, "INVALID_PAYLOAD"),
    ("getHistory", {"contractId": CAMPAIGN, "limit": "5"}, "INVALID_PAYLOAD"),
    ("getStats", {"contractId": "SP.nope"}, "INVALID_CONTRACT"),
    ("unsubscribe", {"contractId": CAMPAIGN}, "NOT_SUBSCRIBED"),
])
async def test_bad_commands_get_coded_errors_and_the_connection_stays(
        connect: Connect, event: str, data: object, code: str) -> None:
    client = await connect()
    reply = await client.request(event, data, "never")
    assert reply["error"]["code"] == code and reply["error"]["message"]
    assert (await client.request("ping", None, "pong"))["timestamp"] > 0


@pytest.mark.parametrize("transport", ["ws"])
async def test_a_binary_frame_closes_with_bad_request(connect: Connect) -> None:
    client = await connect()
    assert isinstance(client, WsClient) and client.ws is not None
    await client.ws.send(b"\x00\x01")
    assert await client.wait_closed() == 4501
    assert client.close_reason == "binary frames are not supported"


@pytest.mark.parametrize("transport", ["ws"])
async def test_a_frame_that_is_not_json_gets_invalid_payload(connect: Connect) -> None:
    client = await connect()
    assert isinstance(client, WsClient) and client.ws is not None
    await client.ws.send("{not json")
    error = (await client.wait_for("error"))[0]
    assert error["code"] == "INVALID_PAYLOAD"
    assert (await client.request("ping", None, "pong"))["timestamp"] > 0


async def test_eleventh_subscription_gets_max_subscriptions(connect: Connect) -> None:
    client = await connect()
    contracts = [f"{DEPLOYER}.contract-{n}" for n in range(11)]
    for contract in contracts[:10]:
        assert (await client.request("subscribe", {"contractId": contract},
                                     "subscribed"))["contractId"] == contract
    refused = await client.request("subscribe", {"contractId": contracts[10]}, "subscribed")
    assert refused["error"]["code"] == "MAX_SUBSCRIPTIONS"
    # Changing the filter of one already held is not a new subscription.
    assert (await client.request("subscribe", {"contractId": contracts[0], "eventTypes": ["x"]},
                                 "subscribed"))["eventTypes"] == ["x"]
    await client.request("unsubscribe", {"contractId": contracts[3]}, "unsubscribed")
    assert (await client.request("subscribe", {"contractId": contracts[10]},
                                 "subscribed"))["contractId"] == contracts[10]


async def test_contracts_outside_the_token_claim_are_forbidden(connect: Connect) -> None:
    client = await connect(make_token(contracts=[f"{DEPLOYER}.promo-*"]))
    assert (await client.request("subscribe", {"contractId": CAMPAIGN},
                                 "subscribed"))["contractId"] == CAMPAIGN
    refused = await client.request("subscribe", {"contractId": AUCTION}, "subscribed")
    assert refused["error"]["code"] == "FORBIDDEN"


async def test_history_is_newest_first_with_default_and_capped_limits(
        connect: Connect, fresh: str) -> None:
    await publish(fresh, [make_event(CAMPAIGN, n) for n in range(1, 61)])
    client = await connect()
    default = await client.request("getHistory", {"contractId": CAMPAIGN}, "history")
    assert default["limit"] == 50 and default["count"] == 50
    assert [e["offset"] for e in default["events"]] == list(range(60, 10, -1))
    capped = await client.request("getHistory", {"contractId": CAMPAIGN, "limit": 500},
                                  "history")
    assert capped["limit"] == 100 and capped["count"] == 60
    assert capped["events"][-1]["data"] == {"event": "campaign-created", "n": 1}
    few = await client.request("getHistory", {"contractId": CAMPAIGN, "limit": 3}, "history")
    assert [e["offset"] for e in few["events"]] == [60, 59, 58]
    empty = await client.request("getHistory", {"contractId": AUCTION}, "history")
    assert (empty["count"], empty["events"]) == (0, [])


async def test_stats_count_by_type(connect: Connect, fresh: str) -> None:
    before = int(time.time() * 1000)
    await publish(fresh, [make_event(PAYMENT, 1, "payment_sent"),
                          make_event(PAYMENT, 2, "payment_sent"),
                          make_event(PAYMENT, 3, "refund_issued")])
    client = await connect()
    stats = await client.request("getStats", {"contractId": PAYMENT}, "stats")
    assert stats["contractId"] == PAYMENT and stats["total"] == 3
    assert stats["byType"] == {"payment_sent": 2, "refund_issued": 1}
    assert stats["lastUpdated"] >= before
    none = await client.request("getStats", {"contractId": AUCTION}, "stats")
    assert (none["total"], none["byType"], none["lastUpdated"]) == (0, {}, None)


async def test_block_and_transaction_feeds(connect: Connect, fresh: str) -> None:
    client = await connect()
    assert (await client.request("subscribeBlocks", None, "subscribed"))["feed"] == "block"
    assert (await client.request("subscribeTransactions", None, "subscribed"))["feed"] == (
        "transaction")
    block = {"height": 7, "hash": "0xaa", "indexBlockHash": "0xbb", "burnBlockHeight": 70,
             "timestamp": 1, "txCount": 2}
    tx = {"txId": "0x01", "contractId": CAMPAIGN, "functionName": "create-campaign",
          "sender": DEPLOYER, "status": "success", "blockHeight": 7}
    await publish_raw(fresh, keys.BLOCK_CHANNEL, {"event": "block", "data": block})
    await publish_raw(fresh, keys.TRANSACTION_CHANNEL, {"event": "transaction", "data": tx})
    assert (await client.wait_for("block"))[0] == block
    assert (await client.wait_for("transaction"))[0] == tx
    assert (await client.request("unsubscribeBlocks", None, "unsubscribed"))["feed"] == "block"
    await publish_raw(fresh, keys.BLOCK_CHANNEL, {"event": "block", "data": block})
    await publish_raw(fresh, keys.TRANSACTION_CHANNEL, {"event": "transaction", "data": tx})
    await client.wait_for("transaction", 2)
    assert len(client.of("block")) == 1
    assert (await client.request("unsubscribeTransactions", None, "unsubscribed"))["feed"] == (
        "transaction")
    await publish_raw(fresh, keys.TRANSACTION_CHANNEL, {"event": "transaction", "data": tx})
    await client.request("subscribeBlocks", None, "subscribed")
    await publish_raw(fresh, keys.BLOCK_CHANNEL, {"event": "block", "data": block})
    await client.wait_for("block", 2)  # published after the transaction: that one is not coming
    assert len(client.of("transaction")) == 2


async def test_subscribe_since_recovers_what_was_missed(connect: Connect, fresh: str) -> None:
    await publish(fresh, [make_event(CAMPAIGN, n) for n in (1, 2)])
    first = await connect()
    position = await first.request("subscribe", {"contractId": CAMPAIGN}, "subscribed")
    assert position["offset"] == 2
    await publish(fresh, [make_event(CAMPAIGN, n) for n in (3, 4, 5)])  # "while away"
    back = await connect()
    since = {"offset": position["offset"], "epoch": position["epoch"]}
    reply = await back.request("subscribe", {"contractId": CAMPAIGN, "since": since},
                               "subscribed")
    assert reply["recovered"] is True
    assert [e["offset"] for e in await back.wait_for("event", 3)] == [3, 4, 5]
    stale = await connect()
    reply = await stale.request("subscribe", {"contractId": CAMPAIGN, "since": {
        "offset": 1, "epoch": "another-epoch"}}, "subscribed")
    # Told, and given every event the history still holds (the whole of this epoch here).
    assert reply["recovered"] is False and reply["offset"] == 0
    assert [e["offset"] for e in await stale.wait_for("event", 5)] == [1, 2, 3, 4, 5]


async def test_event_reverted_reaches_subscribers_whatever_their_filter(
        connect: Connect, fresh: str) -> None:
    client = await connect()
    await client.request("subscribe", {"contractId": CAMPAIGN, "eventTypes": ["x"]},
                         "subscribed")
    notice = {"contractId": CAMPAIGN, "ids": ["abc"], "blockHash": "0x01",
              "indexBlockHash": "0x02", "blockHeight": 9, "reason": "reorg"}
    await publish_raw(fresh, keys.event_channel(CAMPAIGN),
                      {"event": "event_reverted", "data": notice})
    assert (await client.wait_for("event_reverted"))[0] == notice


async def test_request_id_is_echoed(connect: Connect, transport: str) -> None:
    client = await connect()
    reply = await client.request("ping", None, "pong", requestId="req-7")
    if transport == "ws":
        assert client.frames[-1]["requestId"] == "req-7"
    else:  # Socket.IO events have no envelope: the id travels inside data
        assert reply["requestId"] == "req-7"
    error = await client.request("subscribe", {"contractId": "bad"}, "subscribed",
                                 requestId=42)
    if transport == "ws":
        assert client.frames[-1]["requestId"] == 42
    else:
        assert error["error"]["requestId"] == 42


@pytest.mark.parametrize("transport", ["sio-websocket", "sio-polling"])
async def test_socketio_acknowledgements_carry_the_reply(connect: Connect) -> None:
    client = await connect()
    assert isinstance(client, SioClient)
    ack = await client.call("subscribe", {"contractId": CAMPAIGN, "requestId": "a1"})
    assert ack["event"] == "subscribed" and ack["requestId"] == "a1"
    assert ack["data"]["contractId"] == CAMPAIGN
    error = await client.call("unsubscribe", {"contractId": AUCTION})
    assert error == {"event": "error", "data": {"message": "not subscribed to this contract",
                                                "code": "NOT_SUBSCRIBED"}}
    assert (await client.call("getStats", {"contractId": CAMPAIGN}))["event"] == "stats"
    # The reply is emitted as an event too, so `socket.on("subscribed")` code keeps working.
    assert client.of("subscribed")[0]["contractId"] == CAMPAIGN


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_history_and_stats_errors_when_redis_is_down(transport: str,
                                                           log_dir: Path) -> None:
    with LocalRedis() as own:
        gateway = services.gateway(own.url, log_dir, **FAST_KEEPALIVE).start()
        client = client_for(gateway, transport, make_token())
        try:
            await client.open()
            await client.wait_for("connected")
            own.kill()
            history = await client.request("getHistory", {"contractId": CAMPAIGN}, "history")
            assert history["error"]["code"] == "HISTORY_ERROR"
            stats = await client.request("getStats", {"contractId": CAMPAIGN}, "stats")
            assert stats["error"]["code"] == "STATS_ERROR"
            own.start()
            for _ in range(100):
                reply = await client.request("getStats", {"contractId": CAMPAIGN}, "stats")
                if "error" not in reply:
                    break
                await asyncio.sleep(0.1)
            assert reply["total"] == 0
        finally:
            await client.aclose()
            gateway.stop()
