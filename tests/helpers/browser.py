"""Headless Chromium (Debian's ``chromium`` package) driven by Playwright for Python.

No browser is ever downloaded: Playwright launches the system binary through
``executable_path``. Outside CI a missing browser or Playwright skips the test with the
reason; with ``CI`` set to any truthy value it fails instead (:mod:`tests.helpers.requires`),
so CI cannot pass without running it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tests.helpers.requires import unavailable

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
        unavailable("Debian's chromium is not installed (apt-get install chromium)",
                    installed_by=".ci/run installs Debian's chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright for Python is not installed", installed_by="make install does")
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
