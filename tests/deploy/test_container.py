"""deploy/Dockerfile and its health check script (no Docker engine here: static checks of
the Dockerfile, and the health check script run for real against real services)."""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from adstack_localredis import free_port
from tests.helpers import services
from tests.helpers.deploy import DEPLOY

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
    assert any(c.startswith("--from=build /opt/venv") for c in copies)
    # No source tree, compilers or package caches in the final image.
    assert not [c for c in copies if c.split()[0] in {"libs", "services", "."}]


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
