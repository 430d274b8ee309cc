"""An end-to-end flow moves the counters and histograms of both services by exactly the
expected amounts, and nothing else.

Real ingester and gateway processes and a real Redis: recorded Stacks blocks are POSTed
(one re-sent, one with an undecodable print, one unauthorized, one malformed), real clients
on both transports subscribe, read history and stats, recover, get refused (token, Origin)
and rate-limited, unsubscribe and leave. ``/metrics`` of each service is scraped before
and after, and every counter / histogram series that changed is compared with the
expected change.

The per-event delivery metrics are checked separately: events delivered by type and
source (live and replayed), and one relay-latency sample per live message (not per
client); the latency values themselves depend on timing and are not compared.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adstack_devnet import DEFAULT_CONTRACTS
from adstack_devnet.chain import Chain
from adstack_events import event_type_from_print
from adstack_stacks import decode_hex_to_json
from tests.conftest import make_token
from tests.helpers import services
from tests.helpers.client import SioClient, WsClient
from tests.helpers.fixtures import SIGNERS_VOTING, load_bytes
from tests.helpers.scrape import Samples, deltas, scrape, total, value, wait_until

pytestmark = pytest.mark.e2e

FIXTURE = "observer_new_block_epoch25_print_events_signers_voting.json"
OBSERVER_TOKEN = "e2e-metrics-observer-token"
ALLOWED_ORIGIN = "http://app.example"
RATE_BURST = 6
PINGS = 9
DELIVERY_PATH = ("adstack_events_delivered_total", "adstack_feed_messages_delivered_total",
                 "adstack_relay_latency_seconds")


def moved(before: Samples, after: Samples) -> dict[str, float]:
    """Changed counter and histogram series (gauges, ``_sum`` and the delivery path aside)."""
    return {series: change for series, change in deltas(before, after).items()
            if series.split("{")[0].endswith(("_total", "_bucket", "_count"))
            and not series.startswith(DELIVERY_PATH)}


@pytest.fixture()
def pair(clean_redis: str, log_dir: Path) -> Iterator[tuple[services.Service,
                                                            services.Service]]:
    ingester = services.ingester(clean_redis, log_dir, OBSERVER_TOKEN=OBSERVER_TOKEN).start()
    gateway = services.gateway(clean_redis, log_dir, ALLOWED_ORIGINS=ALLOWED_ORIGIN,
                               RATE_LIMIT_PER_SECOND="0.1",
                               RATE_LIMIT_BURST=str(RATE_BURST)).start()
    try:
        ingester.wait_healthy()
        gateway.wait_healthy()
        yield ingester, gateway
    finally:
        gateway.stop()
        ingester.stop()


def devnet_block_with_a_bad_print() -> tuple[bytes, str]:
    """A fresh devnet block (block time 20 s ago) with two prints, one of them corrupted.

    Returns the body and the event type of the print that still decodes.
    """
    chain = Chain({"CAMPAIGN_CONTRACT": DEFAULT_CONTRACTS["CAMPAIGN_CONTRACT"]}, seed=11,
                  events_per_block=2, start_time=int(time.time()) - 30)
    payload = copy.deepcopy(chain.next_block().payload)
    bad, good = payload["events"]
    bad["contract_event"]["raw_value"] = "0xff00"  # no such Clarity type prefix
    good_type = event_type_from_print(decode_hex_to_json(good["contract_event"]["raw_value"]))
    return json.dumps(payload).encode(), good_type


def post(ingester: services.Service, body: bytes, token: str | None = OBSERVER_TOKEN
         ) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{ingester.http}/new_block", content=body, headers=headers, timeout=10)


async def test_counters_and_histograms_move_by_exactly_the_flow(
        pair: tuple[services.Service, services.Service], token: str) -> None:
    ingester, gateway = pair
    ingester_before, gateway_before = scrape(ingester.http), scrape(gateway.http)

    # -- clients on both transports ---------------------------------------------------------
    native = WsClient(gateway.ws, token)
    sio = SioClient(gateway.http, token, transport="websocket")
    for client in (native, sio):
        await client.open()
        await client.wait_for("connected")
        reply = await client.request("subscribe", {"contractId": SIGNERS_VOTING},
                                     "subscribed")
        assert reply["contractId"] == SIGNERS_VOTING, reply

    # -- refused handshakes: no token, a forged token, a foreign Origin ----------------------
    refused = [WsClient(gateway.ws), WsClient(gateway.ws, make_token(secret="x" * 40)),
               WsClient(gateway.ws, token, origin="http://evil.example")]
    for client in refused:
        await client.open()
    assert [await c.wait_closed() for c in refused] == [1008, 1008, 4502]

    # -- ingest: unauthorized, malformed, a block with a bad print, the fixture twice --------
    assert post(ingester, load_bytes(FIXTURE), token=None).status_code == 401
    assert post(ingester, b"{not json").status_code == 400
    devnet_body, devnet_type = devnet_block_with_a_bad_print()
    assert post(ingester, devnet_body).json()["published"] == 1
    assert post(ingester, load_bytes(FIXTURE)).json()["published"] == 4
    assert post(ingester, load_bytes(FIXTURE)).json()["duplicates"] == 4
    events = await native.wait_for("event", 4)
    await sio.wait_for("event", 4)
    epoch = events[0]["epoch"]

    # -- history, stats, recovery ------------------------------------------------------------
    history = await native.request("getHistory", {"contractId": SIGNERS_VOTING, "limit": 10},
                                   "history")
    assert history["count"] == 4
    stats = await native.request("getStats", {"contractId": SIGNERS_VOTING}, "stats")
    assert "error" not in stats, stats
    resumed, reset = WsClient(gateway.ws, token), WsClient(gateway.ws, token)
    for client in (resumed, reset):
        await client.open()
        await client.wait_for("connected")
    reply = await resumed.request("subscribe", {"contractId": SIGNERS_VOTING,
                                                "since": {"offset": 2, "epoch": epoch}},
                                  "subscribed")
    assert reply["recovered"] is True
    assert [e["offset"] for e in await resumed.wait_for("event", 2)] == [3, 4]
    reply = await reset.request("subscribe", {"contractId": SIGNERS_VOTING,
                                              "since": {"offset": 1, "epoch": "gone"}},
                                "subscribed")
    assert reply["recovered"] is False
    # Told, then every event the history still holds: all four.
    assert [e["offset"] for e in await reset.wait_for("event", 4)] == [1, 2, 3, 4]

    # -- a command flood: the burst passes, the rest is refused ------------------------------
    flooder = WsClient(gateway.ws, token)
    await flooder.open()
    await flooder.wait_for("connected")
    for _ in range(PINGS):
        await flooder.send("ping")
    await flooder.wait_for("pong", RATE_BURST)
    errors = await flooder.wait_for("error", PINGS - RATE_BURST)
    assert {e["code"] for e in errors} == {"RATE_LIMITED"}

    # -- unsubscribe, then everybody leaves --------------------------------------------------
    reply = await native.request("unsubscribe", {"contractId": SIGNERS_VOTING},
                                 "unsubscribed")
    assert reply["contractId"] == SIGNERS_VOTING
    for client in (native, sio, resumed, reset, flooder):
        await client.aclose()
    for client in refused:
        await client.aclose()

    def all_left() -> bool:
        return total(scrape(gateway.http), "adstack_disconnects_total") - total(
            gateway_before, "adstack_disconnects_total") >= 5

    await asyncio.to_thread(wait_until, all_left, 20, "the gateway to see every close")

    # -- the gateway -------------------------------------------------------------------------
    gateway_after = scrape(gateway.http)
    assert moved(gateway_before, gateway_after) == {
        'adstack_connections_total{transport="native"}': 4,
        'adstack_connections_total{transport="socketio"}': 1,
        'adstack_disconnects_total{reason="client",transport="native"}': 4,
        'adstack_disconnects_total{reason="client",transport="socketio"}': 1,
        'adstack_auth_failures_total{reason="missing"}': 1,
        'adstack_auth_failures_total{reason="bad_signature"}': 1,
        'adstack_auth_failures_total{reason="forbidden_origin"}': 1,
        'adstack_commands_total{command="subscribe"}': 4,
        'adstack_commands_total{command="unsubscribe"}': 1,
        'adstack_commands_total{command="getHistory"}': 1,
        'adstack_commands_total{command="getStats"}': 1,
        'adstack_commands_total{command="ping"}': PINGS,
        'adstack_rate_limit_hits_total{limit="commands"}': PINGS - RATE_BURST,
        'adstack_protocol_errors_total{code="RATE_LIMITED"}': PINGS - RATE_BURST,
        'adstack_recoveries_total{outcome="recovered"}': 1,
        'adstack_recoveries_total{outcome="epoch_changed"}': 1,
    }
    delivered = {series: change for series, change in deltas(gateway_before, gateway_after)
                 .items() if series.startswith(DELIVERY_PATH)
                 and not series.startswith("adstack_relay_latency_seconds_")}
    # 4 live events × 2 subscribers (native, Socket.IO), plus offsets 3 and 4 replayed to
    # the client that recovered and all 4 to the one told recovered: false; the live events
    # in event_index order are voted ×3 then approved_aggregate_public_key.
    assert delivered == {
        'adstack_events_delivered_total{source="observer",type="voted"}': 3 * 2 + 1 + 3,
        'adstack_events_delivered_total{source="observer",type="approved_aggregate_public_key"}':
            1 * 2 + 1 + 1,
    }
    # One latency sample per live message, not per client (and none for replays).
    assert (value(gateway_after, "adstack_relay_latency_seconds_count")
            - value(gateway_before, "adstack_relay_latency_seconds_count")) == 4
    assert value(gateway_after, "adstack_connected_clients") == 0
    assert value(gateway_after, "adstack_active_subscriptions") == 0
    assert value(gateway_after, "adstack_draining") == 0

    # -- the ingester ------------------------------------------------------------------------
    ingester_after = scrape(ingester.http)
    lag = 'adstack_ingest_lag_seconds_bucket{le="%s",source="observer"}'
    assert moved(ingester_before, ingester_after) == {
        'adstack_ingest_requests_total{outcome="ok"}': 3,
        'adstack_ingest_requests_total{outcome="unauthorized"}': 1,
        'adstack_ingest_requests_total{outcome="bad_request"}': 1,
        'adstack_blocks_received_total{source="observer"}': 3,
        'adstack_blocks_published_total{source="observer"}': 2,
        'adstack_events_received_total{source="observer",type="voted"}': 6,
        'adstack_events_received_total{source="observer",type="approved_aggregate_public_key"}':
            2,
        f'adstack_events_received_total{{source="observer",type="{devnet_type}"}}': 1,
        'adstack_events_published_total{source="observer",type="voted"}': 3,
        'adstack_events_published_total{source="observer",type="approved_aggregate_public_key"}':
            1,
        f'adstack_events_published_total{{source="observer",type="{devnet_type}"}}': 1,
        'adstack_duplicates_dropped_total{source="observer"}': 4,
        'adstack_decode_failures_total{source="observer"}': 1,
        # The devnet block is ~20 s old when published; the recorded block is from 2024.
        lag % "30.0": 1, lag % "60.0": 1, lag % "120.0": 1, lag % "300.0": 1,
        lag % "600.0": 1, lag % "+Inf": 2,
        'adstack_ingest_lag_seconds_count{source="observer"}': 2,
    }
    lag_sum = (value(ingester_after, "adstack_ingest_lag_seconds_sum", source="observer")
               - value(ingester_before, "adstack_ingest_lag_seconds_sum", source="observer"))
    assert lag_sum > 365 * 86400, "block time → publish of a 2024 block"
    assert value(ingester_after, "adstack_last_block_height") == 16
