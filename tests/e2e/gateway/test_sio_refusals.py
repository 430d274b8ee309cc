"""Refusals reach the official JavaScript client, once, on every transport setting.

socket.io-client v4 (pinned in tests/js) with its default transports (long-polling first,
then the WebSocket upgrade), polling only and WebSocket only. A refused handshake must
arrive as exactly one ``connect_error`` whose ``message`` is the reason and whose
``data.code`` is the gateway's code, and the client must see a refusal (``socket.active``
false: its reconnection logic stops), not a network error it retries ("xhr poll error",
68 requests and 17 reconnects in 20 s before the fix). The same when the token expires and
the client's automatic reconnect presents the expired token again. No refusal is logged at
ERROR.
"""

from __future__ import annotations

import itertools
import json
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_token
from tests.e2e.gateway.conftest import FAST_KEEPALIVE
from tests.helpers import services
from tests.helpers.client import WsClient
from tests.helpers.jsclient import JS_DIR, run_node

pytestmark = pytest.mark.e2e

SCRIPT = JS_DIR / "refusal.js"
SETTINGS = ("default", "polling", "websocket")
ALLOWED = "https://app.adstack.io"
WATCH_MS = 2500
"""How long each client is watched after io(): a storm shows as several connect_errors."""
_ips = (f"10.8.{n // 250}.{n % 250 + 1}" for n in itertools.count())


def watch(gateway: services.Service, setting: str, watch_ms: int = WATCH_MS,
          **options: Any) -> list[dict[str, Any]]:
    return run_node(SCRIPT, gateway.http, setting, str(watch_ms), json.dumps(options))


def watch_all(gateway: services.Service, watch_ms: int = WATCH_MS, *, ip: str | None = None,
              headers: dict[str, str] | None = None,
              **options: Any) -> dict[str, list[dict[str, Any]]]:
    """The same connection attempt with each transport setting, side by side, from ``ip``
    (by default each from an IP of its own)."""
    with ThreadPoolExecutor(len(SETTINGS)) as pool:
        runs = {s: pool.submit(watch, gateway, s, watch_ms, **options, headers={
                    **(headers or {}), "X-Forwarded-For": ip or next(_ips)})
                for s in SETTINGS}
        return {setting: run.result() for setting, run in runs.items()}


def summary(lines: list[dict[str, Any]]) -> dict[str, int]:
    return next(line["summary"] for line in lines if "summary" in line)


def assert_refused_once(lines: list[dict[str, Any]], message: str, code: int) -> None:
    errors = [line for line in lines if line.get("event") == "connect_error"]
    counts = summary(lines)
    assert len(errors) == 1, lines
    assert errors[0]["message"] == message, lines
    assert errors[0]["data"] == {"code": code}, lines
    assert errors[0]["active"] is False, lines  # a refusal: the client does not retry it
    assert counts["reconnect_attempt"] == 0, lines
    assert counts["open"] == 1, lines  # one Engine.IO handshake, no storm
    assert counts["connect"] == 0, lines


def assert_no_error_logged(gateway: services.Service) -> None:
    logs = gateway.log_path.read_text(errors="replace")
    assert " ERROR " not in logs and "Traceback" not in logs, logs[-3000:]


@pytest.fixture(scope="module")
def strict(redis_url: str, log_root: Path) -> Iterator[services.Service]:
    gateway = services.gateway(redis_url, log_root, ALLOWED_ORIGINS=ALLOWED,
                               MAX_CONNECTIONS_PER_IP="2", JWT_LEEWAY="0",
                               **FAST_KEEPALIVE).start()
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.mark.parametrize(("case", "message"), [
    ("no token", "auth failed: authentication token required"),
    ("bad token", "auth failed: token is malformed"),
    ("forged token", "auth failed: token signature is invalid"),
    ("expired token", "auth failed: token has expired"),
])
def test_a_refused_token_arrives_once_on_every_transport(
        strict: services.Service, case: str, message: str) -> None:
    token = {"no token": None, "bad token": "not.a.jwt",
             "forged token": make_token(secret="x" * 40),
             "expired token": make_token(exp=int(time.time()) - 60)}[case]
    runs = watch_all(strict, token=token)
    for setting, lines in runs.items():
        assert_refused_once(lines, message, 1008), setting
    assert_no_error_logged(strict)


def test_a_refused_origin_arrives_once_on_every_transport(strict: services.Service) -> None:
    runs = watch_all(strict, token=make_token(), headers={"Origin": "https://evil.example"})
    for lines in runs.values():
        assert_refused_once(lines, "origin not allowed", 4502)
    allowed = watch(strict, "default", 1000, token=make_token(),
                    headers={"Origin": ALLOWED, "X-Forwarded-For": next(_ips)})
    assert summary(allowed)["connect"] == 1, allowed
    assert_no_error_logged(strict)


async def test_the_per_ip_cap_arrives_once_on_every_transport(strict: services.Service) -> None:
    ip = next(_ips)
    held = [WsClient(strict.ws, make_token(), additional_headers={"X-Forwarded-For": ip})
            for _ in range(2)]
    try:
        for client in held:
            await client.open()
            await client.wait_for("connected")
        runs = watch_all(strict, token=make_token(), ip=ip)
    finally:
        for client in held:
            await client.aclose()
    for lines in runs.values():
        assert_refused_once(lines, "too many connections from your IP", 4004)
    assert_no_error_logged(strict)


def test_a_token_expiring_while_reconnecting_arrives_once(strict: services.Service) -> None:
    expires = int(time.time()) + 5  # time for node to start and connect
    runs = watch_all(strict, 9000, token=make_token(exp=expires))
    for setting, lines in runs.items():
        events = [line.get("event") for line in lines]
        closing = [line for line in lines if line.get("event") == "closing"]
        errors = [line for line in lines if line.get("event") == "connect_error"]
        assert "connect" in events and "closing" in events, (setting, lines)
        assert events.index("connect") < events.index("closing"), (setting, lines)
        assert closing[0]["data"]["code"] == 4005, (setting, lines)
        # The client reconnected by itself (4005 means "reconnect"), with the same token.
        assert summary(lines)["reconnect_attempt"] == 1, (setting, lines)
        assert len(errors) == 1, (setting, lines)
        assert errors[0]["message"] == "auth failed: token has expired", (setting, lines)
        assert errors[0]["data"] == {"code": 1008} and errors[0]["active"] is False
        assert summary(lines)["connect"] == 1, (setting, lines)
    assert_no_error_logged(strict)


async def test_draining_arrives_once_on_every_transport(redis_url: str,
                                                        log_root: Path) -> None:
    gateway = services.gateway(redis_url, log_root, DRAIN_SECONDS="30",
                               **FAST_KEEPALIVE).start()
    held = [WsClient(gateway.ws, make_token()) for _ in range(8)]
    try:
        for client in held:
            await client.open()
            await client.wait_for("connected")
        gateway.signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        async with httpx.AsyncClient() as http:
            while (await http.get(f"{gateway.http}/health")).status_code != 503:
                assert time.monotonic() < deadline, "the gateway never started draining"
        runs = watch_all(gateway)
        for lines in runs.values():
            assert_refused_once(lines, "gateway shutting down; reconnect", 4000)
        assert_no_error_logged(gateway)
    finally:
        for client in held:
            await client.aclose()
        gateway.kill()
