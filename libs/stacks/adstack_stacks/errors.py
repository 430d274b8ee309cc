"""Exception hierarchy of :mod:`adstack_stacks`.

``ClarityError`` is the root. The concrete errors also subclass :class:`ValueError`, so callers
that only know "bad input" can catch that instead.
"""

from __future__ import annotations

__all__ = ["C32Error", "ClarityDecodeError", "ClarityEncodeError", "ClarityError"]


class ClarityError(Exception):
    """Root of every error raised by this package."""


class ClarityDecodeError(ClarityError, ValueError):
    """A consensus-serialised Clarity value could not be decoded.

    ``offset`` is the byte offset (into the decoded bytes) where the problem was found and
    ``reason`` a short lower-case description. ``str(err)`` is ``"<reason> at byte <offset>"``.
    """

    offset: int
    reason: str

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"{reason} at byte {offset}")
        self.reason = reason
        self.offset = offset

    def __reduce__(self) -> tuple[type[ClarityDecodeError], tuple[str, int]]:
        return (type(self), (self.reason, self.offset))


class ClarityEncodeError(ClarityError, ValueError):
    """A value cannot be consensus-serialised (out of range, invalid name or string, ...)."""


class C32Error(ClarityError, ValueError):
    """A c32 / c32check string or an address input is invalid."""
