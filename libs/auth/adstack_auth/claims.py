"""The claims we read from a verified token."""

from __future__ import annotations

import msgspec


class Claims(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    """``userId`` claim, else ``sub``."""
    address: str | None = None
    role: str | None = None
    contracts: tuple[str, ...] | None = None
    """Contract id patterns (``*`` wildcards) the user may subscribe to; None = any."""
    expires_at: float | None = None
    """``exp`` as a UNIX time, or None for a token that never expires."""

    @classmethod
    def anonymous(cls, user_id: str = "anonymous") -> Claims:
        return cls(user_id=user_id)
