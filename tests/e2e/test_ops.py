"""Operations endpoints on real processes: /metrics, /status, /health, and log ids."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adstack_gateway import metrics as gateway_metrics
from adstack_ingester import metrics as ingester_metrics
from adstack_localredis import LocalRedis
from tests.helpers import services
from tests.helpers.client import WsClient
from tests.helpers.fixtures import SIGNERS_VOTING, load_bytes, load_json
from tests.helpers.scrape import Samples, wait_until
from tests.helpers.scrape import scrape as scrape_url

pytestmark = pytest.mark.e2e

FIXTURE = "observer_new_block_epoch25_print_events_signers_voting.json"
OTHER = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"
JWT_SECRET = "e2e-status-secret-value-that-is-long-enough-0123"
REDIS_PASSWORD = "e2e-redis-password-Pq4"
OBSERVER_TOKEN = "e2e-observer-token-Zr8"


def scrape(service: services.Service) -> Samples:
    return scrape_url(service.http)


def sample(samples: Samples, name: str,
           **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def families(service: services.Service) -> set[str]:
    text = httpx.get(f"{service.http}/metrics", timeout=10).text
    return {family.name for family in text_string_to_metric_families(text)}


def module_families(module: object) -> set[str]:
    """Family names of every metric object defined in a metrics module."""
    names = set()
    for value in vars(module).values():
        describe = getattr(value, "describe", None)
        if callable(describe) and hasattr(value, "_name"):
            names |= {family.name for family in describe()}
    return names


@pytest.fixture()
def pair(clean_redis: str, log_dir: Path) -> Iterator[tuple[services.Service,
                                                            services.Service]]:
    ingester = services.ingester(clean_redis, log_dir).start()
    gateway = services.gateway(clean_redis, log_dir).start()
    try:
        yield ingester, gateway
    finally:
        gateway.stop()
        ingester.stop()


def test_each_service_exposes_every_metric_it_defines(
        pair: tuple[services.Service, services.Service]) -> None:
    ingester, gateway = pair
    shared = {"adstack_uptime_seconds", "adstack_memory_usage_bytes", "adstack_build_info",
              "adstack_redis_up", "adstack_redis_reconnects"}
    ingester_defined = module_families(ingester_metrics)
    gateway_defined = module_families(gateway_metrics)
    assert len(ingester_defined) >= 14 and len(gateway_defined) >= 14
    assert families(ingester) >= ingester_defined | shared
    assert families(gateway) >= gateway_defined | shared
    samples = scrape(gateway)
    assert sample(samples, "adstack_build_info", service="gateway", version="0.1.0") == 1
    assert sample(samples, "adstack_redis_up") == 1
    # A counter, as the original declared it (Python's parser adds ``_total`` to the bare
    # ``adstack_uptime_seconds`` sample that Prometheus stores as is).
    assert sample(samples, "adstack_uptime_seconds_total") > 0
    assert sample(samples, "adstack_memory_usage_bytes", type="rss") > 1 << 20
    samples = scrape(ingester)
    assert sample(samples, "adstack_leader") == 1, "a lone ingester leads"
    assert time.time() - sample(samples, "adstack_last_block_timestamp_seconds") < 120


async def test_live_gauges_follow_connections_and_subscriptions(
        pair: tuple[services.Service, services.Service], token: str) -> None:
    _ingester, gateway = pair
    async with WsClient(gateway.ws, token) as first, WsClient(gateway.ws, token) as second:
        for client in (first, second):
            await client.wait_for("connected")
        await first.request("subscribe", {"contractId": SIGNERS_VOTING}, "subscribed")
        await first.request("subscribe", {"contractId": OTHER}, "subscribed")
        await second.request("subscribe", {"contractId": SIGNERS_VOTING}, "subscribed")
        samples = scrape(gateway)
        assert sample(samples, "adstack_connected_clients") == 2
        assert sample(samples, "adstack_active_subscriptions") == 3
        assert sample(samples, "adstack_redis_channels") == 2
        status = httpx.get(f"{gateway.http}/status", timeout=10).json()
        assert status["connections"] == {"clients": 2, "subscriptions": 3, "redisChannels": 2}
        await first.__aexit__()

        def after_close() -> bool:
            current = scrape(gateway)
            return (sample(current, "adstack_connected_clients") == 1
                    and sample(current, "adstack_active_subscriptions") == 1)

        wait_until(after_close, what="the closed connection to leave the gauges")
        assert sample(scrape(gateway), "adstack_redis_channels") == 1


def test_status_never_shows_secrets(redis_url: str, log_dir: Path) -> None:
    secret_url = redis_url.replace("redis://", f"redis://default:{REDIS_PASSWORD}@")
    ingester = services.ingester(secret_url, log_dir, OBSERVER_TOKEN=OBSERVER_TOKEN,
                                 STACKS_CONTRACTS=SIGNERS_VOTING).start()
    gateway = services.gateway(secret_url, log_dir, JWT_SECRET=JWT_SECRET).start()
    try:
        for service in (ingester, gateway):
            service.wait_healthy()
        ingester_status = httpx.get(f"{ingester.http}/status", timeout=10)
        gateway_status = httpx.get(f"{gateway.http}/status", timeout=10)
        assert ingester_status.status_code == gateway_status.status_code == 200
        body = ingester_status.json()
        assert body["dependencies"]["redis"]["state"] == "up"
        assert body["dependencies"]["redis"]["url"].startswith("redis://***:***@")
        assert body["auth"] == {"observerToken": "set", "observerTokenRequired": False}
        assert SIGNERS_VOTING in body["contracts"]["configured"]
        body = gateway_status.json()
        assert body["auth"]["jwtSecret"] == "set"
        assert body["dependencies"]["redis"]["state"] == "up"
        seen = [ingester_status.text, gateway_status.text]
        for service in (ingester, gateway):
            for path in ("/health", "/health/live", "/metrics"):
                seen.append(httpx.get(f"{service.http}{path}", timeout=10).text)
    finally:
        gateway.stop()
        ingester.stop()
    seen += [ingester.logs(), gateway.logs()]
    for text in seen:
        for secret in (JWT_SECRET, REDIS_PASSWORD, OBSERVER_TOKEN):
            assert secret not in text


def status_code(url: str) -> int:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return 0


@pytest.mark.slow
def test_health_flips_to_503_while_redis_is_down(log_dir: Path) -> None:
    with LocalRedis() as redis:
        ingester = services.ingester(redis.url, log_dir).start()
        gateway = services.gateway(redis.url, log_dir).start()
        try:
            for service in (ingester, gateway):
                service.wait_healthy()
                assert sample(scrape(service), "adstack_redis_up") == 1
            before = {service.module: scrape(service) for service in (ingester, gateway)}
            redis.kill()
            for service in (ingester, gateway):
                wait_until(lambda s=service: status_code(f"{s.http}/health") == 503,
                           what=f"{service.module} /health to turn 503")
                assert status_code(f"{service.http}/health/live") == 200
                assert sample(scrape(service), "adstack_redis_up") == 0
                status = httpx.get(f"{service.http}/status", timeout=10).json()
                assert status["dependencies"]["redis"]["state"] == "down"
            # The leader cannot renew its lease: it steps down before the lease could expire.
            wait_until(lambda: sample(scrape(ingester), "adstack_leader") == 0,
                       what="the ingester to step down")
            redis.start()
            for service in (ingester, gateway):
                wait_until(lambda s=service: status_code(f"{s.http}/health") == 200,
                           timeout=30, what=f"{service.module} /health to recover")
                assert sample(scrape(service), "adstack_redis_up") == 1
            # One outage: one reconnect each (the gateway's pub/sub connection; the
            # ingester's first good probe after failed ones), one step-down, one election.
            for service in (ingester, gateway):
                after = scrape(service)
                assert (sample(after, "adstack_redis_reconnects_total")
                        - sample(before[service.module], "adstack_redis_reconnects_total")
                        == 1), service.module
            after = scrape(ingester)
            for role in ("follower", "leader"):
                key = ("adstack_leader_transitions_total", frozenset({("role", role)}))
                assert after[key] - before[ingester.module].get(key, 0.0) == 1, role
            assert sample(after, "adstack_leader") == 1
        finally:
            gateway.stop()
            ingester.stop()


async def test_json_logs_carry_block_and_connection_ids(clean_redis: str, log_dir: Path,
                                                        token: str) -> None:
    ingester = services.ingester(clean_redis, log_dir, LOG_JSON="true").start()
    gateway = services.gateway(clean_redis, log_dir, LOG_JSON="true",
                               LOG_LEVEL="DEBUG").start()
    try:
        async with WsClient(gateway.ws, token) as client:
            connected = await client.wait_for("connected")
            socket_id = connected[0]["socketId"]
            await client.request("subscribe", {"contractId": SIGNERS_VOTING}, "subscribed")
        response = httpx.post(f"{ingester.http}/new_block", content=load_bytes(FIXTURE),
                              timeout=10)
        assert response.status_code == 200
    finally:
        gateway.stop()
        ingester.stop()
    block = load_json(FIXTURE)

    def json_lines(service: services.Service) -> list[dict[str, object]]:
        text = service.log_path.read_text()
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    block_lines = [line for line in json_lines(ingester) if "block" in line]
    assert block_lines, ingester.logs()
    for line in block_lines:
        assert line["block"] == block["index_block_hash"]
        assert line["height"] == str(block["block_height"])
    conn_lines = [line for line in json_lines(gateway) if line.get("conn") == socket_id]
    assert any("subscribed channel" in str(line["msg"]) for line in conn_lines), (
        gateway.logs())
    assert all(line.get("conn") in (None, socket_id) for line in json_lines(gateway))
