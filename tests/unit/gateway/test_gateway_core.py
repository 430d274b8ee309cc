"""The gateway's session rules, in-process: a real Gateway, Hub and Sessions over the
in-memory bus, clients on loopback transports. No sockets, no Redis; milliseconds each.

subscribe → deliver → filter → recover (``since``, and a bus reconnect) → slow client →
drain → token expiry and refresh.
"""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from adstack_auth import Claims
from adstack_bus import keys
from adstack_gateway.node import Refused
from adstack_protocol import CloseCode
from tests.unit.gateway.rig import C1, C2, event, now, rig, settle, token, until


async def test_subscribe_pushes_history_then_delivers_live_events_once() -> None:
    async with rig(subscribe_history=2) as r:
        await r.publish(event(1), event(2), event(3))
        client = await r.connect()
        reply = await client.send("subscribe", {"contractId": C1}, request_id=7)
        assert reply is not None and reply.event == "subscribed"
        epoch, _ = await r.position()
        await r.publish(event(3), event(4))  # 3 is a duplicate: dropped by the publisher
        frames = await client.frames(4)
        subscribed, history, live = frames[1], frames[2], frames[3]
        assert subscribed["requestId"] == 7
        assert (subscribed["data"]["epoch"], subscribed["data"]["offset"]) == (epoch, 3)
        assert history["event"] == "history"
        assert [e["offset"] for e in history["data"]["events"]] == [3, 2]
        assert (live["event"], live["data"]["offset"]) == ("event", 4)
        assert await client.events(4) == []


async def test_event_type_filter_and_unsubscribe() -> None:
    async with rig(subscribe_history=0) as r:
        client = await r.connect()
        await client.send("subscribe", {"contractId": C1, "eventTypes": ["spend_recorded"]})
        await r.publish(event(1), event(2, etype="spend_recorded"), event(3),
                        event(4, contract=C2))
        assert await client.events(2) == [("event", 2)]
        # Re-subscribing replaces the filter.
        await client.send("subscribe", {"contractId": C1})
        await r.publish(event(5))
        assert await client.events(2) == [("event", 2), ("subscribed", C1), ("event", 4)]
        await client.send("unsubscribe", {"contractId": C1})
        await r.publish(event(6))
        assert await client.events(5) == [("unsubscribed", C1)]
        assert r.hub.local_channels() == 0
        assert r.subscriber.channels == frozenset()


async def test_subscribe_since_replays_what_was_missed_then_goes_live() -> None:
    async with rig() as r:
        await r.publish(*(event(n) for n in range(1, 6)))
        epoch, _ = await r.position()
        client = await r.connect()
        await client.send("subscribe", {"contractId": C1,
                                        "since": {"epoch": epoch, "offset": 2}})
        await r.publish(event(6))
        frames = await client.frames(6)
        assert frames[1]["data"]["recovered"] is True
        assert await client.events(1) == [("subscribed", C1), ("event", 3), ("event", 4),
                                          ("event", 5), ("event", 6)]


async def test_subscribe_since_past_the_trimmed_history_says_recovered_false() -> None:
    async with rig(history_limit=3) as r:
        await r.publish(*(event(n) for n in range(1, 8)))
        epoch, _ = await r.position()
        client = await r.connect()
        await client.send("subscribe", {"contractId": C1,
                                        "since": {"epoch": epoch, "offset": 1}})
        frames = await client.frames(5)
        assert (frames[1]["data"]["recovered"], frames[1]["data"]["offset"]) == (False, 4)
        assert [f["data"]["offset"] for f in frames[2:]] == [5, 6, 7]
        other = await r.connect(remote="10.0.0.2")
        await other.send("subscribe", {"contractId": C1,
                                       "since": {"epoch": "another", "offset": 3}})
        frames = await other.frames(5)
        assert (frames[1]["data"]["recovered"], frames[1]["data"]["epoch"]) == (False, epoch)


async def test_a_bus_reconnect_replays_the_missed_events_in_order() -> None:
    async with rig(subscribe_history=0) as r:
        client = await r.connect()
        await client.send("subscribe", {"contractId": C1})
        await r.publish(event(1))
        r.broker.cut_links()
        await r.publish(event(2), event(3))  # lost on the wire
        r.broker.restore_links()
        await r.publish(event(4))  # live, held until the re-read is done
        await r.subscriber.settle()
        await r.publish(event(5))
        assert await client.events(2) == [("event", n) for n in range(1, 6)]


async def test_a_bus_reconnect_past_the_trimmed_history_tells_of_the_gap() -> None:
    async with rig(subscribe_history=0, history_limit=2) as r:
        client = await r.connect()
        await client.send("subscribe", {"contractId": C1})
        await r.publish(event(1))
        r.broker.cut_links()
        await r.publish(*(event(n) for n in range(2, 7)))
        r.broker.restore_links()
        await r.subscriber.settle()
        frames = (await client.frames(6))[3:]
        notice = frames[0]["data"]
        assert (frames[0]["event"], notice["recovered"], notice["reason"],
                notice["offset"]) == ("subscribed", False, "history_gap", 4)
        assert [f["data"]["offset"] for f in frames[1:]] == [5, 6]


async def test_a_client_that_stops_reading_is_closed_slow_queued_path() -> None:
    async with rig(outbox_max_bytes=20_000, subscribe_history=0) as r:
        slow = await r.connect()
        fast = await r.connect(remote="10.0.0.2")
        for client in (slow, fast):
            await client.send("subscribe", {"contractId": C1})
        await settle()
        slow.transport.stop_reading()
        for first in range(1, 100, 10):  # bursts the outbox takes, one at a time
            await r.publish(*(event(n) for n in range(first, first + 10)))
        assert await slow.closed() == (CloseCode.SLOW, "too slow: outbound queue overflow")
        assert slow.session.closed and not fast.session.closed
        assert len(await fast.frames(102)) == 102


async def test_a_client_that_stops_reading_is_closed_slow_direct_path() -> None:
    async with rig(outbox_max_bytes=4000, subscribe_history=0) as r:
        client = await r.connect(direct=True)
        await client.send("subscribe", {"contractId": C1})
        await r.publish(event(1), event(2))
        assert await client.events(2) == [("event", 1), ("event", 2)]
        assert client.socket is not None
        writes = client.socket.writes
        await r.publish(*(event(n) for n in range(3, 30)))  # one batch: one write
        assert client.socket.writes == writes + 1
        assert await client.closed() == (CloseCode.SLOW, "too slow: outbound queue overflow")


async def test_drain_closes_every_session_with_shutdown_and_refuses_new_ones() -> None:
    async with rig() as r:
        clients = [await r.connect(remote=f"10.0.0.{n}") for n in range(3)]
        await r.gateway.drain(0.05)
        for client in clients:
            assert await client.closed() == (CloseCode.SHUTDOWN,
                                             "gateway shutting down; reconnect")
        with pytest.raises(Refused) as refused:
            await r.gateway.handshake(None, None)
        assert (refused.value.code, refused.value.reason) == (
            CloseCode.SHUTDOWN, "gateway shutting down; reconnect")


async def test_handshake_refusals() -> None:
    async with rig(auth=True, allowed_origins=("https://app.example",),
                   max_connections_per_ip=1) as r:
        with pytest.raises(Refused) as refused:
            await r.gateway.handshake(token(), "https://evil.example")
        assert (refused.value.code, refused.value.reason) == (
            CloseCode.FORBIDDEN_ORIGIN, "origin not allowed")
        with pytest.raises(Refused) as refused:
            await r.gateway.handshake("not-a-token", None)
        assert refused.value.code == CloseCode.POLICY_VIOLATION
        assert refused.value.reason.startswith("auth failed: ")
        await r.connect(token())
        with pytest.raises(Refused) as refused:
            await r.connect(token())
        assert (refused.value.code, refused.value.reason) == (
            CloseCode.TOO_MANY_CONNECTIONS, "too many connections from your IP")


async def test_a_token_that_expires_closes_the_session() -> None:
    expires = int(now()) - 5
    async with rig(auth=True, leeway=now() + 0.05 - expires) as r:
        client = await r.connect(token(exp=expires))
        assert await client.closed() == (CloseCode.TOKEN_EXPIRED,
                                         "token expired; reconnect with a new token")


async def test_refresh_moves_the_expiry_and_narrows_subscriptions() -> None:
    expires = int(now()) - 5
    async with rig(auth=True, leeway=now() + 0.05 - expires, subscribe_history=0) as r:
        client = await r.connect(token(exp=expires))
        for contract in (C1, C2):
            await client.send("subscribe", {"contractId": contract})
        wrong = await client.send("refresh", {"token": token("someone-else", exp=expires)})
        assert wrong is not None and wrong.data == {"code": "INVALID_TOKEN",
                                                    "message": "token is for another user"}
        later = expires + 3600
        reply = await client.send("refresh", {"token": token(exp=later, contracts=[C2])})
        assert reply is not None and reply.data == {"expiresAt": later}
        frames = await client.frames(6)
        assert (frames[5]["event"], frames[5]["data"]["contractId"],
                frames[5]["data"]["reason"]) == ("unsubscribed", C1, "forbidden")
        await asyncio.sleep(0.1)  # past the first token's deadline
        assert not client.session.closed
        await r.publish(event(1), event(1, contract=C2))
        await until(lambda: len(client.received()) >= 7)
        assert client.received()[6]["data"]["contractId"] == C2


async def test_rate_limit_closes_a_client_that_keeps_exceeding_it() -> None:
    async with rig(rate_limit_per_second=0.001, rate_limit_burst=2,
                   rate_limit_close_after=3) as r:
        client = await r.connect()
        replies = [await client.send("ping") for _ in range(5)]
        assert [m.event if m else None for m in replies] == ["pong", "pong", "error",
                                                             "error", None]
        assert await client.closed() == (CloseCode.RATE_LIMITED, "rate limit exceeded")


async def test_history_and_stats_commands_and_a_store_that_fails() -> None:
    async with rig() as r:
        await r.publish(event(1), event(2, etype="spend_recorded"), event(3))
        client = await r.connect()
        history = await client.send("getHistory", {"contractId": C1, "limit": 2},
                                    request_id="h")
        assert history is not None
        body = history.data
        assert ([e["offset"] for e in body["events"]], body["count"], body["limit"],
                history.request_id) == ([3, 2], 2, 2, "h")
        stats = await client.send("getStats", {"contractId": C1})
        assert stats is not None and stats.data["byType"] == {"campaign_created": 2,
                                                              "spend_recorded": 1}
        r.broker.available = False
        failed = [await client.send(name, {"contractId": C1})
                  for name in ("getHistory", "getStats")]
        assert [m.data["code"] if m else None for m in failed] == ["HISTORY_ERROR",
                                                                  "STATS_ERROR"]


async def test_a_subscribe_since_while_the_store_fails_is_not_recovered() -> None:
    async with rig() as r:
        await r.publish(event(1), event(2))
        epoch, _ = await r.position()
        client = await r.connect()
        r.broker.available = False
        await client.send("subscribe", {"contractId": C1,
                                        "since": {"epoch": epoch, "offset": 1}})
        frames = await client.frames(2)
        assert (frames[1]["event"], frames[1]["data"]["recovered"]) == ("subscribed", False)
        r.broker.available = True
        await r.publish(event(3))
        assert await client.events(2) == [("event", 3)]


async def test_block_feed_and_global_events() -> None:
    async with rig(global_events=True) as r:
        await r.hub.subscribe_global()
        client = await r.connect()
        narrow = await r.connect(token=None, remote="10.0.0.2")
        narrow.session.claims = Claims(user_id="n", contracts=(C2,))  # as a narrow token
        reply = await client.send("subscribeBlocks")
        assert reply is not None and reply.data["feed"] == "block"
        await r.publisher.publish_feed(keys.BLOCK_CHANNEL,
                                       b'{"event":"block","data":{"height":7}}')
        await r.publisher.publish_feed(keys.GLOBAL_CHANNEL, msgspec.json.encode(
            {"event": "global_events", "data": [
                {"contractId": C1, "type": "a", "timestamp": 1},
                {"contractId": C2, "type": "b", "timestamp": 2}]}))
        await settle()
        assert [(f["event"], f["data"].get("height", f["data"].get("contractId")))
                for f in client.received()[2:]] == [("block", 7), ("global_event", C1),
                                                    ("global_event", C2)]
        assert [f["data"]["contractId"] for f in narrow.received()[1:]] == [C2]
        await client.send("unsubscribeBlocks")
        assert keys.BLOCK_CHANNEL not in r.subscriber.channels


async def test_subscribing_while_events_flow_gets_each_event_once_in_order() -> None:
    # Store reads take a few loop turns: live events arrive while a subscribe reads.
    async with rig(subscribe_history=5, read_turns=4) as r:
        async def flow() -> None:
            for n in range(1, 41):
                await r.publisher.publish_events([event(n)])
                await asyncio.sleep(0)

        await r.publish(event(0))
        publishing = asyncio.create_task(flow())
        clients = []
        for n in range(4):  # each subscribes at another point of the flow
            client = await r.connect(remote=f"10.0.1.{n}")
            await client.send("subscribe", {"contractId": C1})
            clients.append(client)
        await publishing
        await settle()
        for client in clients:
            frames = client.received()[1:]
            start = frames[0]["data"]["offset"]
            pushed = [e["offset"] for e in frames[1]["data"]["events"]]
            live = [(f["event"], f["data"]["offset"]) for f in frames[2:]]
            assert pushed == list(range(start, max(0, start - 5), -1))
            assert live == [("event", n) for n in range(start + 1, 42)]
        assert len({c.received()[1]["data"]["offset"] for c in clients}) == len(clients)


async def test_a_link_lost_again_during_the_re_read_is_re_read_by_the_next_reconnect() -> None:
    async with rig(subscribe_history=0, read_turns=3) as r:
        client = await r.connect()
        await client.send("subscribe", {"contractId": C1})
        await r.publish(event(1))
        r.broker.cut_links()
        await r.publisher.publish_events([event(2)])
        r.broker.restore_links()
        await asyncio.sleep(0)  # the re-read has started, and is reading
        r.broker.cut_links()
        await r.publisher.publish_events([event(3)])
        r.broker.restore_links()
        await r.publisher.publish_events([event(4)])  # live, held: must follow 3
        await r.subscriber.settle()
        await r.publish(event(5))
        assert await client.events(2) == [("event", n) for n in range(1, 6)]
        assert r.subscriber.reconnects == 2


async def test_connected_then_ping_and_refresh_without_auth() -> None:
    async with rig(max_subscriptions=3, history_limit=7) as r:
        client = await r.connect()
        connected = client.received()[0]
        assert connected["event"] == "connected"
        data = connected["data"]
        assert (data["message"], data["socketId"], data["userId"]) == (
            "Connected to AdStack real-time gateway", client.session.id, "anonymous")
        settings = r.gateway.settings
        assert data["limits"] == {
            "maxSubscriptions": 3, "maxFrameBytes": settings.max_frame_bytes,
            "historyLimit": 7, "ratePerSecond": settings.rate_limit_per_second,
            "rateBurst": settings.rate_limit_burst}
        pong = await client.send("ping", request_id="p")
        assert pong is not None and (pong.event, pong.request_id) == ("pong", "p")
        assert abs(pong.data["timestamp"] - now() * 1000) < 5000
        refreshed = await client.send("refresh", {"token": "ignored"})
        assert refreshed is not None and refreshed.data == {"expiresAt": None}


async def test_subscribe_refusals_and_a_re_subscribe_answered_without_a_read() -> None:
    async with rig(max_subscriptions=1, subscribe_history=0) as r:
        await r.publish(event(1), event(2))
        client = await r.connect()
        first = await client.send("subscribe", {"contractId": C1, "eventTypes": ["x_y"]})
        assert first is not None and first.data["offset"] == 2
        refused = await client.send("subscribe", {"contractId": C2}, request_id=4)
        assert refused is not None and (refused.event, refused.data, refused.request_id) == (
            "error", {"message": "maximum of 1 subscriptions per connection",
                      "code": "MAX_SUBSCRIPTIONS"}, 4)
        assert r.hub.local_channels() == 1 and list(client.session.subscriptions) == [C1]
        r.broker.available = False  # a re-subscribe reads nothing
        again = await client.send("subscribe", {"contractId": C1})
        assert again is not None and (again.data["eventTypes"], again.data["offset"]) == (
            [], 2)
        assert "recovered" not in again.data
        r.broker.available = True
        missing = await client.send("unsubscribe", {"contractId": C2})
        assert missing is not None and missing.data == {
            "message": "not subscribed to this contract", "code": "NOT_SUBSCRIBED"}


async def test_a_token_limited_to_some_contracts_bounds_every_read() -> None:
    async with rig(auth=True) as r:
        client = await r.connect(token(contracts=[C1]))
        for name in ("subscribe", "getHistory", "getStats"):
            reply = await client.send(name, {"contractId": C2})
            assert reply is not None and reply.data == {
                "message": "your token does not allow this contract", "code": "FORBIDDEN"}
        assert client.session.subscriptions == {} and r.hub.local_channels() == 0


async def test_a_filtered_subscribe_pushes_only_the_wanted_types() -> None:
    async with rig(subscribe_history=2) as r:
        await r.publish(event(1, etype="spend_recorded"), event(2), event(3),
                        event(4, etype="spend_recorded"), event(5))
        client = await r.connect()
        await client.send("subscribe", {"contractId": C1, "eventTypes": ["spend_recorded"]})
        frames = await client.frames(3)
        assert (frames[1]["data"]["eventTypes"], frames[1]["data"]["offset"]) == (
            ["spend_recorded"], 5)
        history = frames[2]["data"]
        assert ([e["offset"] for e in history["events"]], history["count"]) == ([4, 1], 2)


async def test_stats_carry_the_original_servers_object() -> None:
    async with rig() as r:
        await r.publish(event(1), event(2, etype="spend_recorded"))
        client = await r.connect()
        stats = await client.send("getStats", {"contractId": C1})
        assert stats is not None
        by_type = {"campaign_created": 1, "spend_recorded": 1}
        assert stats.data == {
            "contractId": C1, "total": 2, "byType": by_type,
            "lastUpdated": stats.data["lastUpdated"],
            "stats": {"totalEvents": 2, "eventsByType": by_type,
                      "lastUpdated": stats.data["lastUpdated"]}}
        assert list(stats.data) == ["contractId", "total", "byType", "lastUpdated", "stats"]
