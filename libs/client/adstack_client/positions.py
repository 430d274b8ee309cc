"""Positions (``epoch``, ``offset``) as a server sends them, read strictly."""

from __future__ import annotations

import re
from typing import Any

MAX_OFFSET = 2**53 - 1
_DIGITS = re.compile(r"[0-9]{1,16}")
_EPOCH = re.compile(r"[!-~]{1,64}")


def parse_offset(value: Any) -> int | None:
    """A position's offset as the server sent it, strictly: an integer (or a string of 1 to
    16 ASCII digits) from 0 to 2^53-1; None for anything else (``"\u00b2"``, 5,000 digits,
    ``True``, ``-1``…). Never raises."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if _DIGITS.fullmatch(value) is None:
            return None
        value = int(value)
    if isinstance(value, int) and 0 <= value <= MAX_OFFSET:
        return value
    return None


def parse_epoch(value: Any) -> str | None:
    """An epoch as the server sent it: empty (no history yet) or 1 to 64 printable ASCII
    characters; None for anything else."""
    if isinstance(value, str) and (not value or _EPOCH.fullmatch(value) is not None):
        return value
    return None
