"""The JavaScript clients our users run, driven from tests.

``tests/js/package.json`` pins ``socket.io-client`` and ``package-lock.json`` pins all of its
dependencies with integrity hashes; :func:`node_modules` installs them once with ``npm ci``
(under a file lock, so parallel test workers share one install). Without node/npm the test
skips on a developer machine and fails under CI (:mod:`tests.helpers.requires`).

A test writes a small node script (or uses one under ``tests/js``) that prints one JSON
object per line; :func:`run_node` runs it and returns the parsed lines.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.helpers.paths import REPO
from tests.helpers.requires import unavailable

JS_DIR = REPO / "tests" / "js"


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed", installed_by=".ci/run installs Debian's nodejs")
    return node


def node_modules() -> Path:
    """``tests/js/node_modules``, installed from the lock file on first use."""
    node_binary()
    npm = shutil.which("npm")
    if npm is None:
        unavailable("npm is not installed", installed_by=".ci/run installs Debian's npm")
    modules = JS_DIR / "node_modules"
    marker = modules / ".adstack-installed"
    lock = JS_DIR / "package-lock.json"
    with open(JS_DIR / ".install.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime:
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=JS_DIR, check=True, timeout=300,
            )
            marker.touch()
    return modules


def run_node(script: Path, *args: str, timeout: float = 60.0,
             env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Run ``node script args…`` with the pinned modules; one parsed JSON object per line."""
    node_modules()
    done = subprocess.run(
        [node_binary(), str(script), *args],
        cwd=JS_DIR, capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"node {script.name} exited {done.returncode}\nstdout:\n{done.stdout}\n"
            f"stderr:\n{done.stderr}"
        )
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
