"""Shared fixtures: a real Redis-compatible server per test session (per xdist worker)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import redis

from adstack_localredis import LocalRedis
from tests.helpers.services import TEST_SECRET


@pytest.fixture(scope="session")
def redis_server() -> Iterator[LocalRedis | None]:
    """A valkey-server on a free port, or None when ``REDIS_URL`` is given."""
    if os.environ.get("REDIS_URL"):
        yield None
        return
    with LocalRedis() as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: LocalRedis | None) -> str:
    if redis_server is None:
        return os.environ["REDIS_URL"]
    return redis_server.url


@pytest.fixture()
def clean_redis(redis_url: str) -> Iterator[str]:
    """``redis_url`` after FLUSHALL: each test starts from an empty database."""
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    client.close()
    yield redis_url


@pytest.fixture()
def log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path


def make_token(secret: str = TEST_SECRET, **claims: object) -> str:
    now = int(time.time())
    payload: dict[str, object] = {"userId": "user-1", "iat": now, "exp": now + 3600}
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm="HS256")


@pytest.fixture()
def token() -> str:
    return make_token()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how many hostile inputs the security suites tried and refused."""
    from tests.helpers.tally import print_figures

    print_figures(terminalreporter)
