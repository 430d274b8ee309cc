"""JWT verification: pinned algorithms, real RSA/EC keys, every refusal reason."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest

from adstack_auth import AuthError, Claims, TokenVerifier, VerifierConfig, can_subscribe
from tests.helpers.keys import KeyPair, jwks_document

SECRET = "a-secret-that-is-long-enough-for-hs256!"
C1 = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"


def hs(secret: str = SECRET, **claims: object) -> str:
    now = int(time.time())
    payload: dict[str, object] = {"userId": "user-1", "iat": now, "exp": now + 3600}
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm="HS256")


def refused(verifier: TokenVerifier, token: str | None) -> str:
    with pytest.raises(AuthError) as info:
        verifier.verify(token)
    return info.value.reason


@pytest.fixture(scope="module")
def rsa_pair() -> KeyPair:
    return KeyPair("RS256", "rsa-1")


@pytest.fixture(scope="module")
def ec_pair() -> KeyPair:
    return KeyPair("ES256", "ec-1")


@pytest.fixture()
def hs_verifier() -> TokenVerifier:
    return TokenVerifier(VerifierConfig(secret=SECRET, leeway=5))


def test_hs256_claims_are_read(hs_verifier: TokenVerifier) -> None:
    exp = int(time.time()) + 60
    claims = hs_verifier.verify(hs(address="ST1ADDR", role="advertiser", exp=exp,
                                   contracts=[C1]))
    assert claims == Claims(user_id="user-1", address="ST1ADDR", role="advertiser",
                            contracts=(C1,), expires_at=float(exp))
    assert hs_verifier.verify(hs(userId=None, sub="subject-7")).user_id == "subject-7"
    assert not hs_verifier.may_block


def test_rs256_with_a_pem_file(tmp_path: Path, rsa_pair: KeyPair) -> None:
    verifier = TokenVerifier(VerifierConfig(public_key_file=str(rsa_pair.write_pem(tmp_path)),
                                            algorithms=("RS256",)))
    assert verifier.verify(rsa_pair.sign(userId="u-rsa")).user_id == "u-rsa"


def test_es256_with_a_pem_file(tmp_path: Path, ec_pair: KeyPair) -> None:
    verifier = TokenVerifier(VerifierConfig(public_key_file=str(ec_pair.write_pem(tmp_path)),
                                            algorithms=("ES256",)))
    assert verifier.verify(ec_pair.sign(userId="u-ec")).user_id == "u-ec"


def test_jwks_file_picks_the_key_by_kid(tmp_path: Path, rsa_pair: KeyPair,
                                        ec_pair: KeyPair) -> None:
    path = tmp_path / "jwks.json"
    path.write_bytes(jwks_document(rsa_pair, ec_pair))
    verifier = TokenVerifier(VerifierConfig(jwks_url=f"file://{path}",
                                            algorithms=("RS256", "ES256")))
    assert verifier.verify(rsa_pair.sign(userId="a")).user_id == "a"
    assert verifier.verify(ec_pair.sign(userId="b")).user_id == "b"
    stranger = KeyPair("RS256", "rsa-unknown")
    assert refused(verifier, stranger.sign()) == "unknown_key"
    # Same kid as a known key, signed by another key: the signature check fails.
    impostor = KeyPair("RS256", rsa_pair.kid)
    assert refused(verifier, impostor.sign()) == "bad_signature"


def test_none_algorithm_is_refused(hs_verifier: TokenVerifier) -> None:
    def b64(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({'userId': 'root'})}."
    assert refused(hs_verifier, unsigned) == "bad_algorithm"


def test_hs256_signed_with_the_rsa_public_key_is_refused(tmp_path: Path,
                                                         rsa_pair: KeyPair) -> None:
    verifier = TokenVerifier(VerifierConfig(public_key_file=str(rsa_pair.write_pem(tmp_path)),
                                            algorithms=("RS256",)))
    # The classic confusion attack: the public key (which everybody has) as HMAC secret.
    # PyJWT refuses to HMAC with a PEM key, so forge the signature by hand.
    import hashlib
    import hmac

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = (b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "."
                     + b64(json.dumps({"userId": "attacker"}).encode()))
    signature = hmac.new(rsa_pair.public_pem.encode(), signing_input.encode(),
                         hashlib.sha256).digest()
    assert refused(verifier, f"{signing_input}.{b64(signature)}") == "bad_algorithm"


def test_mixing_hmac_and_public_key_algorithms_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="confusion"):
        TokenVerifier(VerifierConfig(secret=SECRET, algorithms=("HS256", "RS256")))
    with pytest.raises(ValueError, match="none"):
        TokenVerifier(VerifierConfig(secret=SECRET, algorithms=("none",)))


# Claims are built from the clock when the test runs, never at collection (parametrize):
# a run that starts minutes after collection must still see a token that is not valid yet.
@pytest.mark.parametrize(("claims", "reason"), [
    (lambda now: {"exp": now - 120}, "expired"),
    (lambda now: {"nbf": now + 120}, "not_yet_valid"),
    (lambda now: {"userId": None}, "missing_claim"),
    (lambda now: {"userId": ""}, "missing_claim"),
    (lambda now: {"contracts": 5}, "malformed"),
], ids=["expired", "not_yet_valid", "userId_none", "userId_empty", "contracts_int"])
def test_bad_claims_are_refused_with_their_reason(
        hs_verifier: TokenVerifier, claims: Callable[[int], dict[str, object]],
        reason: str) -> None:
    assert refused(hs_verifier, hs(**claims(int(time.time())))) == reason


def test_leeway_accepts_a_just_expired_token(hs_verifier: TokenVerifier) -> None:
    assert hs_verifier.verify(hs(exp=int(time.time()) - 2)).user_id == "user-1"


def test_issuer_and_audience_are_checked_when_configured() -> None:
    verifier = TokenVerifier(VerifierConfig(secret=SECRET, issuer="https://auth.adstack",
                                            audience="realtime"))
    good = hs(iss="https://auth.adstack", aud="realtime")
    assert verifier.verify(good).user_id == "user-1"
    assert refused(verifier, hs(iss="https://evil", aud="realtime")) == "bad_issuer"
    assert refused(verifier, hs(iss="https://auth.adstack", aud="other")) == "bad_audience"
    assert refused(verifier, hs(aud="realtime")) == "missing_claim"


def test_required_claims(hs_verifier: TokenVerifier) -> None:
    strict = TokenVerifier(VerifierConfig(secret=SECRET, required_claims=("exp",)))
    no_exp = jwt.encode({"userId": "u"}, SECRET, algorithm="HS256")
    assert hs_verifier.verify(no_exp).expires_at is None
    assert refused(strict, no_exp) == "missing_claim"


def test_bad_signature_missing_oversized_and_garbage(hs_verifier: TokenVerifier) -> None:
    assert refused(hs_verifier, hs(secret="another-secret-that-is-long-enough!!")) == (
        "bad_signature")
    assert refused(hs_verifier, None) == "missing"
    assert refused(hs_verifier, "") == "missing"
    assert refused(hs_verifier, hs(padding="x" * 5000)) == "too_large"
    assert refused(hs_verifier, "not.a.jwt") == "malformed"


def test_contracts_claim_limits_subscriptions(hs_verifier: TokenVerifier) -> None:
    claims = hs_verifier.verify(hs(contracts=["ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-*"]))
    assert can_subscribe(claims, C1)
    assert not can_subscribe(claims, "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.auction-engine")
    assert can_subscribe(hs_verifier.verify(hs()), "anything")


def test_contracts_claim_globs_only_with_star(hs_verifier: TokenVerifier) -> None:
    """Only ``*`` is a wildcard (as documented): ``?`` and ``[a-z]`` are literal characters
    (issue 18 item 15: fnmatch honoured them, so ``promo-manage?`` allowed promo-manager)."""
    deployer = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM"

    def allows(pattern: str, contract: str) -> bool:
        return can_subscribe(hs_verifier.verify(hs(contracts=[pattern])), contract)

    assert not allows(f"{deployer}.promo-manage?", C1)
    assert not allows(f"{deployer}.[a-z]romo-manager", C1)
    assert not allows(f"{deployer}.promo-manage[a-z]", C1)
    assert allows(f"{deployer}.promo-manage?", f"{deployer}.promo-manage?")
    assert allows(f"{deployer}.[a-z]romo-manager", f"{deployer}.[a-z]romo-manager")
    assert allows(f"{deployer}.*", C1)
    assert allows("*", C1)
    assert allows(f"{deployer}.promo*manager", C1)
    assert allows(f"{deployer}.promo-manager*", C1)  # * may match nothing
    assert allows("*.promo-manager", C1)
    assert not allows(f"{deployer}.promo-*", f"{deployer}.PROMO-manager")  # case-sensitive
    assert not allows(f"{deployer}.promo", C1)  # whole id, not a prefix
    assert not allows(f"{deployer}.promo.*", C1)  # . is literal


@pytest.mark.parametrize("exp_claim", ["exp_int", "exp_str"])
def test_expiry_is_read_whatever_type_the_issuer_used(hs_verifier: TokenVerifier,
                                                      exp_claim: str) -> None:
    """Regression: PyJWT accepts ``exp: "1700000000"`` (it checks ``int(exp)``), but the
    claims read it as "no expiry", so such a session was never closed at expiry."""
    exp = int(time.time()) + 600
    claims = hs_verifier.verify(hs(exp=exp if exp_claim == "exp_int" else str(exp)))
    assert claims.expires_at == float(exp)
    no_exp = jwt.encode({"userId": "user-1"}, SECRET, algorithm="HS256")
    assert hs_verifier.verify(no_exp).expires_at is None
