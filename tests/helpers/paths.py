"""Where the shared fixtures live (``../shared`` next to the repository)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    override = os.environ.get("ADSTACK_SHARED_DIR")
    if override:
        return Path(override)
    return REPO.parent / "shared"


def stacks_fixture(name: str) -> Path:
    return shared_dir() / "fixtures" / "stacks" / name
