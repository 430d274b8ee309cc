"""Bad configuration, as real processes see it: ``python -m adstack_gateway`` and
``python -m adstack_ingester`` exit 2 before opening anything, print every problem on a line
of its own, and never a traceback. Production refuses weak or placeholder secrets, ``*``
origins and unknown ``NODE_ENV`` values; ``ALLOW_INSECURE_CONFIG`` accepts the first three
with a warning each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from adstack_config.catalog import SETTINGS
from adstack_localredis import free_port
from tests.helpers import services

pytestmark = pytest.mark.e2e

STRONG = "a8Yq3v0M7cE1pW5rT9xZ2bN6dK4hJ0sL"  # 32 bytes, no placeholder
PROBLEM_PREFIX = "  "
DECLARED = {name for s in SETTINGS for name in (s.name, *s.aliases)}


def clean_env(**extra: str) -> dict[str, str]:
    """The inherited environment without any of our settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if k not in DECLARED and not k.startswith("PYTEST_")}
    env.update({"PYTHONUNBUFFERED": "1", "REDIS_URL": "redis://127.0.0.1:1/0", **extra})
    return env


def refused(module: str, env: dict[str, str]) -> list[str]:
    """Run ``module`` with ``env``; assert exit 2 and no traceback; the problem lines."""
    port = "INGESTER_PORT" if module == "adstack_ingester" else "PORT"
    env = {port: str(free_port()), **env}
    proc = subprocess.run([sys.executable, "-m", module], env=env, capture_output=True,
                          text=True, timeout=30, check=False)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].endswith("invalid configuration:"), proc.stderr
    problems = [line[len(PROBLEM_PREFIX):] for line in lines[1:]]
    assert all(line.startswith(PROBLEM_PREFIX) for line in lines[1:]), proc.stderr
    return problems


GATEWAY_CASES = {
    "redis-url": ({"JWT_SECRET": STRONG, "REDIS_URL": "nonsense"},
                  ["REDIS_URL='nonsense': not a Redis URL"]),
    "log-level": ({"JWT_SECRET": STRONG, "LOG_LEVEL": "verbose"},
                  ["LOG_LEVEL='verbose': choose one of debug, info, warning, error, critical"]),
    "node-env-typo": ({"JWT_SECRET": STRONG, "NODE_ENV": "prod"},
                      ["NODE_ENV='prod': choose one of development, test, production"]),
    "short-secret": ({"NODE_ENV": "production", "JWT_SECRET": "short",
                      "ALLOWED_ORIGINS": "https://app.example.com"},
                     ["JWT_SECRET is 5 bytes; production needs at least 32"]),
    "placeholder-secret": ({"NODE_ENV": "production",
                            "JWT_SECRET": "CHANGE-ME-to-a-random-secret-of-at-least-32-bytes",
                            "ALLOWED_ORIGINS": "https://app.example.com"},
                           ["JWT_SECRET is a placeholder from the examples"]),
    "any-origin-in-production": ({"NODE_ENV": "production", "JWT_SECRET": STRONG,
                                  "ALLOWED_ORIGINS": "*"},
                                 ["ALLOWED_ORIGINS=* in production"]),
    "origin-without-scheme": ({"JWT_SECRET": STRONG,
                               "ALLOWED_ORIGINS": "https://ok.example,app.example.com"},
                              ["ALLOWED_ORIGINS='https://ok.example,app.example.com': "
                               "'app.example.com' is not an origin"]),
    "all-at-once": ({"REDIS_URL": "nonsense", "LOG_LEVEL": "verbose", "PORT": "abc",
                     "NODE_ENV": "production", "JWT_SECRET": "x",
                     "ALLOWED_ORIGINS": "app.example.com"},
                    ["LOG_LEVEL='verbose'", "PORT='abc': not a whole number",
                     "ALLOWED_ORIGINS='app.example.com'", "REDIS_URL='nonsense'",
                     "JWT_SECRET is 1 bytes"]),
}


@pytest.mark.parametrize("case", GATEWAY_CASES)
def test_gateway_refuses_with_one_line_per_problem(case: str) -> None:
    env, expected = GATEWAY_CASES[case]
    problems = refused("adstack_gateway", clean_env(**env))
    assert len(problems) == len(expected), problems
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    for problem in problems:
        assert STRONG not in problem and "CHANGE-ME" not in problem  # secrets not echoed


INGESTER_CASES = {
    "redis-url": ({"REDIS_URL": "nonsense"}, ["REDIS_URL='nonsense': not a Redis URL"]),
    "log-level": ({"LOG_LEVEL": "verbose"}, ["LOG_LEVEL='verbose'"]),
    "node-env-typo-is-not-a-way-around-the-token": (
        {"NODE_ENV": "prod"}, ["NODE_ENV='prod': choose one of development, test, production"]),
    "short-token": ({"NODE_ENV": "production", "OBSERVER_TOKEN": "x"},
                    ["OBSERVER_TOKEN is 1 bytes; production needs at least 32"]),
    "placeholder-token": ({"NODE_ENV": "production",
                           "OBSERVER_TOKEN": "CHANGE-ME-to-a-random-token-of-at-least-32-bytes"},
                          ["OBSERVER_TOKEN is a placeholder from the examples"]),
    "bad-bounds-and-source": ({"EVENT_HISTORY_LIMIT": "0", "STACKS_SOURCES": "observer,node",
                               "INGESTER_PORT": "70000"},
                              ["EVENT_HISTORY_LIMIT=0: below the minimum 1",
                               "STACKS_SOURCES='observer,node': unknown 'node'",
                               "INGESTER_PORT=70000: above the maximum 65535"]),
    "unreadable-env-file": ({"ENV_FILE": "/nonexistent/adstack.env"},
                            ["ENV_FILE='/nonexistent/adstack.env' cannot be read"]),
}


@pytest.mark.parametrize("case", INGESTER_CASES)
def test_ingester_refuses_with_one_line_per_problem(case: str) -> None:
    env, expected = INGESTER_CASES[case]
    problems = refused("adstack_ingester", clean_env(**env))
    assert len(problems) == len(expected), problems
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)


def test_env_file_is_read_and_the_real_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / "adstack.env"
    env_file.write_text("# two bad values in the file\nexport LOG_LEVEL=verbose\n"
                        "REORG_WINDOW='3'\n")
    problems = refused("adstack_ingester", clean_env(ENV_FILE=str(env_file)))
    assert [p.split(":")[0] for p in problems] == ["LOG_LEVEL='verbose'", "REORG_WINDOW=3"]
    # The real environment overrides the file's LOG_LEVEL: only REORG_WINDOW is left.
    problems = refused("adstack_ingester", clean_env(ENV_FILE=str(env_file),
                                                      LOG_LEVEL="debug"))
    assert [p.split(":")[0] for p in problems] == ["REORG_WINDOW=3"]


def test_the_insecure_override_starts_and_says_so_loudly(redis_url: str,
                                                        log_dir: Path) -> None:
    port = free_port()
    env = clean_env(REDIS_URL=redis_url, PORT=str(port), NODE_ENV="production",
                    JWT_SECRET="short", ALLOW_INSECURE_CONFIG="true", LOG_JSON="false")
    gateway = services.Service("adstack_gateway", port, env, log_dir)
    with gateway.start():
        gateway.wait_healthy()
        assert httpx.get(f"{gateway.http}/health", timeout=5).status_code == 200
        warnings = [line for line in gateway.logs().splitlines()
                    if "ALLOW_INSECURE_CONFIG=true" in line]
        assert len(warnings) == 2, gateway.logs()  # JWT_SECRET and ALLOWED_ORIGINS=*
        assert all("WARNING" in line for line in warnings)
        assert any("JWT_SECRET is 5 bytes" in line for line in warnings)
        assert any("ALLOWED_ORIGINS=*" in line for line in warnings)
