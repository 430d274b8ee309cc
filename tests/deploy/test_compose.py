"""docker-compose.yml: valid against the Compose specification schema, and the stack it
describes fits together (services, load balancer, monitoring profile, mounted files)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import redis
import yaml

from adstack_config import ConfigError
from adstack_config.catalog import SETTINGS
from adstack_gateway.settings import GatewaySettings
from adstack_ingester.settings import IngesterSettings
from adstack_localredis import find_server_binary, free_port
from tests.helpers.deploy import DEPLOY

pytestmark = pytest.mark.deploy

REPO = DEPLOY.parent
COMPOSE = REPO / "docker-compose.yml"


def compose_schema() -> dict[str, Any]:
    """The Compose specification schema, as vendored by the check-jsonschema package."""
    text = (resources.files("check_jsonschema") / "builtin_schemas" / "vendor" /
            "compose-spec.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_valid_against_the_compose_specification() -> None:
    schema = compose_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(compose()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_schema_validation_has_teeth() -> None:
    validator = jsonschema.Draft202012Validator(compose_schema())
    broken = compose()
    broken["services"]["ingester"]["restart_policy"] = "always"  # not a Compose key
    assert list(validator.iter_errors(broken))
    broken = compose()
    broken["services"]["lb"]["ports"] = {"3002": 80}  # must be a list
    assert list(validator.iter_errors(broken))


def test_the_stack_the_issue_asks_for() -> None:
    services = compose()["services"]
    assert {"redis", "ingester", "devnet", "gateway-a", "gateway-b", "lb"} <= set(services)
    for name in ("ingester", "devnet", "gateway-a", "gateway-b"):
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert services["ingester"]["command"] == ["adstack-ingester"]
    assert services["gateway-a"]["command"] == ["adstack-gateway"]
    assert services["devnet"]["command"][0] == "adstack-devnet"
    assert "http://ingester:3700" in services["devnet"]["command"]
    for name in ("ingester", "devnet", "gateway-a", "gateway-b", "redis", "lb"):
        assert "profiles" not in services[name], name


def test_gateways_sit_behind_the_load_balancer() -> None:
    services = compose()["services"]
    nginx = (DEPLOY / "nginx" / "nginx.conf").read_text()
    for gateway in ("gateway-a", "gateway-b"):
        assert f"server {gateway}:3002" in nginx
        assert "ports" not in services[gateway], "clients go through the load balancer"
        assert services[gateway]["environment"]["PORT"] == "3002"
    lb = services["lb"]
    assert "./deploy/nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in lb["volumes"]
    assert "3002:80" in lb["ports"]


def test_monitoring_profile_runs_prometheus_and_grafana_with_our_files() -> None:
    services = compose()["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["monitoring"]
    for service in services.values():
        for volume in service.get("volumes", []):
            host = volume.split(":", 1)[0]
            if host.startswith("./"):
                assert (REPO / host).exists(), f"{host} is mounted but missing"
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {target for job in scrape["scrape_configs"]
               for static in job.get("static_configs", []) for target in static["targets"]}
    assert {"ingester:3700", "gateway-a:3002", "gateway-b:3002"} <= targets
    for target in targets - {"localhost:9090"}:
        assert target.split(":")[0] in services


def test_gateways_get_longer_to_stop_than_they_drain() -> None:
    services = compose()["services"]
    for gateway in ("gateway-a", "gateway-b"):
        grace = int(services[gateway]["stop_grace_period"].rstrip("s"))
        drain = int(services[gateway]["environment"]["DRAIN_SECONDS"])
        assert grace > drain


def test_dependencies_exist_and_wait_for_health() -> None:
    services = compose()["services"]
    for name, service in services.items():
        depends = service.get("depends_on", {})
        for dependency in depends:
            assert dependency in services, f"{name} depends on missing {dependency}"
        if isinstance(depends, dict) and "redis" in depends:
            assert depends["redis"]["condition"] == "service_healthy"


def resolved(environment: dict[str, str]) -> dict[str, str]:
    """``environment`` as Compose passes it with nothing set in the shell (defaults)."""
    return {k: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(v))
            for k, v in environment.items()}


def test_the_production_ingester_gets_the_token_the_devnet_sends() -> None:
    """NODE_ENV defaults to production here, so the ingester needs OBSERVER_TOKEN; the devnet
    (the node of this stack) must send the same one, and the gateways need none."""
    services = compose()["services"]
    ingester = resolved(services["ingester"]["environment"])
    assert ingester["NODE_ENV"] == "production"
    token = services["ingester"]["environment"]["OBSERVER_TOKEN"]
    assert token.startswith("${OBSERVER_TOKEN:-")  # settable from the shell, like JWT_SECRET
    assert services["devnet"]["environment"]["OBSERVER_TOKEN"] == token
    for gateway in ("gateway-a", "gateway-b"):
        assert "OBSERVER_TOKEN" not in services[gateway]["environment"]
    IngesterSettings.from_env(ingester)  # starts
    with pytest.raises(ConfigError, match="OBSERVER_TOKEN"):
        IngesterSettings.from_env({k: v for k, v in ingester.items() if k != "OBSERVER_TOKEN"})


def test_redis_persists_with_aof_in_a_named_volume() -> None:
    data = compose()
    redis = data["services"]["redis"]
    command = redis["command"]
    assert command[0] == "valkey-server"
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options["--appendonly"] == "yes" and options["--appendfsync"] == "everysec"
    assert options["--dir"] == "/data"
    assert "redis-data:/data" in redis["volumes"]
    assert "redis-data" in data["volumes"]


def test_the_compose_redis_command_keeps_data_across_a_restart(tmp_path: Path) -> None:
    """The same arguments on a real valkey-server (the bundled binary), its --dir moved to a
    temporary directory: a write survives a restart, from the append-only file."""
    command = list(compose()["services"]["redis"]["command"])
    command[command.index("--dir") + 1] = str(tmp_path)
    binary = find_server_binary()

    def run() -> tuple[subprocess.Popen[bytes], redis.Redis]:
        port = free_port()
        proc = subprocess.Popen([binary, *command[1:], "--port", str(port),
                                 "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL)
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                return proc, client
            except redis.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)

    proc, client = run()
    try:
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        client.set("kept", "across a restart")
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)
    assert (tmp_path / "appendonlydir").is_dir()
    proc, client = run()
    try:
        assert client.get("kept") == b"across a restart"
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


def dockerfile_stages() -> list[str]:
    text = (DEPLOY / "Dockerfile").read_text()
    return re.findall(r"^FROM \S+ AS (\S+)$", text, flags=re.MULTILINE)


def test_only_the_devnet_uses_the_devnet_image_target() -> None:
    """The production image (the Dockerfile's last stage) has no devnet; compose builds the
    devnet from its own target."""
    services = compose()["services"]
    stages = dockerfile_stages()
    assert stages[-1] == "runtime" and "devnet" in stages
    assert services["devnet"]["build"]["target"] == "devnet"
    assert services["devnet"]["image"] != services["ingester"]["image"]
    for name in ("ingester", "gateway-a", "gateway-b"):
        assert "target" not in services[name]["build"], name


def test_the_try_out_defaults_start_only_with_the_insecure_override_and_say_so() -> None:
    """Compose's change-me secrets and ALLOWED_ORIGINS=* run in production only because the
    file sets ALLOW_INSECURE_CONFIG (overridable from the shell); each is then a warning."""
    services = compose()["services"]
    ingester = resolved(services["ingester"]["environment"])
    gateway = resolved(services["gateway-a"]["environment"])
    assert gateway["NODE_ENV"] == ingester["NODE_ENV"] == "production"
    assert services["ingester"]["environment"]["ALLOW_INSECURE_CONFIG"].startswith(
        "${ALLOW_INSECURE_CONFIG:-")
    warned = " ".join(IngesterSettings.from_env(ingester).warnings)
    assert "OBSERVER_TOKEN is a placeholder" in warned
    warned = " ".join(GatewaySettings.from_env(gateway).warnings)
    assert "JWT_SECRET is a placeholder" in warned and "ALLOWED_ORIGINS=*" in warned
    with pytest.raises(ConfigError, match="OBSERVER_TOKEN is a placeholder"):
        IngesterSettings.from_env({**ingester, "ALLOW_INSECURE_CONFIG": "false"})
    with pytest.raises(ConfigError) as refused:
        GatewaySettings.from_env({**gateway, "ALLOW_INSECURE_CONFIG": "false"})
    assert len(refused.value.problems) == 2  # JWT_SECRET and ALLOWED_ORIGINS


def test_every_variable_the_services_get_is_a_declared_setting() -> None:
    """A misspelt name would be silently ignored: each one the gateways and the ingester
    get here must be in the settings catalog (README: Configuration)."""
    declared = {name for s in SETTINGS for name in (s.name, *s.aliases)}
    services = compose()["services"]
    for name in ("ingester", "gateway-a", "gateway-b"):
        assert set(services[name]["environment"]) <= declared, name
