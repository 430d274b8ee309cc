"""Keeping label values low-cardinality.

Prometheus stores one series per label combination, so a label must never take values from
an unbounded set (user ids, connection ids, tx ids, free text). Values that come from a
fixed vocabulary use :func:`choose`; values that come from data (event types printed by a
contract, source names) go through a :class:`BoundedLabel`, which admits the first ``limit``
distinct values it sees and maps every later newcomer to ``other``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

OTHER = "other"
"""The label value for anything outside the allowed set."""

UNKNOWN = "unknown"
"""The label value for an empty input."""

MAX_VALUE_LENGTH = 64
_UNSAFE = re.compile(r"[^a-zA-Z0-9_.:-]+")


def clean(value: str) -> str:
    """``value`` reduced to a short, printable label value (``unknown`` when empty)."""
    cleaned = _UNSAFE.sub("_", value.strip())[:MAX_VALUE_LENGTH]
    return cleaned or UNKNOWN


def choose(value: str, allowed: Iterable[str]) -> str:
    """``value`` if it is one of ``allowed``, else ``other``."""
    return value if value in frozenset(allowed) else OTHER


class BoundedLabel:
    """Admits at most ``limit`` distinct values; later newcomers become ``other``.

    ``preset`` values are always admitted (and count toward the limit).
    """

    def __init__(self, limit: int, preset: Iterable[str] = ()) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._seen: set[str] = {clean(v) for v in preset}
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        label = clean(value)
        if label in self._seen:
            return label
        with self._lock:
            if label in self._seen:
                return label
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(label)
            return label

    @property
    def values(self) -> frozenset[str]:
        return frozenset(self._seen)
