"""The attack suite, against real gateways: every attack on the token, the Origin and the
contracts claim is refused with its reason, and a listener on the attacked gateway keeps
receiving.

Gateways: ``hs`` (HS256, required ``iss``/``aud``/``exp``) and ``rs`` (RS256/ES256 from a
JWKS URL, required ``iss``/``aud``); the Origin checks use the catalogue's gateway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.conftest import make_token
from tests.e2e.gateway.conftest import FAST_KEEPALIVE
from tests.e2e.security.conftest import ALLOWED_ORIGIN, Listener, hostile_client
from tests.helpers import services
from tests.helpers.client import SioClient
from tests.helpers.events import AUCTION, CAMPAIGN, DEPLOYER, make_event, publish
from tests.helpers.jwks_server import JwksServer
from tests.helpers.keys import KeyPair, jwks_document

pytestmark = pytest.mark.e2e

SUITE = "attack suite"
Hostile = Callable[[str, str], None]
ISSUER, AUDIENCE = "https://auth.adstack", "realtime"
SECRET = services.TEST_SECRET
TRANSPORTS = ["ws", "sio-websocket"]


def b64(data: bytes | dict[str, Any]) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    body: dict[str, Any] = {"userId": "user-1", "iat": now, "exp": now + 3600,
                            "iss": ISSUER, "aud": AUDIENCE}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def hs(secret: str = SECRET, headers: dict[str, Any] | None = None, **changes: Any) -> str:
    return jwt.encode(claims(**changes), secret, algorithm="HS256", headers=headers)


def hand_signed(header: dict[str, Any], payload: dict[str, Any], key: bytes,
                digest: str = "sha256") -> str:
    """A token HMAC-signed by hand (PyJWT refuses to use a public key as an HMAC secret,
    and warns about short HS512 keys)."""
    signing_input = f"{b64(header)}.{b64(payload)}"
    signature = hmac.new(key, signing_input.encode(), getattr(hashlib, digest)).digest()
    return f"{signing_input}.{b64(signature)}"


def unsigned(alg: str) -> str:
    return f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims())}."


def tampered(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(changes)
    return f"{header}.{b64(body)}.{signature}"


def stripped(token: str) -> str:
    return token.rsplit(".", 1)[0] + "."


# (attack, token, reason the gateway gives) on the HS256 gateway.
HS_ATTACKS: list[tuple[str, str | None, str]] = [
    ("no token", None, "authentication token required"),
    ("alg none, unsigned", unsigned("none"), "token algorithm is not accepted"),
    ("alg None (case variant)", unsigned("None"), "token algorithm is not accepted"),
    ("alg none with the real signature kept",
     f"{b64({'alg': 'none'})}.{hs().split('.')[1]}.{hs().split('.')[2]}",
     "token algorithm is not accepted"),
    ("HS512 with the right secret (algorithm not pinned)",
     hand_signed({"alg": "HS512", "typ": "JWT"}, claims(), SECRET.encode(), "sha512"),
     "token algorithm is not accepted"),
    ("expired", hs(exp=int(time.time()) - 3600), "token has expired"),
    ("expired beyond the leeway", hs(exp=int(time.time()) - 120), "token has expired"),
    ("future nbf", hs(nbf=int(time.time()) + 3600), "token is not yet valid"),
    ("future iat", hs(iat=int(time.time()) + 3600), "token is not yet valid"),
    ("no exp (required)", hs(exp=None), "token lacks the exp claim"),
    ("wrong iss", hs(iss="https://evil.example"), "token issuer is not accepted"),
    ("no iss", hs(iss=None), "token lacks the iss claim"),
    ("wrong aud", hs(aud="other-service"), "token audience is not accepted"),
    ("aud list without ours", hs(aud=["a", "b"]), "token audience is not accepted"),
    ("no aud", hs(aud=None), "token lacks the aud claim"),
    ("tampered payload: another user", tampered(hs(), userId="admin"),
     "token signature is invalid"),
    ("tampered payload: contracts widened to *",
     tampered(hs(contracts=[CAMPAIGN]), contracts=["*"]), "token signature is invalid"),
    ("tampered payload: exp extended", tampered(hs(), exp=int(time.time()) + 10**8),
     "token signature is invalid"),
    ("stripped signature", stripped(hs()), "token signature is invalid"),
    ("signed with another secret", hs(secret="attacker-secret-that-is-long-enough-xx"),
     "token signature is invalid"),
    ("embedded jwk header with the attacker's key",
     hs(secret="attacker-secret-that-is-long-enough-xx",
        headers={"jwk": {"kty": "oct", "k": b64(b"attacker-secret-that-is-long-enough-xx")}}),
     "token signature is invalid"),
    ("oversized token (5 KB)", hs(blob="x" * 5000), "token is too large"),
    ("two segments", ".".join(hs().split(".")[:2]), "token is malformed"),
    ("not base64", "!!!.???.***", "token is malformed"),
    ("crit header", hs(headers={"crit": ["exp"]}), "token is malformed"),
    ("no user id", hs(userId=None), "token lacks the userId (or sub) claim"),
    ("user id is an object", hs(userId={"$gt": ""}), "token lacks the userId (or sub) claim"),
    ("contracts claim of the wrong type", hs(contracts=5),
     "the contracts claim must be a list of strings"),
]

RSA, EC = KeyPair("RS256", "rsa-1"), KeyPair("ES256", "ec-1")
ATTACKER = KeyPair("RS256", "rsa-1")  # the real kid, the attacker's key
RS_CLAIMS = {"iss": ISSUER, "aud": AUDIENCE}


def rs_attacks(evil_jwks: str) -> list[tuple[str, str, str]]:
    now = int(time.time())
    payload = claims()
    return [
        ("alg none", unsigned("none"), "token algorithm is not accepted"),
        ("algorithm confusion: HS256 signed with the RSA public key",
         hand_signed({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, payload,
                     RSA.public_pem.encode()), "token algorithm is not accepted"),
        ("algorithm confusion: RS256 header, HMAC signature with the public key",
         hand_signed({"alg": "RS256", "typ": "JWT", "kid": "rsa-1"}, payload,
                     RSA.public_pem.encode()), "token signature is invalid"),
        ("HS256 signed with the JWK JSON",
         hand_signed({"alg": "HS256", "kid": "rsa-1"}, payload, json.dumps(RSA.jwk()).encode()),
         "token algorithm is not accepted"),
        ("unknown kid", KeyPair("RS256", "rsa-9").sign(**RS_CLAIMS),
         "token signing key is unknown"),
        ("kid path traversal", KeyPair("RS256", "../../../../etc/passwd").sign(**RS_CLAIMS),
         "token signing key is unknown"),
        ("the real kid, the attacker's key", ATTACKER.sign(**RS_CLAIMS),
         "token signature is invalid"),
        ("embedded jwk header (attacker's public key)",
         jwt.encode(payload, ATTACKER.private, algorithm="RS256",
                    headers={"jwk": ATTACKER.jwk()}), "token signature is invalid"),
        ("jku header to the attacker's JWKS",
         jwt.encode(payload, ATTACKER.private, algorithm="RS256",
                    headers={"kid": "evil-1", "jku": evil_jwks}),
         "token signing key is unknown"),
        ("x5u header to the attacker's certificate",
         jwt.encode(payload, ATTACKER.private, algorithm="RS256",
                    headers={"x5u": evil_jwks.replace("jwks.json", "cert.pem")}),
         "token signature is invalid"),
        ("ES256 token naming the RSA kid",
         jwt.encode(payload, EC.private, algorithm="ES256", headers={"kid": "rsa-1"}),
         "token signing key is unknown"),
        ("RS256 token naming the EC kid",
         jwt.encode(payload, RSA.private, algorithm="RS256", headers={"kid": "ec-1"}),
         "token signing key is unknown"),
        ("expired, properly signed", RSA.sign(exp=now - 3600, **RS_CLAIMS), "token has expired"),
        ("wrong aud, properly signed", RSA.sign(iss=ISSUER, aud="other"),
         "token audience is not accepted"),
        ("stripped signature", stripped(RSA.sign(**RS_CLAIMS)), "token signature is invalid"),
    ]


@pytest.fixture(scope="module")
def hs_gateway(redis_url: str, log_root: Path) -> Iterator[services.Service]:
    gateway = services.gateway(redis_url, log_root, JWT_ISSUER=ISSUER, JWT_AUDIENCE=AUDIENCE,
                               JWT_REQUIRED_CLAIMS="exp", **FAST_KEEPALIVE).start()
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture(scope="module")
def evil() -> Iterator[JwksServer]:
    """The attacker's JWKS server: the gateway must never fetch from it."""
    with JwksServer() as server:
        server.document = jwks_document(KeyPair("RS256", "evil-1"))
        yield server


@pytest.fixture(scope="module")
def rs_gateway(redis_url: str, log_root: Path) -> Iterator[services.Service]:
    with JwksServer() as jwks:
        jwks.document = jwks_document(RSA, EC)
        gateway = services.gateway(redis_url, log_root, JWT_SECRET="", JWT_JWKS_URL=jwks.url,
                                   JWT_ALGORITHMS="RS256,ES256", JWT_ISSUER=ISSUER,
                                   JWT_AUDIENCE=AUDIENCE, **FAST_KEEPALIVE).start()
        try:
            yield gateway
        finally:
            gateway.stop()


@asynccontextmanager
async def listening(gateway: services.Service, redis_url: str,
                    token: str) -> AsyncIterator[Listener]:
    client = hostile_client(gateway, "ws", token)
    async with client:
        await client.wait_for("connected")
        await client.request("subscribe", {"contractId": CAMPAIGN}, "subscribed")
        yield Listener(client, redis_url)


async def refusal(gateway: services.Service, transport: str, token: str | None,
                  **kwargs: Any) -> tuple[int, str]:
    """(close code, reason) of a refused handshake; the client must get nothing else."""
    client = hostile_client(gateway, transport, token or "", **kwargs)
    if isinstance(client, SioClient):
        error = await client.refused()
        assert client.of("connected") == []
        return int(error["data"]["code"]), str(error["message"])
    await client.open()
    try:
        code = await client.wait_closed()
        assert client.of("connected") == [], "a refused client must get nothing"
        assert code is not None and client.close_reason is not None
        return code, client.close_reason
    finally:
        await client.aclose()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(("attack", "token", "reason"), HS_ATTACKS,
                         ids=[a[0] for a in HS_ATTACKS])
async def test_jwt_attacks_on_hs256_are_refused(
        hs_gateway: services.Service, redis_url: str, hostile: Hostile, transport: str,
        attack: str, token: str | None, reason: str) -> None:
    hostile(SUITE, f"JWT {transport}: {attack}")
    async with listening(hs_gateway, redis_url, hs()) as listener:
        assert await refusal(hs_gateway, transport, token) == (1008, f"auth failed: {reason}")
        await listener.still_receives()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_jwt_attacks_on_rs256_jwks_are_refused(
        rs_gateway: services.Service, evil: JwksServer, redis_url: str, hostile: Hostile,
        transport: str) -> None:
    async with listening(rs_gateway, redis_url, RSA.sign(**RS_CLAIMS)) as listener:
        for attack, token, reason in rs_attacks(evil.url):
            hostile(SUITE, f"JWT {transport}: {attack}")
            assert await refusal(rs_gateway, transport, token) == (
                1008, f"auth failed: {reason}"), attack
        await listener.still_receives()
    assert evil.requests == 0, "keys are never fetched from a URL named by the token"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_refresh_attacks_are_refused_and_the_session_is_unchanged(
        hs_gateway: services.Service, redis_url: str, hostile: Hostile,
        transport: str) -> None:
    async with listening(hs_gateway, redis_url, hs()) as listener:
        client = hostile_client(hs_gateway, transport, hs(contracts=[CAMPAIGN]))
        async with client:
            await client.wait_for("connected")
            for attack, token, message in [
                ("alg none", unsigned("none"), "token algorithm is not accepted"),
                ("another user's valid token", hs(userId="mallory"),
                 "token is for another user"),
                ("expired", hs(exp=int(time.time()) - 3600), "token has expired"),
                ("tampered to widen contracts",
                 tampered(hs(contracts=[CAMPAIGN]), contracts=["*"]),
                 "token signature is invalid"),
                ("stripped signature", stripped(hs()), "token signature is invalid"),
            ]:
                hostile(SUITE, f"refresh {transport}: {attack}")
                reply = await client.request("refresh", {"token": token}, "refreshed")
                assert reply == {"error": {"message": message, "code": "INVALID_TOKEN"}}
            # Still the same user with the same (narrow) rights.
            refused = await client.request("subscribe", {"contractId": AUCTION}, "subscribed")
            assert refused["error"]["code"] == "FORBIDDEN"
            assert not client.closed
        await listener.still_receives()


HOSTILE_ORIGINS = [
    "https://evil.example",
    "null",  # sandboxed iframes, file:// pages
    "https://app.adstack.io.evil.example",  # our origin as a prefix
    "https://evil.app.adstack.io",  # a subdomain
    "http://app.adstack.io",  # scheme downgrade
    "https://app.adstack.io:8443",  # another port
]


@pytest.mark.parametrize("transport", ["ws", "sio-websocket", "sio-polling"])
@pytest.mark.parametrize("origin", HOSTILE_ORIGINS)
async def test_cross_site_websocket_hijacking_is_refused(
        guarded: services.Service, listener: Listener, hostile: Hostile, transport: str,
        origin: str) -> None:
    hostile(SUITE, f"Origin {transport}: {origin}")
    if transport == "ws":
        assert await refusal(guarded, transport, make_token(),
                             headers={"Origin": origin}) == (4502, "origin not allowed")
    else:  # refused at the namespace, with the reason (a bare HTTP 400 made clients retry)
        client = hostile_client(guarded, transport, headers={"Origin": origin})
        assert isinstance(client, SioClient)
        assert await client.refused() == {"message": "origin not allowed",
                                          "data": {"code": 4502}}
        assert client.of("connected") == [] and client.connects == 0
    await listener.still_receives()


async def test_the_allowed_origin_is_accepted(guarded: services.Service) -> None:
    """The control for the Origin attacks: the configured origin gets in."""
    for transport in ("ws", "sio-websocket", "sio-polling"):
        client = hostile_client(guarded, transport, headers={"Origin": ALLOWED_ORIGIN})
        async with client:
            assert (await client.wait_for("connected"))[0]["userId"] == "user-1"


OTHER_DEPLOYER = "ST000000000000000000002AMW42H"  # valid c32check, another address


@pytest.mark.parametrize("transport", ["ws", "sio-websocket", "sio-polling"])
async def test_contracts_outside_the_claim_are_forbidden(
        guarded: services.Service, listener: Listener, redis_url: str, hostile: Hostile,
        transport: str) -> None:
    client = hostile_client(guarded, transport, make_token(contracts=[CAMPAIGN]))
    async with client:
        await client.wait_for("connected")
        assert (await client.request("subscribe", {"contractId": CAMPAIGN},
                                     "subscribed"))["contractId"] == CAMPAIGN
        for command, contract, reply in [
            ("subscribe", AUCTION, "subscribed"),
            ("subscribe", f"{DEPLOYER}.Promo-manager", "subscribed"),  # case differs
            ("subscribe", f"{OTHER_DEPLOYER}.promo-manager", "subscribed"),  # other deployer
            ("getHistory", AUCTION, "history"),
            ("getStats", AUCTION, "stats"),
        ]:
            hostile(SUITE, f"claim {transport}: {command} {contract.split('.')[1]} "
                           f"of {contract[:6]}…")
            refused = await client.request(command, {"contractId": contract}, reply)
            assert refused["error"]["code"] == "FORBIDDEN", (command, contract, refused)
        # Nothing of the forbidden contract leaks through; the allowed one still flows.
        n = int(time.time() * 1000) % 10**9
        await publish(redis_url, [make_event(AUCTION, n), make_event(CAMPAIGN, n)])
        got = await client.wait_for("event")
        assert [e["contractId"] for e in got] == [CAMPAIGN]
        assert all(e["contractId"] == CAMPAIGN for e in client.of("event"))
    await listener.still_receives()


@pytest.mark.parametrize("pattern", [
    f"{DEPLOYER}.promo-manage?", f"{DEPLOYER}.[a-z]romo-manager", f"{DEPLOYER}.promo-manage[r]",
])
async def test_claim_patterns_glob_only_with_star(guarded: services.Service,
                                                  hostile: Hostile, pattern: str) -> None:
    """Issue 18 item 15: ``?`` and ``[a-z]`` in a ``contracts`` claim were wildcards
    (fnmatch); the docs promise only ``*``."""
    hostile(SUITE, f"claim: pattern {pattern.split('.')[1]!r} is not a wildcard")
    client = hostile_client(guarded, "ws", make_token(contracts=[pattern, f"{DEPLOYER}.auc*"]))
    async with client:
        await client.wait_for("connected")
        refused = await client.request("subscribe", {"contractId": CAMPAIGN}, "subscribed")
        assert refused["error"]["code"] == "FORBIDDEN", refused
        allowed = await client.request("subscribe", {"contractId": AUCTION}, "subscribed")
        assert allowed["contractId"] == AUCTION
