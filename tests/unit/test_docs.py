"""The README and docs/ stay true to the tree: the code map names every module and only
modules that exist, every relative link and ``#anchor`` resolves, and the README's first two
commands are ``make dev`` and ``make test``."""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers.paths import REPO

PACKAGES = ("services/*/adstack_*", "libs/*/adstack_*", "tools/*/adstack_*")
_PACKAGE_LINE = re.compile(r"^\*\*`((?:services|libs|tools)/[^/`]+/adstack_[a-z_]+)/`\*\*")
_MODULE_NAME = re.compile(r"`([\w/]+\.py)`")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _markdown_files() -> list[Path]:
    return [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def tree_modules(root: Path = REPO) -> set[str]:
    """Every module of every service, lib and tool package, as a path from the repository
    root; a package's own ``__init__.py`` is described by its package line instead."""
    found: set[str] = set()
    for pattern in PACKAGES:
        for package in root.glob(pattern):
            if not (package / "__init__.py").exists():
                continue
            for module in package.rglob("*.py"):
                if module == package / "__init__.py" or "__pycache__" in module.parts:
                    continue
                found.add(module.relative_to(root).as_posix())
    return found


def code_map(readme: str) -> set[str]:
    """The modules the README's code map names: a ``**`<package dir>/`**`` line, then one
    ``- `module.py` — what it holds`` line per module (several backticked ``_x.py`` names
    before the dash may share a line)."""
    assert "\n## Code map\n" in readme, "the README has no '## Code map' section"
    section = readme.split("\n## Code map\n", 1)[1].split("\n## ", 1)[0]
    named: set[str] = set()
    package: str | None = None
    for line in section.splitlines():
        head = _PACKAGE_LINE.match(line)
        if head:
            package = head.group(1)
        elif line.startswith("- ") and package is not None:
            names = _MODULE_NAME.findall(line[2:].split(" — ", 1)[0])
            assert names, f"code map line names no module: {line!r}"
            named.update(f"{package}/{name}" for name in names)
    return named


def test_every_module_is_in_the_code_map() -> None:
    missing = sorted(tree_modules() - code_map((REPO / "README.md").read_text()))
    assert not missing, ("README code map lacks these modules (add one line each under "
                         "its package, `name.py` — what it holds):\n  " + "\n  ".join(missing))


def test_every_module_the_code_map_names_exists() -> None:
    gone = sorted(code_map((REPO / "README.md").read_text()) - tree_modules())
    assert not gone, ("README code map names modules that do not exist (remove or rename "
                      "their lines):\n  " + "\n  ".join(gone))


def test_the_code_map_check_sees_a_new_and_a_removed_module(tmp_path: Path) -> None:
    package = tmp_path / "libs" / "demo" / "adstack_demo"
    package.mkdir(parents=True)
    for name in ("__init__.py", "kept.py", "_adapter_a.py", "_adapter_b.py", "new.py"):
        (package / name).write_text('"""x."""\n')
    readme = ("# Demo\n\n## Code map\n\n**`libs/demo/adstack_demo/`** — demo.\n"
              "- `kept.py` — kept.\n- `_adapter_a.py`, `_adapter_b.py` — adapters.\n"
              "- `gone.py` — removed since.\n\n## Next\n")
    tree, named = tree_modules(tmp_path), code_map(readme)
    assert tree - named == {"libs/demo/adstack_demo/new.py"}
    assert named - tree == {"libs/demo/adstack_demo/gone.py"}


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found: set[str] = set()
    for line in _prose_lines(path.read_text()):
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(path: Path) -> list[str]:
    broken = []
    for line in _prose_lines(path.read_text()):
        for target in _LINK.findall(line):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, …
                continue
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            if not dest.exists():
                broken.append(f"{target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    return broken


def test_every_relative_link_and_anchor_resolves() -> None:
    problems = {path.relative_to(REPO).as_posix(): broken_links(path)
                for path in _markdown_files()}
    assert {name: links for name, links in problems.items() if links} == {}


def test_the_link_check_sees_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## Close codes (`4xxx`)\n")
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n[ok](other.md#close-codes-4xxx) [self](#page) "
                    "[web](https://example.com/x#y)\n[bad](other.md#nope) [gone](missing.md)\n"
                    "```\n[in code](ignored.md)\n```\n")
    assert broken_links(page) == ["other.md#nope (no heading #nope in other.md)",
                                  "missing.md (no such file)"]


def test_make_dev_and_make_test_are_the_first_two_commands() -> None:
    readme = (REPO / "README.md").read_text()
    block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    assert commands[:2] == ["make dev", "make test"]
