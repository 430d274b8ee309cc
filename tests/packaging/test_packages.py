"""Packages a frontend can install, installed the way a user would.

- The Python SDK: ``libs/client`` has its own pyproject; installed alone into a fresh venv
  (from uv's cache, offline) it brings only websockets, imports, and talks to a real
  gateway.
- The browser client: ``adstack-client.js`` with ``adstack-client.d.ts`` and a
  ``package.json``; ``tests/ts`` installs it with ``npm ci`` as a ``file:`` dependency (plus
  a pinned TypeScript, integrity-hashed in its lock) and ``tsc --strict`` compiles a usage
  file against it; the usage file's ``@ts-expect-error`` lines fail the compile if the
  types were missing or ``any``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import services
from tests.helpers.paths import REPO
from tests.helpers.requires import unavailable

pytestmark = [pytest.mark.e2e]

TS_DIR = REPO / "tests" / "ts"
STATIC = REPO / "services" / "gateway" / "adstack_gateway" / "static"
CAMPAIGN = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"


def ts_modules() -> Path:
    """``tests/ts/node_modules`` from its lock file (npm ci, once, under a file lock)."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        unavailable("node/npm is not installed", installed_by=".ci/run installs Debian's npm")
    assert npm is not None
    modules = TS_DIR / "node_modules"
    marker = modules / ".adstack-installed"
    lock = TS_DIR / "package-lock.json"
    with open(TS_DIR / ".install.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime:
            subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                           cwd=TS_DIR, check=True, timeout=300)
            marker.touch()
    return modules


def test_the_browser_client_installs_with_npm_and_its_types_check() -> None:
    package = json.loads((STATIC / "package.json").read_text())
    assert package["name"] == "adstack-client" and package["type"] == "module"
    exports = package["exports"]["."]
    for target in (package["main"], package["types"], exports["types"], exports["default"]):
        assert (STATIC / target).is_file(), target
    assert set(package["files"]) == {"adstack-client.js", "adstack-client.d.ts"}
    modules = ts_modules()
    installed = modules / "adstack-client"
    assert (installed / "adstack-client.d.ts").is_file()
    tsc = subprocess.run([str(modules / ".bin" / "tsc"), "-p", str(TS_DIR)],
                         capture_output=True, text=True, timeout=180, check=False)
    assert tsc.returncode == 0, tsc.stdout + tsc.stderr
    # What the package exports at run time is what the types declare.
    node = subprocess.run(
        ["node", "--input-type=module", "-e",
         "const m = await import('adstack-client'); console.log(JSON.stringify(Object.keys(m)"
         ".sort()));"], cwd=TS_DIR, capture_output=True, text=True, timeout=60, check=False)
    assert node.returncode == 0, node.stderr
    runtime = json.loads(node.stdout)
    declared = (STATIC / "adstack-client.d.ts").read_text()
    for name in runtime:
        assert f" {name}" in declared and ("declare" in declared), name
    assert runtime == sorted(["AdStackClient", "AdStackError", "TERMINAL_CLOSE_CODES",
                              "backoffDelay", "sameOriginUrl"])


def test_the_python_sdk_installs_alone_and_talks_to_a_gateway(
        clean_redis: str, log_dir: Path, tmp_path: Path, token: str) -> None:
    uv = REPO / ".uv" / "bin" / "uv"
    if not uv.exists():
        unavailable("the hash-pinned uv is not installed", installed_by="make install")
    # A copy with the same layout (libs/client packages ../protocol), so the build leaves
    # nothing in the checkout.
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for lib in ("client", "protocol"):
        shutil.copytree(REPO / "libs" / lib, tmp_path / "libs" / lib, ignore=ignore)
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_OFFLINE": "1"}
    env.pop("VIRTUAL_ENV", None)
    subprocess.run([str(uv), "venv", "--quiet", "--python", sys.executable, str(venv)],
                   env=env, check=True, timeout=120)
    python = venv / "bin" / "python"
    result = subprocess.run([str(uv), "pip", "install", "--quiet", "--python", str(python),
                             str(tmp_path / "libs" / "client")], env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    if result.returncode != 0 and "offline" in result.stderr.lower():
        unavailable(f"uv's cache lacks a package: {result.stderr.strip()[-300:]}",
                    installed_by="make install fills uv's cache")
    assert result.returncode == 0, result.stderr
    names = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; "
         "print(sorted(d.metadata['Name'].lower() for d in m.distributions()))"],
        capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert json.loads(names.replace("'", '"')) == ["adstack-client", "websockets"]

    script = tmp_path / "use_sdk.py"
    script.write_text(
        "import asyncio, json, sys\n"
        "from adstack_client import connect\n"
        "import adstack_protocol\n"
        "async def main():\n"
        "    async with connect(sys.argv[1], token=sys.argv[2]) as client:\n"
        "        stats = await client.stats(sys.argv[3])\n"
        "        print(json.dumps({'stats': stats, 'terminal_1008':"
        " adstack_protocol.close_is_terminal(1008)}))\n"
        "asyncio.run(main())\n")
    with services.gateway(clean_redis, log_dir).start() as gw:
        gw.wait_healthy()
        run = subprocess.run([str(python), str(script), gw.ws, token, CAMPAIGN],
                             capture_output=True, text=True, timeout=60, check=False,
                             cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    reply = json.loads(run.stdout)
    assert reply["stats"]["contractId"] == CAMPAIGN and reply["terminal_1008"] is True
