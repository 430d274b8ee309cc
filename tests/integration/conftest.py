"""Fixtures of the integration tests (real valkey, no service processes)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from adstack_bus import create_redis


@pytest.fixture()
async def redis(clean_redis: str) -> AsyncIterator[aioredis.Redis]:
    """An async client of an empty database (``clean_redis``), closed after the test."""
    client = create_redis(clean_redis)
    yield client
    await client.aclose()
