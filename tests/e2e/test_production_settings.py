"""The ingester in production, as a real process: it refuses to start without
``OBSERVER_TOKEN`` (exit 2, saying why and how to opt out), runs with a token and then
requires it, and runs without one only when the operator opts out explicitly
(``OBSERVER_TOKEN_REQUIRED=false``, for a port only the node can reach)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adstack_devnet.chain import Chain
from adstack_localredis import LocalRedis, free_port
from tests.helpers import services
from tests.helpers.events import CAMPAIGN

pytestmark = pytest.mark.e2e

TOKEN = "observer-token-for-the-production-test-0123"


@pytest.fixture(scope="module")
def redis() -> Iterator[LocalRedis]:
    """A server of its own: these ingesters take the lease and move the chain tip."""
    with LocalRedis() as server:
        yield server


def production_env(redis_url: str, **extra: str) -> dict[str, str]:
    env = services.base_env(redis_url, NODE_ENV="production", **extra)
    for name in ("OBSERVER_TOKEN", "OBSERVER_TOKEN_REQUIRED"):
        if name not in extra:
            env.pop(name, None)
    return env


CHAIN = Chain({"CAMPAIGN_CONTRACT": CAMPAIGN}, seed=11, events_per_block=2)
"""One chain for the module's ingesters (they share a Redis, so its tip)."""


def block() -> bytes:
    return json.dumps(CHAIN.next_block().payload).encode()


@pytest.mark.parametrize("variable", ["NODE_ENV", "ENV"])
def test_production_without_an_observer_token_refuses_to_start(redis: LocalRedis,
                                                               variable: str) -> None:
    env = production_env(redis.url)
    if variable == "ENV":
        del env["NODE_ENV"]
        env["ENV"] = "production"
    proc = subprocess.run([sys.executable, "-m", "adstack_ingester", "--port",
                           str(free_port())], env=env, capture_output=True, text=True,
                          timeout=30, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "OBSERVER_TOKEN is not set and NODE_ENV is production" in proc.stderr
    assert "OBSERVER_TOKEN_REQUIRED=false" in proc.stderr  # the documented way out


def test_production_with_a_token_requires_it(redis: LocalRedis, log_dir: Path) -> None:
    port = free_port()
    ingester = services.Service("adstack_ingester", port, production_env(
        redis.url, INGESTER_PORT=str(port), OBSERVER_TOKEN=TOKEN), log_dir)
    with ingester.start():
        ingester.wait_healthy()
        body = block()
        refused = httpx.post(f"{ingester.http}/new_block", content=body, timeout=20)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "UNAUTHORIZED"
        accepted = httpx.post(f"{ingester.http}/new_block", content=body, timeout=20,
                              headers={"Authorization": f"Bearer {TOKEN}"})
        assert accepted.status_code == 200 and accepted.json()["published"] == 2
        status = httpx.get(f"{ingester.http}/status", timeout=10).json()
        assert status["auth"] == {"observerToken": "set", "observerTokenRequired": True}


def test_production_opt_out_starts_without_a_token(redis: LocalRedis, log_dir: Path) -> None:
    port = free_port()
    ingester = services.Service("adstack_ingester", port, production_env(
        redis.url, INGESTER_PORT=str(port), OBSERVER_TOKEN_REQUIRED="false"), log_dir)
    with ingester.start():
        ingester.wait_healthy()
        accepted = httpx.post(f"{ingester.http}/new_block", content=block(),
                              timeout=20)
        assert accepted.status_code == 200 and accepted.json()["published"] == 2
        status = httpx.get(f"{ingester.http}/status", timeout=10).json()
        assert status["environment"] == "production"
        assert status["auth"] == {"observerToken": "unset", "observerTokenRequired": False}
        assert "observer POSTs are not authenticated" in ingester.logs()  # said at start
