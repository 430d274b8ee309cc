"""Headless Chromium (Debian's ``chromium`` package) driven by Playwright for Python.

No browser is ever downloaded: Playwright launches the system binary through
``executable_path``. Outside CI a missing browser or Playwright skips the test with the
reason; with ``CI=true`` it fails instead, so CI cannot pass without running it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip (developer machine) or fail (CI) because the browser cannot run."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the browser test must run; .ci/run installs chromium)")
    pytest.skip(reason)


def chromium_path() -> str | None:
    """The system Chromium: ``CHROMIUM_PATH``, else ``chromium`` on PATH, else None."""
    override = os.environ.get("CHROMIUM_PATH")
    if override:
        return override if os.access(override, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def chromium_context(user_data_dir: Path, *, width: int = 1440, height: int = 960,
                     mobile: bool = False) -> Iterator[BrowserContext]:
    """A fresh Chromium profile in ``user_data_dir``; skips/fails when unavailable.

    ``width`` × ``height`` is the viewport in CSS pixels; ``mobile`` makes it a touch phone
    (the ``<meta name=viewport>`` tag is honoured, device scale factor 2, touch events).
    """
    executable = chromium_path()
    if executable is None:
        unavailable("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright for Python is not installed (make install)")
    assert executable is not None
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data_dir), executable_path=executable, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": width, "height": height},
            is_mobile=mobile, has_touch=mobile, device_scale_factor=2 if mobile else 1)
        try:
            yield context
        finally:
            context.close()
