"""Keeping secrets out of anything we show (``/status``, logs).

Secrets are reported as ``"set"`` / ``"unset"`` (:func:`presence`); as a second line of
defence :func:`scrub` replaces any occurrence of a known secret value in a JSON-like
structure, wherever it ended up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

REDACTED = "***"
MIN_SECRET_LENGTH = 4
"""Shorter values are not scrubbed (they would mangle unrelated text)."""


def presence(value: str | None) -> str:
    """``"set"`` or ``"unset"``: all that is ever shown of a secret."""
    return "set" if value else "unset"


_SECRET_QUERY_KEY = re.compile(r"pass|user|token|secret|auth|cred|key", re.IGNORECASE)
"""Query parameter names (decoded) whose values are credentials: redis-py takes
``?password=`` and ``?username=`` (and passes other names through as client options)."""


_USER_KEY = re.compile(r"user", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``url`` with every credential masked as ``***`` (for ``/status`` and logs).

    Covers each form redis-py accepts: userinfo (``user:pass@``, ``:pass@``, ``pass@``,
    an ``@`` inside the password), query parameters (``?password=``, ``?username=``,
    names percent-encoded or in any case, repeated), however short the value. The host,
    port, path, database and other options stay readable. Never raises.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    rest, hash_, fragment = rest.partition("#")
    rest, qmark, query = rest.partition("?")
    netloc, slash, path = rest.partition("/")
    userinfo, at, host = netloc.rpartition("@")
    if at:
        _user, colon, _password = userinfo.partition(":")
        netloc = f"{REDACTED}:{REDACTED}@{host}" if colon else f"{REDACTED}@{host}"
    if qmark:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = "&".join(
            f"{quote(name, safe='')}="
            + (REDACTED if _SECRET_QUERY_KEY.search(name) else quote(value, safe=",:"))
            for name, value in pairs)
    out = f"{scheme}{sep}{netloc}{slash}{path}{qmark}{query}"
    if hash_:
        out += hash_ + (REDACTED if fragment else "")
    return out


def url_secrets(url: str) -> list[str]:
    """The secret values in ``url`` (passwords, tokens; not user names, which could be
    ordinary words) for :func:`scrub` as a second line of defence."""
    found: list[str] = []
    rest = url.partition("://")[2] or url
    netloc = rest.partition("/")[0].partition("?")[0].partition("#")[0]
    userinfo, at, _host = netloc.rpartition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        if not colon:
            password = user  # redis://<password>@host
        found += [unquote(password), password]
    query = rest.partition("?")[2].partition("#")[0]
    for name, value in parse_qsl(query, keep_blank_values=True):
        if _SECRET_QUERY_KEY.search(name) and not _USER_KEY.search(name):
            found += [value, quote(value, safe="")]
    return [s for s in found if s]


def scrub(value: Any, secrets: Iterable[str | None]) -> Any:
    """``value`` with every occurrence of each secret replaced by ``***`` (recursively)."""
    needles = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH},
                     key=len, reverse=True)
    if not needles:
        return value
    return _scrub(value, needles)


def _scrub(value: Any, needles: list[str]) -> Any:
    if isinstance(value, str):
        for needle in needles:
            if needle in value:
                value = value.replace(needle, REDACTED)
        return value
    if isinstance(value, dict):
        return {_scrub(k, needles): _scrub(v, needles) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v, needles) for v in value]
    return value
