"""The adapters around other projects' private internals (docs/third-party-internals.md):
each one's shape check passes on the locked releases and fails, naming the fence, on a
release that lost what it relies on; the table, the pyproject fences, uv.lock and the
adapters agree; and no module outside an adapter reaches into those internals."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import prometheus_client
import pytest
from packaging.requirements import Requirement

from adstack_gateway import _engineio, _uvicorn_ws
from adstack_metrics import _prometheus
from adstack_runtime import _uvicorn_h11, _uvicorn_workers
from adstack_runtime.internals import InternalsChanged, Shape, attribute_names, require_shape

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "third-party-internals.md"

ADAPTERS: dict[str, ModuleType] = {
    "services/gateway/adstack_gateway/_uvicorn_ws.py": _uvicorn_ws,
    "services/gateway/adstack_gateway/_engineio.py": _engineio,
    "libs/runtime/adstack_runtime/_uvicorn_h11.py": _uvicorn_h11,
    "libs/runtime/adstack_runtime/_uvicorn_workers.py": _uvicorn_workers,
    "libs/metrics/adstack_metrics/_prometheus.py": _prometheus,
}
SHAPED = [module for module in ADAPTERS.values() if hasattr(module, "SHAPES")]


def _fences(module: ModuleType) -> set[str]:
    return {value for name, value in vars(module).items()
            if name == "FENCE" or name.endswith("_FENCE")}


def _shapes() -> list[Shape]:
    return [shape for module in SHAPED for shape in module.SHAPES]


# -- the check itself -------------------------------------------------------------------


class _Release1:
    def __init__(self) -> None:
        self.queue: list[int] = []

    def close(self, wait: bool = True, abort: bool = False) -> None:
        def later() -> None:
            self.flushed = True

        later()

    @property
    def pid(self) -> int:
        return 1


class _Release2:
    """The same class after a release renamed a method, an attribute and a parameter."""

    def __init__(self) -> None:
        self.inbox: list[int] = []

    def shutdown(self, wait: bool = True, force: bool = False) -> None:
        pass


def test_attribute_names_cover_init_closures_and_properties() -> None:
    names = attribute_names(_Release1)
    assert {"queue", "flushed", "pid", "close"} <= names
    assert "inbox" not in names


def test_a_changed_release_fails_naming_what_is_missing_and_the_fence() -> None:
    spec: dict[str, Any] = {"fence": "thing>=1,<2", "methods": ("close",),
                            "attributes": ("queue", "flushed", "pid"),
                            "parameters": {"close": ("wait", "abort")}}
    require_shape(_Release1, **spec)
    with pytest.raises(InternalsChanged) as error:
        require_shape(_Release2, **spec)
    message = str(error.value)
    for missing in ("close()", "queue", "flushed", "pid", "close(abort=)", "'thing>=1,<2'",
                    "_Release2"):
        assert missing in message


# -- each adapter ---------------------------------------------------------------------


@pytest.mark.parametrize("shape", _shapes(), ids=lambda s: s.owner.__qualname__)
def test_locked_releases_have_the_shape(shape: Shape) -> None:
    assert shape.missing() == []


@pytest.mark.parametrize(("shape", "method"), [
    (shape, method) for shape in _shapes() for method in shape.methods
], ids=lambda v: v if isinstance(v, str) else v.owner.__qualname__)
def test_a_release_without_a_method_is_refused(shape: Shape, method: str) -> None:
    changed = type(shape.owner.__name__, (shape.owner,), {method: None})
    with pytest.raises(InternalsChanged, match=re.escape(shape.fence)):
        shape.check(changed)


def test_every_adapter_checks_something() -> None:
    for module in SHAPED:
        assert module.SHAPES, module.__name__
        assert all(s.methods or s.attributes or s.parameters for s in module.SHAPES)


def test_prometheus_adapter_refuses_a_registry_without_its_private_dict(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _prometheus.check()

    class Renamed(prometheus_client.CollectorRegistry):
        """A release that keeps its collectors under another name."""

        def register(self, collector: Any) -> None:
            super().register(collector)
            self._names_by_collector = self.__dict__.pop("_collector_to_names")

    monkeypatch.setattr(_prometheus, "CollectorRegistry", Renamed)
    with pytest.raises(ImportError, match=re.escape(_prometheus.FENCE)):
        _prometheus.check()


# -- the table, the fences, the lock --------------------------------------------------


def _dependency_lines() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return list(project["dependencies"])


def _locked() -> dict[str, str]:
    packages = tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    return {p["name"]: p["version"] for p in packages if "version" in p}


def _table() -> list[dict[str, str]]:
    lines = [line for line in DOC.read_text().splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_the_table_lists_every_adapter_with_its_fences() -> None:
    table = _table()
    assert table
    for path, module in ADAPTERS.items():
        assert (ROOT / path).is_file()
        rows = [row for row in table if row["adapter"].startswith(f"`{path}`")]
        assert rows, f"{path} is not in the table"
        assert {row["fence"].strip("`") for row in rows} == _fences(module), path
    for row in table:
        assert any(row["adapter"].startswith(f"`{path}`") for path in ADAPTERS), row["adapter"]


def test_fences_are_pyproject_lines_and_hold_the_locked_versions() -> None:
    dependencies = _dependency_lines()
    locked = _locked()
    for row in _table():
        fence = row["fence"].strip("`")
        assert fence in dependencies, f"{fence!r} is not a dependency line of pyproject.toml"
        requirement = Requirement(fence)
        version = locked[requirement.name]
        assert requirement.specifier.contains(version), f"uv.lock has {requirement.name} {version}"
        assert row["versions checked"].startswith(f"{version} (uv.lock"), row["internal"]
        for test in re.findall(r"`(tests/[^`]+)`", row["guard tests"]):
            assert (ROOT / test).exists(), test


def test_make_runs_every_guard_test_of_the_table() -> None:
    """``make test-latest`` runs ``INTERNALS_TESTS``: each guard test, and nothing else."""
    makefile = (ROOT / "Makefile").read_text()
    listed = re.search(r"^INTERNALS_TESTS := ((?:.*\\\n)*.*)$", makefile, re.MULTILINE)
    assert listed is not None
    in_make = {entry.rstrip("/") for entry in listed.group(1).replace("\\", " ").split()}
    in_table = {test.rstrip("/") for row in _table()
                for test in re.findall(r"`(tests/[^`]+)`", row["guard tests"])}


    def covers(entry: str, test: str) -> bool:
        return test == entry or test.startswith(entry + "/")

    assert {t for t in in_table if not any(covers(e, t) for e in in_make)} == set()
    assert {e for e in in_make if not any(covers(e, t) for t in in_table)} == set()


# -- no reach-ins outside the adapters ------------------------------------------------

REACH_INS = {
    r"uvicorn\.protocols": {"_uvicorn_ws.py", "_uvicorn_h11.py"},
    r"uvicorn\.supervisors": {"_uvicorn_workers.py"},
    r"_collector_to_names|_labelnames": {"_prometheus.py"},
    r"^\s*(import engineio|from engineio\b(?! import (packet|payload) as))": {"_engineio.py"},
    r"\bsocketio\.(packet|base_manager|async_manager)|_engineio_server_class|"
    r"\.manager\.|\.eio\.(sockets|handlers)\b": {"_engineio.py"},
}


@pytest.mark.parametrize("pattern", sorted(REACH_INS))
def test_no_reach_in_outside_its_adapter(pattern: str) -> None:
    found = set()
    for top in ("libs", "services", "tools"):
        for path in (ROOT / top).rglob("*.py"):
            if re.search(pattern, path.read_text(), re.MULTILINE):
                found.add(path.name)
    assert found <= REACH_INS[pattern], sorted(found - REACH_INS[pattern])
