"""Token verification with pinned algorithms.

The algorithms come from configuration, never from the token: HS* only with a shared
secret, RS*/ES*/PS*/EdDSA only with public keys (a PEM file or a JWKS), so neither ``none``
nor HS/RS key confusion is possible. A token whose header names any other algorithm is
refused before a key is even looked up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt
import msgspec

from adstack_auth.claims import Claims
from adstack_auth.errors import AuthError
from adstack_auth.jwks import KeySet, RemoteKeySet

_HMAC = {"HS256", "HS384", "HS512"}
_ASYMMETRIC = {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384",
               "PS512", "EdDSA"}


class VerifierConfig(msgspec.Struct, kw_only=True):
    secret: str | None = None
    public_key_file: str | None = None
    jwks_url: str | None = None
    """``https://…`` or ``file:///path.json`` or a plain path to a JWKS document."""
    algorithms: tuple[str, ...] = ("HS256",)
    issuer: str | None = None
    audience: str | None = None
    leeway: float = 30.0
    max_token_bytes: int = 4096
    contracts_claim: str = "contracts"
    required_claims: tuple[str, ...] = ()
    """Registered claims a token must carry (e.g. ``exp``); ``iss``/``aud`` are required
    anyway when an issuer/audience is configured."""
    jwks_cache_seconds: float = 300.0
    jwks_min_refresh_seconds: float = 30.0
    """An unknown ``kid`` re-fetches a remote JWKS at most this often (key rotation)."""
    jwks_timeout_seconds: float = 5.0


class TokenVerifier:
    """Verifies tokens and returns :class:`Claims`. Safe to share across tasks and threads.

    :meth:`verify` may block on the network when the keys come from an ``http(s)`` JWKS
    (:attr:`may_block`); async callers should then run it in a thread.
    """

    def __init__(self, config: VerifierConfig) -> None:
        self.config = config
        algorithms = set(config.algorithms)
        if not algorithms:
            raise ValueError("no JWT algorithm configured")
        if "none" in {a.lower() for a in algorithms}:
            raise ValueError("the 'none' algorithm is never allowed")
        unknown = algorithms - _HMAC - _ASYMMETRIC
        if unknown:
            raise ValueError(f"unsupported JWT algorithms: {sorted(unknown)}")
        if algorithms & _HMAC and algorithms & _ASYMMETRIC:
            raise ValueError("mixing HMAC and public-key algorithms invites key confusion")
        self._key: Any = None
        self._keys: KeySet | None = None
        if algorithms & _HMAC:
            if not config.secret:
                raise ValueError("HMAC algorithms need JWT_SECRET")
            self._key = config.secret
        elif config.public_key_file:
            self._key = Path(config.public_key_file).read_text()
        elif config.jwks_url:
            url = config.jwks_url
            if url.startswith(("http://", "https://")):
                self._keys = RemoteKeySet(url, cache_seconds=config.jwks_cache_seconds,
                                          min_refresh_seconds=config.jwks_min_refresh_seconds,
                                          timeout=config.jwks_timeout_seconds)
            else:
                path = url.removeprefix("file://")
                self._keys = KeySet.from_document(Path(path).read_bytes())
        else:
            raise ValueError("public-key algorithms need JWT_PUBLIC_KEY_FILE or JWT_JWKS_URL")

    @property
    def may_block(self) -> bool:
        """True if :meth:`verify` may fetch keys over the network."""
        return isinstance(self._keys, RemoteKeySet)

    def _header(self, token: str) -> dict[str, Any]:
        try:
            header: dict[str, Any] = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError("malformed", "token is malformed") from exc
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.config.algorithms:
            # Checked before any key lookup: `none`, and HS256 signed with an RS public
            # key, end here.
            raise AuthError("bad_algorithm", "token algorithm is not accepted")
        return header

    def _signing_key(self, header: dict[str, Any]) -> Any:
        if self._key is not None:
            return self._key
        assert self._keys is not None, "a verifier always has a key source"
        kid = header.get("kid")
        return self._keys.key_for(kid if isinstance(kid, str) else None, header["alg"])

    def verify(self, token: str | None) -> Claims:
        """Verify ``token`` and return its claims.

        Raises:
            AuthError: with a reason naming what is wrong.
        """
        cfg = self.config
        if not token:
            raise AuthError("missing", "authentication token required")
        if len(token) > cfg.max_token_bytes:
            raise AuthError("too_large", "token is too large")
        header = self._header(token)
        key = self._signing_key(header)
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(cfg.algorithms),
                issuer=cfg.issuer,
                audience=cfg.audience,
                leeway=cfg.leeway,
                options={"verify_aud": cfg.audience is not None,
                         "require": list(cfg.required_claims)},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("expired", "token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthError("not_yet_valid", "token is not yet valid") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthError("bad_issuer", "token issuer is not accepted") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthError("bad_audience", "token audience is not accepted") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise AuthError("bad_algorithm", "token algorithm is not accepted") from exc
        except (jwt.InvalidSignatureError, jwt.InvalidKeyError) as exc:
            # A key of the wrong type for the token's algorithm cannot have signed it.
            raise AuthError("bad_signature", "token signature is invalid") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError("missing_claim", f"token lacks the {exc.claim} claim") from exc
        except jwt.PyJWTError as exc:
            raise AuthError("malformed", "token is malformed") from exc
        return claims_from_payload(payload, cfg.contracts_claim)


def claims_from_payload(payload: dict[str, Any], contracts_claim: str = "contracts") -> Claims:
    """Map a verified JWT payload to :class:`Claims`.

    Raises:
        AuthError: no user id (``userId`` or ``sub``), or a claim has the wrong type.
    """
    user = payload.get("userId")
    if user is None:
        user = payload.get("sub")
    if not isinstance(user, str | int) or isinstance(user, bool) or user == "":
        raise AuthError("missing_claim", "token lacks the userId (or sub) claim")
    contracts_raw = payload.get(contracts_claim)
    contracts: tuple[str, ...] | None = None
    if contracts_raw is not None:
        if isinstance(contracts_raw, str):
            contracts_raw = [part for part in contracts_raw.split(",") if part]
        if not isinstance(contracts_raw, list) or not all(
                isinstance(c, str) for c in contracts_raw):
            raise AuthError("malformed", f"the {contracts_claim} claim must be a list of strings")
        contracts = tuple(contracts_raw)
    address = payload.get("address")
    role = payload.get("role")
    return Claims(
        user_id=str(user),
        address=address if isinstance(address, str) else None,
        role=role if isinstance(role, str) else None,
        contracts=contracts,
        expires_at=_expiry(payload.get("exp")),
    )


def _expiry(exp: Any) -> float | None:
    """``exp`` as PyJWT checked it: it reads ``int(exp)``, so ``"1700000000"`` is valid too.

    A numeric string used to be read as "no expiry", and the session was never closed when
    the token expired.
    """
    if exp is None or isinstance(exp, bool):
        return None
    if isinstance(exp, int | float):
        return float(exp)
    try:
        return float(int(exp))
    except (TypeError, ValueError):
        return None
