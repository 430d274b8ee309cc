"""JSON Web Key Sets: from a file, or from a URL with a cache.

A remote set is fetched on first use, re-fetched when it is older than ``cache_seconds``,
and re-fetched early for an unknown ``kid`` (key rotation) at most once per
``min_refresh_seconds``, so tokens with made-up key ids cannot make the gateway hammer the
key server. When a refresh fails the keys already known stay in use.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from typing import Any

import jwt
import msgspec

from adstack_auth.errors import AuthError

log = logging.getLogger(__name__)

MAX_JWKS_BYTES = 1 << 20

_KTY_BY_ALG_PREFIX = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


class _Key(msgspec.Struct, frozen=True):
    kid: str | None
    kty: str
    alg: str | None
    key: Any


def _parse(document: bytes) -> list[_Key]:
    try:
        data = msgspec.json.decode(document)
    except msgspec.DecodeError as exc:
        raise ValueError("JWKS is not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("JWKS must be an object with a 'keys' list")
    keys: list[_Key] = []
    for jwk in data["keys"]:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        try:
            parsed = jwt.PyJWK(jwk)
        except jwt.PyJWTError:
            log.warning("skipped an unusable key (kid %r) in the JWKS", jwk.get("kid"))
            continue
        kid, alg = jwk.get("kid"), jwk.get("alg")
        keys.append(_Key(kid if isinstance(kid, str) else None, str(jwk.get("kty")),
                         alg if isinstance(alg, str) else None, parsed.key))
    return keys


def _pick(keys: list[_Key], kid: str | None, alg: str) -> Any:
    kty = _KTY_BY_ALG_PREFIX.get(alg[:2])
    for key in keys:
        if kid is not None and key.kid != kid:
            continue
        if key.kty != kty or (key.alg is not None and key.alg != alg):
            continue
        return key.key
    return None


class KeySet:
    """A fixed set of public keys (a JWKS file)."""

    def __init__(self, keys: list[_Key]) -> None:
        self._keys = keys

    @classmethod
    def from_document(cls, document: bytes) -> KeySet:
        """Raises ValueError if ``document`` is not a JWKS."""
        return cls(_parse(document))

    def key_for(self, kid: str | None, alg: str) -> Any:
        """The key that verifies a token with header ``kid``/``alg``.

        Raises:
            AuthError: ``unknown_key``.
        """
        key = _pick(self._keys, kid, alg)
        if key is None:
            raise AuthError("unknown_key", "token signing key is unknown")
        return key


class RemoteKeySet(KeySet):
    """A JWKS fetched from an ``http(s)`` URL, cached; thread-safe. Fetching blocks."""

    def __init__(self, url: str, *, cache_seconds: float = 300.0,
                 min_refresh_seconds: float = 30.0, timeout: float = 5.0) -> None:
        super().__init__([])
        self.url = url
        self.cache_seconds = cache_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self.timeout = timeout
        self.fetches = 0
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def _fetch(self) -> None:
        self.fetches += 1
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            document = response.read(MAX_JWKS_BYTES + 1)
        if len(document) > MAX_JWKS_BYTES:
            raise ValueError("JWKS document is too large")
        self._keys = _parse(document)

    def _refresh(self, *, unknown_kid: bool) -> None:
        with self._lock:
            now = time.monotonic()
            age = None if self._fetched_at is None else now - self._fetched_at
            due = (age is None or age >= self.cache_seconds
                   or (unknown_kid and age >= self.min_refresh_seconds))
            if not due:
                return
            self._fetched_at = now
            try:
                self._fetch()
            except (OSError, ValueError) as exc:
                log.warning("JWKS fetch from %s failed: %s", self.url, exc)

    def key_for(self, kid: str | None, alg: str) -> Any:
        self._refresh(unknown_kid=False)
        key = _pick(self._keys, kid, alg)
        if key is None:
            self._refresh(unknown_kid=True)
            key = _pick(self._keys, kid, alg)
        if key is None:
            if not self._keys:
                raise AuthError("keys_unavailable", "token signing keys are unavailable")
            raise AuthError("unknown_key", "token signing key is unknown")
        return key
