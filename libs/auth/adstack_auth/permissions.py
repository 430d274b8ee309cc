"""Subscription permission checks (pure)."""

from __future__ import annotations

import re
from functools import lru_cache

from adstack_auth.claims import Claims


@lru_cache(maxsize=4096)
def _pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` as a regular expression: ``*`` is any run of characters (possibly
    empty); every other character, ``?``, ``[`` and ``]`` included, is itself."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def pattern_matches(pattern: str, contract_id: str) -> bool:
    """True if ``contract_id`` matches one ``contracts`` claim pattern (whole string,
    case-sensitive; only ``*`` is special, as the docs say)."""
    return _pattern(pattern).fullmatch(contract_id) is not None


def can_subscribe(claims: Claims, contract_id: str) -> bool:
    """True if the token allows subscribing to ``contract_id``.

    Without a contracts claim every contract is allowed; otherwise one of the claim's
    patterns must match (``*`` matches any run of characters, case-sensitive; ``?`` and
    ``[…]`` are plain characters, not wildcards).
    """
    if claims.contracts is None:
        return True
    return any(pattern_matches(pattern, contract_id) for pattern in claims.contracts)
