"""Exponential backoff with full jitter (pure)."""

from __future__ import annotations

import random


def full_jitter(attempt: int, *, base: float = 0.1, cap: float = 10.0,
                rng: random.Random | None = None) -> float:
    """Delay before retry ``attempt`` (0-based): uniform in [0, min(cap, base·2^attempt)]."""
    upper = min(cap, base * (2 ** min(attempt, 32)))
    return (rng or random).uniform(0, upper)
