"""One rule for tests that need a tool from outside Python: skip on a developer's machine,
fail under CI.

CI runs ``.ci/run`` with ``CI`` set; any value other than empty, ``0``, ``false`` or ``no``
counts as set, so a check whose tool is missing can never pass CI by skipping.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

FALSY = frozenset({"", "0", "false", "no", "off"})


def in_ci() -> bool:
    """True when ``CI`` is set to anything truthy (``1``, ``true``, ``yes`` …)."""
    return os.environ.get("CI", "").strip().lower() not in FALSY


def unavailable(reason: str, *, installed_by: str = ".ci/run installs it") -> NoReturn:
    """Skip (developer machine) or fail (CI) because ``reason`` keeps the test from running."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so this check must run; {installed_by})")
    pytest.skip(f"{reason} (install it to run this check; CI always does)")
