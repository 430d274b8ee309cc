"""JWT on real connections: where tokens come from, refusals with reasons, public keys and
JWKS, refresh and expiry, and SKIP_AUTH only in development."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import pytest

from tests.conftest import make_token
from tests.e2e.gateway.conftest import FAST_KEEPALIVE, TRANSPORTS, Connect, client_for
from tests.helpers import services
from tests.helpers.client import SioClient, WsClient
from tests.helpers.events import AUCTION, CAMPAIGN, DEPLOYER
from tests.helpers.jwks_server import JwksServer
from tests.helpers.keys import KeyPair, jwks_document

pytestmark = pytest.mark.e2e


async def refusal(gateway: services.Service, transport: str, token: str | None,
                  **kwargs: object) -> tuple[int, str]:
    """(close code, reason) of a refused handshake, on either transport."""
    client = client_for(gateway, transport, token, **kwargs)
    if isinstance(client, SioClient):
        error = await client.refused()
        return error["data"]["code"], error["message"]
    await client.open()
    try:
        code = await client.wait_closed()
        assert code is not None and client.close_reason is not None
        assert client.of("connected") == [], "a refused client must get nothing"
        return code, client.close_reason
    finally:
        await client.aclose()


def now() -> int:
    return int(time.time())


# Tokens are made when the test runs (a token made at collection ages until then).
@pytest.mark.parametrize(("token", "reason"), [
    (lambda: None, "authentication token required"),
    (lambda: make_token(exp=now() - 3600), "token has expired"),
    (lambda: make_token(nbf=now() + 3600), "token is not yet valid"),
    (lambda: make_token(secret="not-the-gateway-secret-but-long-enough"),
     "token signature is invalid"),
    (lambda: make_token(userId=None), "token lacks the userId (or sub) claim"),
    (lambda: make_token(blob="x" * 5000), "token is too large"),
    (lambda: "garbage", "token is malformed"),
], ids=["missing", "expired", "not_yet_valid", "bad_signature", "no_user", "too_large",
        "malformed"])
async def test_refused_handshakes_say_why(gw: services.Service, transport: str,
                                          token: Callable[[], str | None],
                                          reason: str) -> None:
    code, message = await refusal(gw, transport, token())
    assert code == 1008
    assert message == f"auth failed: {reason}"


async def test_token_from_header_or_query(gw: services.Service, transport: str) -> None:
    token = make_token(userId="from-header")
    if transport == "ws":
        client: WsClient | SioClient = WsClient(
            gw.ws, None, additional_headers={"Authorization": f"Bearer {token}"})
    else:
        client = SioClient(gw.http, None, transport=transport.removeprefix("sio-"),
                           headers={"Authorization": f"Bearer {token}"})
    async with client:
        assert (await client.wait_for("connected"))[0]["userId"] == "from-header"
    query = make_token(userId="from-query")
    if transport == "ws":
        client = WsClient(gw.ws, query)
    else:  # Socket.IO: ?token=… on the connection URL
        client = SioClient(f"{gw.http}?token={query}", None,
                           transport=transport.removeprefix("sio-"))
    async with client:
        assert (await client.wait_for("connected"))[0]["userId"] == "from-query"


@pytest.fixture(scope="module")
def jwks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[JwksServer, KeyPair,
                                                                     KeyPair]]:
    rsa, ec = KeyPair("RS256", "rsa-1"), KeyPair("ES256", "ec-1")
    with JwksServer() as server:
        server.document = jwks_document(rsa, ec)
        yield server, rsa, ec


@pytest.fixture(scope="module")
def jwks_gateway(redis_url: str, log_root: Path,
                 jwks: tuple[JwksServer, KeyPair, KeyPair]) -> Iterator[services.Service]:
    server, _, _ = jwks
    gateway = services.gateway(redis_url, log_root, JWT_SECRET="", JWT_JWKS_URL=server.url,
                               JWT_ALGORITHMS="RS256,ES256", JWT_ISSUER="https://auth.adstack",
                               JWT_AUDIENCE="realtime", **FAST_KEEPALIVE).start()
    try:
        yield gateway
    finally:
        gateway.stop()


async def test_rs256_and_es256_from_a_jwks_url(
        jwks_gateway: services.Service, jwks: tuple[JwksServer, KeyPair, KeyPair],
        connect: Connect, transport: str) -> None:
    server, rsa, ec = jwks
    claims = {"iss": "https://auth.adstack", "aud": "realtime"}
    for pair in (rsa, ec):
        client = await connect(pair.sign(userId=f"u-{pair.algorithm}", **claims),
                               gateway=jwks_gateway)
        assert client.of("connected")[0]["userId"] == f"u-{pair.algorithm}"
    assert 1 <= server.requests <= 2, "the JWKS is cached"
    refusals = [
        (make_token(**claims), "token algorithm is not accepted"),  # HS256
        (rsa.sign(iss="https://evil", aud="realtime"), "token issuer is not accepted"),
        (rsa.sign(iss="https://auth.adstack", aud="other"), "token audience is not accepted"),
        (KeyPair("RS256", "rsa-1").sign(**claims), "token signature is invalid"),
        (KeyPair("RS256", "rsa-9").sign(**claims), "token signing key is unknown"),
    ]
    for token, reason in refusals:
        assert await refusal(jwks_gateway, transport, token) == (1008, f"auth failed: {reason}")


def test_es256_with_a_public_key_file(redis_url: str, log_dir: Path, tmp_path: Path) -> None:
    pair = KeyPair("ES256", "ec-file")
    gateway = services.gateway(redis_url, log_dir, JWT_SECRET="",
                               JWT_PUBLIC_KEY_FILE=str(pair.write_pem(tmp_path)),
                               JWT_ALGORITHMS="ES256").start()

    async def check() -> None:
        async with WsClient(gateway.ws, pair.sign(userId="ec-user")) as client:
            assert (await client.wait_for("connected"))[0]["userId"] == "ec-user"
        assert await refusal(gateway, "ws", make_token()) == (
            1008, "auth failed: token algorithm is not accepted")

    try:
        asyncio.run(check())
    finally:
        gateway.stop()


@pytest.fixture(scope="module")
def strict_gateway(redis_url: str, log_root: Path) -> Iterator[services.Service]:
    """No leeway, so a token's expiry is exactly when the session must end."""
    gateway = services.gateway(redis_url, log_root, JWT_LEEWAY="0", **FAST_KEEPALIVE).start()
    try:
        yield gateway
    finally:
        gateway.stop()


async def test_refresh_extends_the_session_and_expiry_closes_it(
        strict_gateway: services.Service, connect: Connect) -> None:
    # Both tokens must outlive two connects and a refresh on a loaded machine; the lapser's
    # close then marks the moment they expired (JWT_LEEWAY=0).
    soon = now() + 6
    keeper = await connect(make_token(exp=soon), gateway=strict_gateway)
    lapser = await connect(make_token(exp=soon), gateway=strict_gateway)
    later = now() + 3600
    refreshed = await keeper.request("refresh", {"token": make_token(exp=later)}, "refreshed")
    assert refreshed["expiresAt"] == later
    assert await lapser.wait_closed(timeout=30) == 4005
    assert lapser.close_reason == "token expired; reconnect with a new token"
    await asyncio.sleep(max(0.0, soon + 1 - time.time()))
    assert not keeper.closed
    assert (await keeper.request("ping", None, "pong"))["timestamp"] > 0


async def test_bad_refreshes_are_refused_and_narrower_tokens_end_subscriptions(
        strict_gateway: services.Service, connect: Connect) -> None:
    client = await connect(make_token(), gateway=strict_gateway)
    await client.request("subscribe", {"contractId": CAMPAIGN}, "subscribed")
    await client.request("subscribe", {"contractId": AUCTION}, "subscribed")
    for token, message in [
        (make_token(exp=now() - 60), "token has expired"),
        (make_token(userId="mallory"), "token is for another user"),
        (jwt.encode({"userId": "user-1"}, "x" * 40, algorithm="HS256"),
         "token signature is invalid"),
    ]:
        reply = await client.request("refresh", {"token": token}, "refreshed")
        assert reply["error"] == {"message": message, "code": "INVALID_TOKEN"}
    narrower = make_token(contracts=[f"{DEPLOYER}.promo-*"])
    await client.request("refresh", {"token": narrower}, "refreshed")
    dropped = await client.wait_for("unsubscribed")
    assert dropped[0]["contractId"] == AUCTION and dropped[0]["reason"] == "forbidden"
    reply = await client.request("subscribe", {"contractId": AUCTION}, "subscribed")
    assert reply["error"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("env", [{"NODE_ENV": "production"}, {"ENV": "production"}])
def test_skip_auth_in_production_refuses_to_start(redis_url: str, env: dict[str, str]) -> None:
    environ = services.base_env(redis_url, SKIP_AUTH="true", **env)
    if "ENV" in env:
        del environ["NODE_ENV"]
    proc = subprocess.run([sys.executable, "-m", "adstack_gateway", "--port", "0"],
                          env=environ, capture_output=True, text=True, timeout=30,
                          check=False)
    assert proc.returncode == 2
    assert "SKIP_AUTH=true is only allowed with NODE_ENV=development" in proc.stderr


def test_missing_key_file_refuses_to_start(redis_url: str, tmp_path: Path) -> None:
    environ = services.base_env(redis_url, JWT_PUBLIC_KEY_FILE=str(tmp_path / "nope.pem"))
    proc = subprocess.run([sys.executable, "-m", "adstack_gateway", "--port", "0"],
                          env=environ, capture_output=True, text=True, timeout=30,
                          check=False)
    assert proc.returncode == 2
    assert "JWT configuration" in proc.stderr and "nope.pem" in proc.stderr


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_skip_auth_in_development_accepts_anyone(redis_url: str, log_dir: Path,
                                                       transport: str) -> None:
    gateway = services.gateway(redis_url, log_dir, JWT_SECRET="", SKIP_AUTH="true",
                               NODE_ENV="development", **FAST_KEEPALIVE).start()
    client = client_for(gateway, transport, None)
    try:
        async with client:
            assert (await client.wait_for("connected"))[0]["userId"] == "anonymous"
    finally:
        gateway.stop()
