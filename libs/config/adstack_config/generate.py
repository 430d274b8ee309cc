"""Write the files generated from :data:`adstack_config.catalog.SETTINGS`.

    python -m adstack_config.generate           # rewrite them
    python -m adstack_config.generate --check   # exit 1 if one is stale (what the test checks)

- ``docs/configuration.md``: the configuration table, between :data:`BEGIN` and :data:`END`;
- ``.env.example``: every setting, commented out at its default (``ENV_FILE=.env``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from adstack_config.catalog import SETTINGS
from adstack_config.spec import Setting, format_value

BEGIN = ("<!-- settings:begin — generated from libs/config/adstack_config/catalog.py by "
         "`python -m adstack_config.generate`; edit the catalog, not this table -->")
END = "<!-- settings:end -->"

GROUPS = {
    "process": "Process",
    "network": "Network",
    "redis": "Redis and history",
    "auth": "Client authentication (gateway)",
    "limits": "Gateway limits",
    "compat": "Original-server compatibility and health",
    "sources": "Stacks sources (ingester) and the Stacks API",
    "chain": "Reorgs and leadership (ingester)",
}


def _services(setting: Setting) -> str:
    return ", ".join(setting.services) if len(setting.services) == 1 else "both"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


TABLE_FILE = Path("docs/configuration.md")
"""Where the configuration table lives, relative to the repository root."""


def readme_table(settings: Iterable[Setting] = SETTINGS) -> str:
    rows = [BEGIN, "", "| variable | default | service | meaning |", "|---|---|---|---|"]
    for setting in settings:
        names = ", ".join(f"`{n}`" for n in (setting.name, *setting.aliases))
        default = setting.documented_default()
        shown = ("—" if not default else default if setting.default_text is not None
                 else f"`{default}`")
        rows.append(f"| {names} | {_cell(shown)} | {_services(setting)} | "
                    f"{_cell(setting.help)} |")
    return "\n".join([*rows, "", END])


def env_example(settings: Iterable[Setting] = SETTINGS) -> str:
    lines = [
        "# AdStack Realtime settings. Generated from libs/config/adstack_config/catalog.py by",
        "# `python -m adstack_config.generate`: edit the catalog, not this file.",
        "#",
        "# Copy it to .env, uncomment what you change, and start a service with ENV_FILE=.env",
        "# (e.g. ENV_FILE=.env adstack-gateway). Variables set in the real environment win over",
        "# the file. Every line below is commented out, at its default.",
    ]
    group = None
    for setting in settings:
        if setting.name == "ENV_FILE":  # read from the real environment only
            continue
        if setting.group != group:
            group = setting.group
            lines += ["", f"## {GROUPS.get(group, group)}"]
        lines.append(f"# {setting.help} [{_services(setting)}]")
        if setting.default_text is not None:
            lines.append(f"# default: {setting.default_text}")
        value = setting.example if setting.example is not None else format_value(
            setting.default)
        lines.append(f"#{setting.name}={value}")
    return "\n".join(lines) + "\n"


def replace_between(text: str, block: str) -> str:
    """``text`` with the part from the begin marker to the end marker replaced by ``block``."""
    start = text.index("<!-- settings:begin")
    end = text.index(END, start) + len(END)
    return text[:start] + block + text[end:]


def outputs(root: Path) -> dict[Path, str]:
    """Each generated file and the content it should have."""
    table = root / TABLE_FILE
    return {
        table: replace_between(table.read_text(encoding="utf-8"), readme_table()),
        root / ".env.example": env_example(),
    }


def stale(root: Path) -> list[Path]:
    return [path for path, content in outputs(root).items()
            if not path.exists() or path.read_text(encoding="utf-8") != content]


def find_root(start: Path) -> Path:
    for path in (start, *start.parents):
        if (path / "pyproject.toml").exists() and (path / TABLE_FILE).exists():
            return path
    raise SystemExit(f"run it inside the repository (no pyproject.toml and {TABLE_FILE} found)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m adstack_config.generate",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    parser.add_argument("--root", type=Path, help="repository root (default: found from .)")
    args = parser.parse_args(argv)
    root = args.root or find_root(Path.cwd())
    if args.check:
        old = stale(root)
        for path in old:
            print(f"{path} is stale: run python -m adstack_config.generate", file=sys.stderr)
        raise SystemExit(1 if old else 0)
    for path, content in outputs(root).items():
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
