"""The lock is what gets installed, and it is current.

`make install` (and so `make dev` and `make test`), `.ci/run` and the Dockerfile install
exactly `uv.lock` (``uv sync --frozen``, hashes checked), never a fresh resolution. These
checks fail when pyproject.toml's dependencies change without `make lock`, when a locked
package has no hash, or when an install path stops using the lock. Offline: they read files.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
PROJECT = "adstack-realtime"


def _lock() -> dict[str, Any]:
    return tomllib.loads((REPO / "uv.lock").read_text())


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[tuple[str, frozenset[str], str, str]]:
    """pyproject.toml's requirements as (name, extras, specifier, marker)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    rows: list[tuple[str, str | None]] = [(r, None) for r in project["dependencies"]]
    for extra, reqs in project["optional-dependencies"].items():
        rows += [(r, extra) for r in reqs]
    out = set()
    for text, extra in rows:
        req = Requirement(text)
        marker = str(req.marker) if req.marker else ""
        if extra is not None:
            marker = f"extra == '{extra}'" if not marker else f"({marker}) and extra == '{extra}'"
        out.add((_normal(req.name), frozenset(req.extras), str(req.specifier),
                 str(Marker(marker)) if marker else ""))
    return out


def _locked_requirements() -> set[tuple[str, frozenset[str], str, str]]:
    """What uv.lock was resolved for: the project's ``requires-dist`` as uv recorded it."""
    root = next(p for p in _lock()["package"] if p["name"] == PROJECT)
    out = set()
    for dep in root["metadata"]["requires-dist"]:
        spec = str(Requirement(f"x{dep.get('specifier', '')}").specifier)
        marker = dep.get("marker", "")
        out.add((_normal(dep["name"]), frozenset(dep.get("extras", [])), spec,
                 str(Marker(marker)) if marker else ""))
    return out


def test_the_lock_was_resolved_for_the_dependencies_pyproject_declares() -> None:
    declared, locked = _declared(), _locked_requirements()
    assert declared == locked, (
        "uv.lock is stale: run `make lock` (or `.uv/bin/uv lock` to keep every other pin)\n"
        f"  only in pyproject.toml: {sorted(declared - locked)}\n"
        f"  only in uv.lock: {sorted(locked - declared)}")


def test_every_locked_distribution_is_pinned_by_version_and_hash() -> None:
    unpinned = []
    for package in _lock()["package"]:
        if package["name"] == PROJECT:
            continue
        files = [package.get("sdist")] if package.get("sdist") else []
        files += package.get("wheels", [])
        if "version" not in package or not files or not all(f.get("hash") for f in files):
            unpinned.append(package["name"])
    assert not unpinned, f"locked without a version or hash: {unpinned}"


def test_the_lock_fixes_its_resolution_date() -> None:
    """`make lock` records the day it resolved; a lock without it could not be re-checked."""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:]+Z", _lock()["options"]["exclude-newer"])


def test_every_install_path_installs_the_lock_and_nothing_else() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"\$\(UV\) sync --frozen --extra dev", makefile), "make install"
    assert re.search(r"--require-hashes \\\s+-r requirements/bootstrap.txt", makefile), \
        "uv itself, by hash"
    assert "make test" in (REPO / ".ci" / "run").read_text()
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    assert dockerfile.count("uv sync --frozen --no-dev") == 2, "the image"
    assert "pip install -r" not in makefile + dockerfile
