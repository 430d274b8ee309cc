"""A JWKS served over real HTTP (a tiny local server): cached, rotated, throttled."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adstack_auth import AuthError, TokenVerifier, VerifierConfig
from tests.helpers.jwks_server import JwksServer
from tests.helpers.keys import KeyPair, jwks_document


@pytest.fixture()
def server() -> Iterator[JwksServer]:
    with JwksServer() as srv:
        yield srv


def test_remote_jwks_is_fetched_once_and_cached(server: JwksServer) -> None:
    rsa, ec = KeyPair("RS256", "r1"), KeyPair("ES256", "e1")
    server.document = jwks_document(rsa, ec)
    verifier = TokenVerifier(VerifierConfig(jwks_url=server.url, algorithms=("RS256", "ES256")))
    assert verifier.may_block
    for _ in range(3):
        assert verifier.verify(rsa.sign(userId="r")).user_id == "r"
        assert verifier.verify(ec.sign(userId="e")).user_id == "e"
    assert server.requests == 1


def test_rotation_refetches_but_unknown_kids_are_throttled(server: JwksServer) -> None:
    old, new = KeyPair("RS256", "old"), KeyPair("RS256", "new")
    server.document = jwks_document(old)
    verifier = TokenVerifier(VerifierConfig(jwks_url=server.url, algorithms=("RS256",),
                                            jwks_min_refresh_seconds=0))
    assert verifier.verify(old.sign()).user_id == "user-1"
    server.document = jwks_document(old, new)  # the issuer rotates in a new key
    assert verifier.verify(new.sign(userId="n")).user_id == "n"
    assert server.requests == 2

    throttled = TokenVerifier(VerifierConfig(jwks_url=server.url, algorithms=("RS256",),
                                             jwks_min_refresh_seconds=3600))
    assert throttled.verify(old.sign()).user_id == "user-1"
    before = server.requests
    for n in range(5):
        with pytest.raises(AuthError) as info:
            throttled.verify(KeyPair("RS256", f"made-up-{n}").sign())
        assert info.value.reason == "unknown_key"
    assert server.requests == before, "made-up key ids must not re-fetch the JWKS"


def test_unreachable_jwks_refuses_with_keys_unavailable() -> None:
    with JwksServer() as srv:
        url = srv.url
    verifier = TokenVerifier(VerifierConfig(jwks_url=url, algorithms=("RS256",),
                                            jwks_timeout_seconds=1))
    with pytest.raises(AuthError) as info:
        verifier.verify(KeyPair("RS256", "k").sign())
    assert info.value.reason == "keys_unavailable"
