"""Subscription permission checks (pure)."""

from __future__ import annotations

from fnmatch import fnmatchcase

from adstack_auth.claims import Claims


def can_subscribe(claims: Claims, contract_id: str) -> bool:
    """True if the token allows subscribing to ``contract_id``.

    Without a contracts claim every contract is allowed; otherwise one of the claim's
    patterns must match (``*`` matches any run of characters, case-sensitive).
    """
    if claims.contracts is None:
        return True
    return any(fnmatchcase(contract_id, pattern) for pattern in claims.contracts)
