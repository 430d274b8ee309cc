"""``adstack-gateway --workers 2``: two processes on one port, each a full replica.

Clients land on both workers (``/health`` names the answering worker's pid and its
clients), every client gets the published events, one scrape of ``/metrics`` covers both
workers, a worker killed with SIGKILL is replaced and stops counting in the live gauges,
and SIGTERM drains every worker's clients.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import services
from tests.helpers.client import WsClient
from tests.helpers.fixtures import SIGNERS_VOTING, load_bytes
from tests.helpers.scrape import scrape, value, wait_until

pytestmark = pytest.mark.e2e

FIXTURE = "observer_new_block_epoch25_print_events_signers_voting.json"
FIXTURE_EVENTS = 4
DRAIN = 2.0


def workers_seen(gateway: services.Service, tries: int = 60) -> dict[int, int]:
    """pid → open clients, for every worker that answered one of ``tries`` new HTTP
    connections (the kernel hands each to whichever worker accepts first)."""
    seen: dict[int, int] = {}
    for _ in range(tries):
        with httpx.Client() as http:  # a new connection each time
            body = http.get(f"{gateway.http}/health", timeout=5).json()
        seen[int(body["metrics"]["pid"])] = int(body["metrics"]["connectedClients"])
        if len(seen) == 2:
            break
    return seen


async def open_until_both_workers_hold_clients(gateway: services.Service, token: str,
                                               limit: int = 40) -> tuple[list[WsClient],
                                                                         dict[int, int]]:
    clients: list[WsClient] = []
    while len(clients) < limit:
        for _ in range(4):
            client = WsClient(gateway.ws, token)
            await client.open()
            await client.wait_for("connected")
            reply = await client.request("subscribe", {"contractId": SIGNERS_VOTING},
                                         "subscribed")
            assert "error" not in reply, reply
            clients.append(client)
        seen = await asyncio.to_thread(workers_seen, gateway)
        if len(seen) == 2 and all(seen.values()) and sum(seen.values()) == len(clients):
            return clients, seen
    raise AssertionError(f"clients never spread over both workers: {seen}")


@pytest.fixture()
def pair(clean_redis: str, log_dir: Path) -> Iterator[tuple[services.Service,
                                                            services.Service]]:
    ingester = services.ingester(clean_redis, log_dir).start()
    gateway = services.gateway(clean_redis, log_dir, args=("--workers", "2"),
                               DRAIN_SECONDS=str(DRAIN)).start()
    try:
        gateway.wait_healthy()
        yield ingester, gateway
    finally:
        gateway.stop()
        ingester.stop()


async def test_two_workers_serve_share_metrics_and_drain(
        pair: tuple[services.Service, services.Service], token: str) -> None:
    ingester, gateway = pair
    clients, seen = await open_until_both_workers_hold_clients(gateway, token)
    assert gateway.proc is not None and gateway.proc.pid not in seen, "workers are children"
    count = len(clients)

    response = httpx.post(f"{ingester.http}/new_block", content=load_bytes(FIXTURE),
                          timeout=10)
    assert response.status_code == 200 and response.json()["published"] == FIXTURE_EVENTS
    for client in clients:
        events = await client.wait_for("event", FIXTURE_EVENTS)
        assert [e["offset"] for e in events] == [1, 2, 3, 4]

    # One scrape, whichever worker answers it, covers both. Counters are exact at once;
    # the other worker's live gauges are refreshed by its sampler within a few seconds.
    samples = scrape(gateway.http)
    assert value(samples, "adstack_connections_total", transport="native") == count
    assert value(samples, "adstack_commands_total", command="subscribe") == count

    def gauges_cover_both() -> bool:
        now = scrape(gateway.http)
        return (value(now, "adstack_connected_clients") == count
                and value(now, "adstack_active_subscriptions") == count)

    wait_until(gauges_cover_both, timeout=20, what="live gauges summed over both workers")
    status = httpx.get(f"{gateway.http}/status", timeout=10).json()
    assert status["workers"] == 2 and status["metrics"]["multiprocess"] is True

    # SIGTERM to the process group (as a terminal or systemd sends it; the supervisor
    # passes it on too): every worker drains its own clients with 4000, then all exit.
    started = time.monotonic()
    gateway.signal(signal.SIGTERM)
    codes = await asyncio.gather(*(c.wait_closed(timeout=DRAIN + 10) for c in clients))
    assert codes == [4000] * count
    assert gateway.proc is not None
    await asyncio.to_thread(gateway.proc.wait, DRAIN + 10)
    assert time.monotonic() - started < DRAIN + 5
    assert gateway.proc.returncode == 0, gateway.logs()
    logs = gateway.log_path.read_text()
    for pid, held in seen.items():
        assert f"draining {held} sessions over {DRAIN}s" in logs, (pid, held, gateway.logs())
    for client in clients:
        await client.aclose()


async def test_a_killed_worker_is_replaced_and_leaves_the_live_gauges(
        pair: tuple[services.Service, services.Service], token: str) -> None:
    _ingester, gateway = pair
    clients, seen = await open_until_both_workers_hold_clients(gateway, token)
    count = len(clients)
    victim, survivor = sorted(seen)
    os.kill(victim, signal.SIGKILL)

    closed = await asyncio.gather(*(c.wait_closed(timeout=2) for c in clients),
                                  return_exceptions=True)
    lost = sum(not isinstance(code, BaseException) for code in closed)
    assert lost == seen[victim], (closed, seen)

    def replaced() -> bool:
        pids = set(workers_seen(gateway, tries=30))
        return victim not in pids and len(pids) == 2

    wait_until(replaced, timeout=30, what="uvicorn to replace the killed worker")

    def dropped() -> bool:
        now = scrape(gateway.http)
        return value(now, "adstack_connected_clients") == seen[survivor]

    wait_until(dropped, timeout=20, what="the dead worker's clients to leave the gauges")
    samples = scrape(gateway.http)
    assert value(samples, "adstack_connections_total", transport="native") == count, (
        "counters of a dead worker are kept")
    assert f"workers {victim} exited" in gateway.log_path.read_text()
    for client in clients:
        await client.aclose()
