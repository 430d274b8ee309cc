"""deploy/systemd: units that systemd itself accepts (systemd-analyze verify, where it is
installed) with restart policy, memory limits, an environment file, a non-root user and
hardening; the gateway template stops later than it drains."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from adstack_config import ConfigError
from adstack_config.catalog import SETTINGS
from adstack_gateway.settings import GatewaySettings
from adstack_ingester.settings import IngesterSettings
from tests.helpers.deploy import DEPLOY, require_tool
from tests.helpers.requires import unavailable

pytestmark = pytest.mark.deploy

SYSTEMD = DEPLOY / "systemd"
SERVICES = ["adstack-ingester.service", "adstack-gateway@.service", "adstack-devnet.service"]
HARDENING = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
             "PrivateTmp": "yes", "CapabilityBoundingSet": ""}
SYSTEM_UNIT_DIRS = [Path("/lib/systemd/system"), Path("/usr/lib/systemd/system")]


class Section(dict[str, list[str]]):
    """A unit file section: each key → every value it was given (keys may repeat)."""

    def __getitem__(self, key: str) -> str:  # type: ignore[override]
        """The last value (what systemd uses for single-valued keys)."""
        return super().__getitem__(key)[-1]

    def all(self, key: str) -> list[str]:
        return super().__getitem__(key)


def unit(name: str) -> dict[str, Section]:
    sections: dict[str, Section] = {}
    current: Section | None = None
    for raw in (SYSTEMD / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], Section())
            continue
        assert current is not None, f"{name}: {line!r} outside a section"
        key, sep, value = line.partition("=")
        assert sep, f"{name}: {line!r} is not key=value"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def seconds(value: str) -> int:
    return int(value.rstrip("s"))


@pytest.mark.parametrize("name", SERVICES)
def test_restart_policy_memory_limit_user_and_environment(name: str) -> None:
    service = unit(name)["Service"]
    assert service["Restart"] in {"always", "on-failure"}
    assert seconds(service["RestartSec"]) >= 1
    assert service["MemoryMax"].endswith(("M", "G"))
    assert service["User"] == "adstack" and service["Group"] == "adstack"
    assert "/etc/adstack/adstack.env" in service.all("EnvironmentFile")
    assert service["ExecStart"].startswith("/opt/adstack/venv/bin/adstack-")
    for key, value in HARDENING.items():
        assert service[key] == value, f"{name}: {key}"
    assert unit(name)["Unit"]["StartLimitBurst"]


def test_gateway_template_takes_its_port_from_the_instance_and_outlasts_the_drain() -> None:
    service = unit("adstack-gateway@.service")["Service"]
    assert service["Environment"] == "PORT=%i"
    env = example_env()
    assert seconds(service["TimeoutStopSec"]) > int(env.get("DRAIN_SECONDS", "10"))


def example_env() -> dict[str, str]:
    lines = (SYSTEMD / "adstack.env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_the_example_environment_gives_the_production_ingester_its_token() -> None:
    """adstack.env (shared by the ingester and the devnet) sets NODE_ENV=production, so the
    ingester needs OBSERVER_TOKEN; the example sets a placeholder to replace, which the
    services refuse until it is replaced (as they refuse the JWT_SECRET placeholder)."""
    env = example_env()
    assert env["NODE_ENV"] == "production"
    assert "CHANGE-ME" in env["OBSERVER_TOKEN"]
    assert "OBSERVER_TOKEN_REQUIRED" not in env
    with pytest.raises(ConfigError, match="OBSERVER_TOKEN is a placeholder"):
        IngesterSettings.from_env(env)
    with pytest.raises(ConfigError, match="JWT_SECRET is a placeholder"):
        GatewaySettings.from_env(env)
    replaced = {**env, "OBSERVER_TOKEN": secrets.token_hex(32),
                "JWT_SECRET": secrets.token_hex(32)}
    IngesterSettings.from_env(replaced)  # starts
    GatewaySettings.from_env(replaced)
    with pytest.raises(ConfigError, match="OBSERVER_TOKEN"):
        IngesterSettings.from_env({k: v for k, v in replaced.items() if k != "OBSERVER_TOKEN"})
    with pytest.raises(ConfigError, match="ALLOWED_ORIGINS=\\* in production"):
        GatewaySettings.from_env({k: v for k, v in replaced.items() if k != "ALLOWED_ORIGINS"})


def test_every_example_variable_is_a_declared_setting() -> None:
    declared = {name for s in SETTINGS for name in (s.name, *s.aliases)}
    assert set(example_env()) <= declared


def test_target_starts_the_ingester_and_two_gateways() -> None:
    wants = unit("adstack.target")["Unit"]["Wants"].split()
    assert "adstack-ingester.service" in wants
    assert len([w for w in wants if w.startswith("adstack-gateway@")]) == 2


def test_systemd_analyze_verify_accepts_every_unit(tmp_path: Path) -> None:
    """Run systemd's own checker on the units as shipped, in a scratch root where the
    ExecStart programs exist (systemd-analyze reports missing executables)."""
    analyze = require_tool("systemd-analyze")
    system_units = next((d for d in SYSTEM_UNIT_DIRS if (d / "sysinit.target").exists()), None)
    if system_units is None:
        unavailable("systemd's unit files (sysinit.target) are not installed",
                    installed_by=".ci/run installs Debian's systemd")
    root = tmp_path / "root"
    shutil.copytree(system_units, root / "usr/lib/systemd/system", symlinks=True)
    bin_dir = root / "opt/adstack/venv/bin"
    bin_dir.mkdir(parents=True)
    for program in ("adstack-ingester", "adstack-gateway", "adstack-devnet"):
        (bin_dir / program).write_text("#!/bin/sh\n")
        (bin_dir / program).chmod(0o755)
    unit_dir = root / "etc/systemd/system"
    unit_dir.mkdir(parents=True)
    for path in SYSTEMD.iterdir():
        if path.suffix in {".service", ".target"}:
            shutil.copy(path, unit_dir / path.name)
    names = ["adstack-ingester.service", "adstack-gateway@3002.service",
             "adstack-devnet.service", "adstack.target"]
    result = subprocess.run([analyze, "verify", f"--root={root}",
                             *(str(unit_dir / n) for n in names)],
                            capture_output=True, text=True, timeout=60, check=False)
    # verify exits 0 on warnings (unknown keys, bad values): any output is a failure.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr)
