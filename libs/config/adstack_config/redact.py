"""Keeping secrets out of anything we show (``/status``, logs).

Secrets are reported as ``"set"`` / ``"unset"`` (:func:`presence`); as a second line of
defence :func:`scrub` replaces any occurrence of a known secret value in a JSON-like
structure, wherever it ended up.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

REDACTED = "***"
MIN_SECRET_LENGTH = 4
"""Shorter values are not scrubbed (they would mangle unrelated text)."""


def presence(value: str | None) -> str:
    """``"set"`` or ``"unset"``: all that is ever shown of a secret."""
    return "set" if value else "unset"


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
