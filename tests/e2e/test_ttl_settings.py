"""REDIS_TTL and DEDUP_TTL reach the Redis keys a real ingester writes (its Lua scripts),
with values set here, so a setting that is read but not passed on is caught."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis

from adstack_bus import keys
from tests.helpers import services
from tests.helpers.fixtures import SIGNERS_VOTING, load_bytes

pytestmark = pytest.mark.e2e

FIXTURE = "observer_new_block_epoch25_print_events_signers_voting.json"
REDIS_TTL = 1234
DEDUP_TTL = 4321
SLACK = 30
"""Seconds a TTL may have run down between the write and the read (a loaded machine)."""


def assert_ttl(client: redis.Redis, key: bytes | str, expected: int) -> None:
    ttl = client.ttl(key)
    assert expected - SLACK <= ttl <= expected, f"{key!r}: TTL {ttl}, expected {expected}"


async def test_the_ttl_settings_are_the_ttls_of_the_keys(clean_redis: str,
                                                         log_dir: Path) -> None:
    ingester = services.ingester(clean_redis, log_dir, REDIS_TTL=str(REDIS_TTL),
                                 DEDUP_TTL=str(DEDUP_TTL)).start()
    try:
        async with httpx.AsyncClient() as http:
            response = await http.post(f"{ingester.http}/new_block",
                                       content=load_bytes(FIXTURE))
        assert response.status_code == 200 and response.json()["published"] == 4
    finally:
        ingester.stop()
    client = redis.Redis.from_url(clean_redis)
    try:
        assert_ttl(client, keys.meta(SIGNERS_VOTING), REDIS_TTL)
        assert_ttl(client, keys.history(SIGNERS_VOTING), REDIS_TTL)
        markers = list(client.scan_iter(match=keys.seen_prefix(SIGNERS_VOTING)
                                        .replace("{", "[{]").replace("}", "[}]") + "*"))
        assert len(markers) == 4
        for marker in markers:
            assert_ttl(client, marker, DEDUP_TTL)
        records = list(client.scan_iter(match=keys.chain_block("x")[:-1]
                                        .replace("{", "[{]").replace("}", "[}]") + "*"))
        assert len(records) == 1
        # A block record lives as long as the dedup markers (at least an hour).
        assert_ttl(client, records[0], max(DEDUP_TTL, 3600))
    finally:
        client.close()
