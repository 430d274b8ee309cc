"""The one declaration of every setting, and what is generated from it: each service's
``--help``, the configuration table (docs/configuration.md) and the root ``.env.example``
(stale files fail here), and the settings structs (their defaults are the declared ones)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from adstack_config import generate
from adstack_config.catalog import SETTINGS
from adstack_config.spec import for_service, help_text
from adstack_gateway.__main__ import main as gateway_main
from adstack_gateway.settings import GatewaySettings
from adstack_ingester.__main__ import main as ingester_main
from adstack_ingester.settings import IngesterSettings

ROOT = Path(__file__).resolve().parents[3]
STRUCTS: dict[str, type[msgspec.Struct]] = {"gateway": GatewaySettings,
                                            "ingester": IngesterSettings}


def test_generated_files_are_fresh() -> None:
    """Fails when the catalog changed and ``python -m adstack_config.generate`` was not run
    (or someone edited the generated configuration table or .env.example by hand)."""
    assert generate.stale(ROOT) == [], "run: python -m adstack_config.generate"


def test_a_changed_catalog_makes_the_files_stale(tmp_path: Path) -> None:
    for path in generate.outputs(ROOT):
        copy = tmp_path / path.relative_to(ROOT)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(path.read_text())
    assert generate.stale(tmp_path) == []
    table = tmp_path / "docs" / "configuration.md"
    table.write_text(table.read_text().replace("| `PORT` | `3002` |", "| `PORT` | `3003` |"))
    (tmp_path / ".env.example").write_text("")
    assert sorted(p.name for p in generate.stale(tmp_path)) == [".env.example", "configuration.md"]
    generate.main(["--root", str(tmp_path)])
    assert generate.stale(tmp_path) == []


def test_names_are_unique() -> None:
    names = [name for s in SETTINGS for name in (s.name, *s.aliases)]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(("name", "default"), [
    ("PORT", 3002), ("REDIS_URL", "redis://localhost:6379/0"), ("STACKS_API_URL", None),
    ("JWT_SECRET", None), ("SKIP_AUTH", False), ("ALLOWED_ORIGINS", ("*",)),
    ("CAMPAIGN_CONTRACT", None), ("MAX_SUBSCRIPTIONS_PER_CLIENT", 10),
    ("EVENT_HISTORY_LIMIT", 100), ("REDIS_TTL", 3600), ("INGESTER_PORT", 3700),
    ("NODE_ENV", "development"), ("LOG_LEVEL", "INFO"), ("HISTORY_RETAIN", 1000),
])
def test_the_original_names_and_defaults_are_kept(name: str, default: object) -> None:
    [setting] = [s for s in SETTINGS if s.name == name]
    assert setting.default == default


@pytest.mark.parametrize("service", ["gateway", "ingester"])
def test_every_declared_field_is_a_struct_field_with_the_declared_default(service: str
                                                                         ) -> None:
    struct = STRUCTS[service]
    info = {f.name: f for f in msgspec.structs.fields(struct)}
    for setting in for_service(SETTINGS, service):  # type: ignore[arg-type]
        if setting.field is None:
            continue
        group, _, attr = setting.field.rpartition(".")
        assert (group or attr) in info, (service, setting.name, setting.field)
        field = info[attr] if not group else None
        if field is not None and field.default is not msgspec.NODEFAULT \
                and setting.default is not None:
            assert field.default == setting.default, (service, setting.name)


@pytest.mark.parametrize(("service", "main"), [("gateway", gateway_main),
                                               ("ingester", ingester_main)])
def test_help_lists_every_setting_of_the_service(service: str, main: object,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])  # type: ignore[operator]
    out = capsys.readouterr().out
    assert out.endswith(help_text(SETTINGS, service))  # type: ignore[arg-type]
    for setting in for_service(SETTINGS, service):  # type: ignore[arg-type]
        assert f"  {setting.name}" in out, setting.name
    # The drift the issue found: both are now in the help of the services that read them.
    assert "REDIS_CLUSTER" in out
    assert ("HISTORY_RETAIN" in out) == (service == "ingester")


def test_event_history_limit_means_one_thing_in_both_services() -> None:
    [setting] = [s for s in SETTINGS if s.name == "EVENT_HISTORY_LIMIT"]
    assert setting.services == ("gateway", "ingester")
    env = {"EVENT_HISTORY_LIMIT": "250", "JWT_SECRET": "s" * 32}
    assert GatewaySettings.from_env(env).history_limit == 250
    assert IngesterSettings.from_env(env).history_limit == 250


def test_readme_table_rows_name_every_setting() -> None:
    table = generate.readme_table()
    for setting in SETTINGS:
        assert f"| `{setting.name}`" in table
    example = generate.env_example()
    for setting in SETTINGS:
        if setting.name != "ENV_FILE":
            assert f"\n#{setting.name}=" in example
