"""Secrets never leave the services: not in ``/status``, ``/health``, ``/metrics``, logs (at
DEBUG), HTTP error bodies or client error frames, including while Redis is down and when
a password is wrong. Redis runs with ``--requirepass``, so its password is really in use.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt
import pytest

from adstack_devnet.chain import Chain
from adstack_localredis import LocalRedis
from tests.conftest import make_token
from tests.helpers import services
from tests.helpers.client import WsClient
from tests.helpers.events import CAMPAIGN

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SUITE = "attack suite"
REDIS_PASSWORD = "redis-pass-Vq81-never-shown"
WRONG_PASSWORD = "wrong-redis-pass-Kd20-never-shown"
JWT_SECRET = "jwt-secret-Hn55-never-shown-0123456789abcdef"
OBSERVER_TOKEN = "observer-token-Lw73-never-shown"
CHAINHOOK_AUTH = "Bearer chainhook-secret-Pz09-never-shown"
HIRO_API_KEY = "hiro-key-Tg46-never-shown"
SECRETS = [REDIS_PASSWORD, WRONG_PASSWORD, JWT_SECRET, OBSERVER_TOKEN,
           CHAINHOOK_AUTH.removeprefix("Bearer "), HIRO_API_KEY]


def token(**claims: object) -> str:
    now = int(time.time())
    return jwt.encode({"userId": "user-1", "iat": now, "exp": now + 3600, **claims},
                      JWT_SECRET, algorithm="HS256")


def status_of(url: str) -> int:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return 0


async def test_secrets_never_appear_anywhere(log_dir: Path,
                                             hostile: Callable[[str, str], None]) -> None:
    seen: list[str] = []
    # Client tokens are credentials too: this one travels as ?token= (as a browser's must).
    client_token = token(userId="client-whose-token-must-not-be-logged")
    with LocalRedis(extra_args=["--requirepass", REDIS_PASSWORD]) as redis:
        url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{redis.port}/0"
        env = {"LOG_LEVEL": "DEBUG"}
        ingester = services.ingester(url, log_dir, OBSERVER_TOKEN=OBSERVER_TOKEN,
                                     STACKS_SOURCES="observer,chainhook",
                                     CHAINHOOK_AUTH_HEADER=CHAINHOOK_AUTH,
                                     HIRO_API_KEY=HIRO_API_KEY, **env)
        gateway = services.gateway(url, log_dir, JWT_SECRET=JWT_SECRET, **env)
        wrong = services.gateway(url.replace(REDIS_PASSWORD, WRONG_PASSWORD), log_dir,
                                 JWT_SECRET=JWT_SECRET, **env)
        running = (ingester, gateway, wrong)
        for service in running:  # all three start at once
            service.start(wait=False)
        try:
            ingester.wait_healthy()
            gateway.wait_healthy()
            chain = Chain({"CAMPAIGN_CONTRACT": CAMPAIGN}, seed=5, events_per_block=2)
            good = {"Authorization": f"Bearer {OBSERVER_TOKEN}"}
            async with (httpx.AsyncClient(timeout=10) as http,
                        WsClient(gateway.ws, client_token) as client):
                await client.wait_for("connected")
                await client.request("subscribe", {"contractId": CAMPAIGN}, "subscribed")
                # The secrets are in use: the right ones are accepted...
                block = chain.next_block()
                posted = await http.post(f"{ingester.http}/new_block", headers=good,
                                         content=json.dumps(block.payload).encode())
                assert posted.status_code == 200
                await client.wait_for("event", len(block.prints))
                # ...and wrong ones refused, with answers that must not echo anything.
                for case, path, headers in [
                    ("wrong observer token", "/new_block", {"Authorization": "Bearer x"}),
                    ("wrong Chainhook header", "/chainhook", {"Authorization": "Bearer y"}),
                ]:
                    hostile(SUITE, f"secrets: {case}")
                    answer = await http.post(f"{ingester.http}{path}", headers=headers,
                                             content=b"{}")
                    assert answer.status_code == 401
                    seen.append(answer.text)
                hostile(SUITE, "secrets: refresh with a token signed by another secret")
                refused = await client.request("refresh", {"token": jwt.encode(
                    {"userId": "user-1"}, "x" * 40, algorithm="HS256")}, "refreshed")
                assert refused["error"]["code"] == "INVALID_TOKEN"

                statuses: list[int] = []

                def snapshot(*services_: services.Service) -> None:
                    # No error is swallowed: a page that cannot be fetched fails the test
                    # instead of leaving the scan; error answers (503) are scanned too.
                    for service in services_:
                        for path in ("/status", "/health", "/health/live", "/metrics"):
                            answer = httpx.get(f"{service.http}{path}", timeout=10)
                            statuses.append(answer.status_code)
                            seen.append(answer.text)

                snapshot(ingester, gateway)  # `wrong` is not live before its Redis wait ends
                # Redis goes away: every error path runs (connection errors, retries).
                hostile(SUITE, "secrets: errors while Redis is down")
                redis.kill()
                history = await client.request("getHistory", {"contractId": CAMPAIGN},
                                               "history")
                assert history["error"]["code"] == "HISTORY_ERROR"
                down = await http.post(f"{ingester.http}/new_block", headers=good,
                                       content=json.dumps(chain.next_block().payload).encode())
                assert down.status_code == 503
                seen.append(down.text)
                await asyncio.sleep(0.5)  # let reconnect attempts fail and log
                # (The gateway with the wrong password has been refused all along; it is
                # live once its start-up wait for Redis gave up.)
                wrong.wait_live()
                assert status_of(f"{wrong.http}/health") == 503, "a wrong password: not ready"
                snapshot(*running)
                assert 503 in statuses and 200 in statuses, statuses  # failing pages scanned
            seen.append(json.dumps(client.frames))
        finally:
            for service in running:
                service.stop()
    logs = [Path(service.log_path).read_text(errors="replace") for service in running]
    assert any("DEBUG" in text for text in logs), "debug logging was on"
    assert sum(len(text) for text in seen) > 10_000, "the answers were collected"
    assert "?token=***" in logs[1], "the handshake was logged, masked"
    for text in [*seen, *logs]:
        for secret in [*SECRETS, client_token]:
            assert secret not in text, f"a secret leaked: {secret[:12]}… in {text[:200]!r}"


def full_log(service: services.Service) -> str:
    return Path(service.log_path).read_text(errors="replace")


SHORT_PASSWORD = "Qz9"
"""Under scrub()'s 4-character floor: only structural masking of the URL can hide it."""
ACL_USER = "ops-Yk4"


@pytest.mark.parametrize("form", ["userinfo", "query-password", "query-user-and-password",
                                  "encoded-query-name"])
async def test_redis_credentials_in_any_form_stay_off_both_status_pages(
        log_dir: Path, hostile: Callable[[str, str], None], form: str) -> None:
    """Issue 18 item 6: ``?password=`` (which redis-py accepts) and short passwords were
    shown verbatim by both services' /status."""
    hostile(SUITE, f"secrets: Redis credentials as {form} on /status")
    with LocalRedis(extra_args=["--requirepass", SHORT_PASSWORD,
                                "--user", ACL_USER, "on", f">{SHORT_PASSWORD}", "~*", "&*",
                                "+@all"]
                    ) as redis:
        base = f"127.0.0.1:{redis.port}/0"
        url = {
            "userinfo": f"redis://{ACL_USER}:{SHORT_PASSWORD}@{base}",
            "query-password": f"redis://{base}?password={SHORT_PASSWORD}",
            "query-user-and-password":
                f"redis://{base}?username={ACL_USER}&password={SHORT_PASSWORD}",
            "encoded-query-name": f"redis://{base}?%70assword={SHORT_PASSWORD}",
        }[form]
        running = (services.ingester(url, log_dir, OBSERVER_TOKEN=OBSERVER_TOKEN),
                   services.gateway(url, log_dir, JWT_SECRET=JWT_SECRET))
        for service in running:
            service.start(wait=False)
        try:
            texts = []
            for service in running:
                service.wait_healthy()  # the credentials work: Redis is up
                answer = httpx.get(f"{service.http}/status", timeout=5)
                assert answer.status_code == 200
                assert answer.json()["dependencies"]["redis"]["state"] == "up"
                texts.append(answer.text)
        finally:
            for service in running:
                service.stop()
    logs = [Path(service.log_path).read_text(errors="replace") for service in running]
    for text in [*texts, *logs]:
        assert SHORT_PASSWORD not in text, f"the Redis password leaked in {text[:300]!r}"
        assert ACL_USER not in text, f"the Redis user name leaked in {text[:300]!r}"


async def test_a_token_is_masked_in_the_access_log_however_its_name_is_encoded(
        redis_url: str, log_dir: Path, hostile: Callable[[str, str], None]) -> None:
    """Issue 18 item 7: ``?%74oken=<jwt>`` authenticates (the server decodes the name) and
    was written in clear to the gateway's INFO log of the WebSocket handshake."""
    # The server decodes names, so the first two authenticate like ?token=; names are
    # case-sensitive (?ToKeN= is refused) but a token there is masked all the same.
    spellings = {"%74oken": True, "%74%6f%6b%65%6e": True, "ToKeN": False, "TOKEN": False}
    tokens = [make_token(userId=f"log-probe-{n}") for n in range(len(spellings) + 1)]
    with services.gateway(redis_url, log_dir).start() as gateway:
        for (name, accepted), client_token in zip(spellings.items(), tokens, strict=False):
            hostile(SUITE, f"secrets: token as ?{name}= in the access log")
            async with WsClient(f"{gateway.ws}?{name}={client_token}") as client:
                if accepted:
                    connected = await client.wait_for("connected")
                    assert connected[0]["userId"].startswith("log-probe-")
                else:
                    with pytest.raises(AssertionError, match="1008"):
                        await client.wait_for("connected")
        hostile(SUITE, "secrets: a repeated token in the access log")
        async with WsClient(f"{gateway.ws}?token={tokens[-1]}&%74oken={tokens[-1]}") as client:
            await client.wait_for("connected")
        # The handshake lines are written before the sessions end; wait for the last one.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and full_log(gateway).count("WebSocket /ws?") < 5:
            await asyncio.sleep(0.1)
        text = full_log(gateway)
    assert text.count("WebSocket /ws?") >= 5, text[-2000:]
    for client_token in tokens:
        assert client_token not in text, "a client token was logged in clear"
    assert "?%74oken=***" in text and "?ToKeN=***" in text
