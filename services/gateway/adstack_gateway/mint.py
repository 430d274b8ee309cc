"""``adstack-token``: mint a JWT the gateway accepts, from the gateway's own settings.

The key and the claims it checks come from the same environment as ``adstack-gateway``
(``GatewaySettings.from_env``): ``JWT_SECRET`` for HS256/384/512, or a private key
(``--private-key`` / ``JWT_PRIVATE_KEY_FILE``) matching ``JWT_PUBLIC_KEY_FILE`` for RS/ES;
``JWT_ISSUER`` and ``JWT_AUDIENCE`` are added when set, the contracts go into
``JWT_CONTRACTS_CLAIM``. Before printing, the token is verified with the gateway's own
verifier, so a token it prints is one the gateway accepts (until it expires).

    adstack-token --user alice --contract 'ST1….promo-manager' --expires 2h
    adstack-token --claim role=operator --expires 15m --json

Prints the token on stdout (``--json``: the token with its claims). Exit 2 on a setting or
argument problem, with one line per problem on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jwt

from adstack_auth.errors import AuthError
from adstack_auth.tokens import TokenVerifier, VerifierConfig
from adstack_config.errors import ConfigError
from adstack_gateway.settings import GatewaySettings

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class MintError(Exception):
    """A problem with the arguments or settings; the message is the line to print."""


def parse_duration(text: str) -> int:
    """``90``, ``90s``, ``15m``, ``2h``, ``7d`` → seconds (> 0)."""
    match = _DURATION.match(text.strip().lower())
    if not match or float(match.group(1)) <= 0:
        raise MintError(f"--expires must be like 3600, 15m, 2h or 7d (got {text!r})")
    return int(float(match.group(1)) * _UNIT[match.group(2)])


def parse_claim(text: str) -> tuple[str, Any]:
    """``key=value``; the value is JSON when it parses as JSON, else the string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise MintError(f"--claim must be key=value (got {text!r})")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def build_claims(config: VerifierConfig, *, user: str, contracts: Sequence[str],
                 expires: int, extra: Mapping[str, Any], now: int) -> dict[str, Any]:
    claims: dict[str, Any] = {"userId": user, "sub": user, "iat": now, "nbf": now,
                              "exp": now + expires}
    if contracts:
        claims[config.contracts_claim] = list(contracts)
    if config.issuer:
        claims["iss"] = config.issuer
    if config.audience:
        claims["aud"] = config.audience
    claims.update(extra)
    return claims


def signing_key(config: VerifierConfig, private_key: str | None) -> tuple[str, Any]:
    """The algorithm and key to sign with, from the gateway's configuration."""
    hmac = [a for a in config.algorithms if a.startswith("HS")]
    if hmac:
        if not config.secret:
            raise MintError("JWT_SECRET is not set (the gateway's HS key)")
        return hmac[0], config.secret
    if not private_key:
        raise MintError("the gateway verifies with a public key "
                        f"({', '.join(config.algorithms)}): pass --private-key FILE or set "
                        "JWT_PRIVATE_KEY_FILE")
    try:
        pem = Path(private_key).read_text()
    except OSError as exc:
        raise MintError(f"cannot read the private key {private_key}: {exc.strerror}") from exc
    kind = "ES" if "EC PRIVATE KEY" in pem else None
    algorithm = next((a for a in config.algorithms if kind is None or a.startswith(kind)),
                     config.algorithms[0])
    return algorithm, pem


def mint(environ: Mapping[str, str], *, user: str, contracts: Sequence[str], expires: int,
         extra: Mapping[str, Any], private_key: str | None, kid: str | None = None,
         now: int | None = None) -> tuple[str, dict[str, Any]]:
    """A token and its claims, verified by the gateway's verifier for ``environ``."""
    try:
        settings = GatewaySettings.from_env(environ)
    except ConfigError as exc:
        raise MintError("; ".join(exc.problems)) from exc
    config = settings.jwt
    algorithm, key = signing_key(config, private_key)
    claims = build_claims(config, user=user, contracts=contracts, expires=expires,
                          extra=extra, now=int(time.time()) if now is None else now)
    headers = {"kid": kid} if kid else None
    token = jwt.encode(claims, key, algorithm=algorithm, headers=headers)
    try:
        TokenVerifier(config).verify(token)
    except (AuthError, ValueError, OSError) as exc:
        raise MintError(f"the gateway's settings would refuse this token: {exc}") from exc
    return token, claims


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="adstack-token",
        description="Mint a JWT the gateway accepts, using the gateway's settings "
        "(JWT_SECRET, or JWT_PUBLIC_KEY_FILE with a private key; JWT_ISSUER, JWT_AUDIENCE, "
        "JWT_CONTRACTS_CLAIM).")
    parser.add_argument("--user", default="dev-user", help="userId and sub (default dev-user)")
    parser.add_argument("--contract", action="append", default=[],
                        help="allowed contract (repeatable; fnmatch patterns; default: all)")
    parser.add_argument("--expires", default="24h", help="lifetime: 3600, 15m, 2h, 7d")
    parser.add_argument("--claim", action="append", default=[],
                        help="extra claim key=value (value parsed as JSON when it is JSON)")
    parser.add_argument("--private-key", default=os.environ.get("JWT_PRIVATE_KEY_FILE"),
                        help="PEM private key for RS/ES gateways (JWT_PRIVATE_KEY_FILE)")
    parser.add_argument("--kid", help="key id header (for a JWKS with several keys)")
    parser.add_argument("--json", action="store_true", help="print {token, claims} as JSON")
    args = parser.parse_args(argv)
    try:
        expires = parse_duration(args.expires)
        extra = dict(parse_claim(c) for c in args.claim)
        token, claims = mint(os.environ, user=args.user, contracts=args.contract,
                             expires=expires, extra=extra, private_key=args.private_key,
                             kid=args.kid)
    except MintError as exc:
        print(f"adstack-token: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(json.dumps({"token": token, "claims": claims}) if args.json else token)


if __name__ == "__main__":
    main()
