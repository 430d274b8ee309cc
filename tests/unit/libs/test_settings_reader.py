"""Reading and validating settings: every problem in one list, production refusals and the
override, ``ENV_FILE``, and the Redis URL schemes."""

from __future__ import annotations

from pathlib import Path

import pytest

from adstack_bus import canonical_redis_url, parse_redis_url
from adstack_bus.connection import node_url
from adstack_config import ConfigError, export_env_file, load
from adstack_config.catalog import SETTINGS
from adstack_config.spec import origin_ok, read_env_file
from adstack_gateway.settings import GatewaySettings
from adstack_ingester.settings import IngesterSettings

STRONG = "0123456789abcdef0123456789abcdef"
PROD = {"NODE_ENV": "production", "JWT_SECRET": STRONG,
        "ALLOWED_ORIGINS": "https://app.example.com"}


def problems(env: dict[str, str], service: str = "gateway") -> list[str]:
    cls = GatewaySettings if service == "gateway" else IngesterSettings
    with pytest.raises(ConfigError) as raised:
        cls.from_env(env)
    return raised.value.problems


def test_every_problem_is_reported_at_once() -> None:
    found = problems({"PORT": "x", "LOG_LEVEL": "verbose", "REDIS_URL": "nonsense",
                      "EVENT_LOOP": "trio", "RATE_LIMIT_BURST": "0"})
    assert [p.split("=")[0] for p in found] == ["LOG_LEVEL", "PORT", "RATE_LIMIT_BURST",
                                                "EVENT_LOOP", "REDIS_URL", "set JWT_SECRET (or "
                                                "JWT_PUBLIC_KEY_FILE / JWT_JWKS_URL), or "
                                                "SKIP_AUTH"]


@pytest.mark.parametrize("value", ["prod", "staging", "Production "])
def test_node_env_must_be_known(value: str) -> None:
    if value.strip().lower() == "production":
        assert GatewaySettings.from_env({**PROD, "NODE_ENV": value}).production
        return
    [found] = problems({"JWT_SECRET": STRONG, "NODE_ENV": value})
    assert found.startswith(f"NODE_ENV={value.strip()!r}: choose one of")


def test_log_level_is_checked_and_normalised() -> None:
    assert GatewaySettings.from_env({"JWT_SECRET": "x", "LOG_LEVEL": "debug"}).log_level == \
        "DEBUG"
    assert problems({"JWT_SECRET": "x", "LOG_LEVEL": "verbose"})[0].startswith("LOG_LEVEL=")


@pytest.mark.parametrize(("env", "needle"), [
    ({"JWT_SECRET": "short"}, "JWT_SECRET is 5 bytes; production needs at least 32"),
    ({"JWT_SECRET": "CHANGE-ME-to-a-random-secret-of-at-least-32-bytes"},
     "JWT_SECRET is a placeholder"),
    ({"JWT_SECRET": "change-me-dev-secret-of-32-bytes-or-more"}, "JWT_SECRET is a placeholder"),
    ({"ALLOWED_ORIGINS": "*"}, "ALLOWED_ORIGINS=* in production"),
    ({"ALLOWED_ORIGINS": "https://a.example,*"}, "ALLOWED_ORIGINS=* in production"),
])
def test_production_refuses_unsafe_values(env: dict[str, str], needle: str) -> None:
    [found] = problems({**PROD, **env})
    assert needle in found and "ALLOW_INSECURE_CONFIG=true" in found
    # ... which development accepts, and the override turns into a warning.
    GatewaySettings.from_env({**PROD, **env, "NODE_ENV": "development"})
    settings = GatewaySettings.from_env({**PROD, **env, "ALLOW_INSECURE_CONFIG": "true"})
    [warning] = settings.warnings
    assert needle in warning


def test_production_refuses_a_weak_observer_token() -> None:
    [found] = problems({"NODE_ENV": "production", "OBSERVER_TOKEN": "x" * 31}, "ingester")
    assert "OBSERVER_TOKEN is 31 bytes" in found
    assert IngesterSettings.from_env({"NODE_ENV": "production",
                                      "OBSERVER_TOKEN": "x" * 32}).observer_token == "x" * 32


def test_the_default_origin_star_is_refused_in_production_until_set() -> None:
    [found] = problems({"NODE_ENV": "production", "JWT_SECRET": STRONG})
    assert found.startswith("ALLOWED_ORIGINS=* in production")


@pytest.mark.parametrize(("origin", "ok"), [
    ("https://app.example.com", True), ("http://localhost:3002", True),
    ("https://app.example.com/", True), ("app.example.com", False),
    ("https://app.example.com/path", False), ("ftp://app.example.com", False),
    ("https://", False), ("https://app.example.com:99999", False),
])
def test_origins_need_a_scheme_and_nothing_after_the_port(origin: str, ok: bool) -> None:
    assert origin_ok(origin) is ok
    env = {"JWT_SECRET": "x", "ALLOWED_ORIGINS": origin}
    if ok:
        assert GatewaySettings.from_env(env).allowed_origins == (origin,)
    else:
        assert problems(env)[0].startswith("ALLOWED_ORIGINS=")


def test_env_file_fills_in_and_the_environment_wins(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("# comment\n\nexport PORT=4000\nLOG_LEVEL='debug'\n"
                    'ALLOWED_ORIGINS="https://a.example"\nJWT_SECRET=from-file\n')
    settings = GatewaySettings.from_env({"ENV_FILE": str(path), "PORT": "5000"})
    assert settings.port == 5000  # the environment wins
    assert settings.log_level == "DEBUG" and settings.allowed_origins == ("https://a.example",)
    assert settings.jwt.secret == "from-file"
    # Off unless asked: no ENV_FILE, no file read (even one named .env in the cwd).
    assert GatewaySettings.from_env({"JWT_SECRET": "x"}).port == 3002


def test_env_file_errors_are_problems(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("PORT=1\nthis is not an assignment\n")
    assert read_env_file(str(path))[1] == f"ENV_FILE={str(path)!r} line 2 is not KEY=VALUE"
    found = problems({"ENV_FILE": str(tmp_path / "missing"), "JWT_SECRET": "x"})
    assert found[0].startswith(f"ENV_FILE={str(tmp_path / 'missing')!r} cannot be read")


def test_a_setting_fills_its_attribute() -> None:
    loaded = load(SETTINGS, "gateway", {"JWT_LEEWAY": "5", "WEB_CONCURRENCY": "3"})
    fields = loaded.fields()
    assert fields["jwt"]["leeway"] == 5.0 and fields["workers"] == 3


@pytest.mark.parametrize(("url", "cluster", "client_url"), [
    ("redis://h:6379/0", False, "redis://h:6379/0"),
    ("rediss://:pw@h:6380/1", False, "rediss://:pw@h:6380/1"),
    ("unix:///run/redis.sock", False, "unix:///run/redis.sock"),
    ("redis+cluster://h:7000", True, "redis://h:7000"),
    ("rediss+cluster://u:pw@h:7000", True, "rediss://u:pw@h:7000"),
])
def test_the_scheme_names_the_backend(url: str, cluster: bool, client_url: str) -> None:
    target = parse_redis_url(url)
    assert (target.cluster, target.url) == (cluster, client_url)


@pytest.mark.parametrize("url", ["nonsense", "http://h:6379", "redis://", "unix://",
                                 "redis://h:notaport"])
def test_what_is_not_a_redis_url(url: str) -> None:
    with pytest.raises(ValueError, match=r"not a|no host|socket path"):
        parse_redis_url(url)


def test_redis_cluster_true_is_the_older_spelling_of_the_scheme() -> None:
    assert canonical_redis_url("redis://h:7000", cluster=True) == "redis+cluster://h:7000"
    assert canonical_redis_url("rediss://h:7000", cluster=True) == "rediss+cluster://h:7000"
    for service in (GatewaySettings, IngesterSettings):
        settings = service.from_env({"JWT_SECRET": "x", "REDIS_URL": "redis://h:7000",
                                     "REDIS_CLUSTER": "true"})
        assert settings.redis_url == "redis+cluster://h:7000"
    assert node_url("rediss+cluster://u:pw@h:7000", "10.0.0.2", 7001) == \
        "rediss://u:pw@10.0.0.2:7001/0"


def test_env_file_values_reach_the_process_environment_where_it_lacks_them(
        tmp_path: Path) -> None:
    """uvicorn reads FORWARDED_ALLOW_IPS, the metrics PROMETHEUS_MULTIPROC_DIR, and
    --workers processes their settings, from the process environment itself."""
    path = tmp_path / ".env"
    path.write_text("FORWARDED_ALLOW_IPS=10.0.0.0/8\nPORT=4000\n")
    environ = {"ENV_FILE": str(path), "PORT": "5000"}
    export_env_file(environ)
    assert environ == {"ENV_FILE": str(path), "PORT": "5000",
                       "FORWARDED_ALLOW_IPS": "10.0.0.0/8"}
    missing = {"ENV_FILE": str(tmp_path / "missing")}
    export_env_file(missing)  # left to load() to report, with the other problems
    assert missing == {"ENV_FILE": str(tmp_path / "missing")}


def test_declared_defaults_are_within_their_bounds() -> None:
    for setting in SETTINGS:
        if isinstance(setting.default, int | float) and not isinstance(setting.default, bool):
            assert setting.minimum is None or setting.default >= setting.minimum, setting.name
            assert setting.maximum is None or setting.default <= setting.maximum, setting.name
        if setting.kind == "choice":
            assert str(setting.default).lower() in setting.choices, setting.name
