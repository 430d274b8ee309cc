"""deploy/grafana: the dashboard parses, its queries read only metrics that exist, it
covers what the issue asks for, and the provisioning files point at it."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.deploy import DEPLOY, TARGET_LABELS, defined_metrics, require_tool
from tests.helpers.promql import GRAFANA_VARIABLES, metric_names, selectors

pytestmark = pytest.mark.deploy

GRAFANA = DEPLOY / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "adstack.json"

# The issue's list of what the dashboard shows → a metric that must be queried for it.
REQUIRED = {
    "ingest rate": "adstack_events_published_total",
    "ingest lag": "adstack_ingest_lag_seconds_bucket",
    "delivery rate": "adstack_events_delivered_total",
    "delivery latency percentiles": "adstack_relay_latency_seconds_bucket",
    "connections per gateway": "adstack_connected_clients",
    "subscriptions per gateway": "adstack_active_subscriptions",
    "disconnect reasons": "adstack_disconnects_total",
    "redis health": "adstack_redis_up",
    "leader": "adstack_leader",
}


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def all_panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for panel in panels:
        out.append(panel)
        out.extend(all_panels(panel.get("panels", [])))
    return out


def queries() -> list[tuple[str, str]]:
    """(panel title, expr) for every query target."""
    return [(panel["title"], target["expr"]) for panel in all_panels(dashboard()["panels"])
            for target in panel.get("targets", [])]


def test_dashboard_is_valid_grafana_json() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    panels = all_panels(board["panels"])
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["targets"], f"{panel['title']} has no query"
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}"
    names = {var["name"] for var in board["templating"]["list"]}
    assert "datasource" in names


def test_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in all_panels(dashboard()["panels"]):
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_every_query_reads_only_metrics_and_labels_that_exist() -> None:
    defined = defined_metrics()
    for title, expr in queries():
        found = selectors(expr)
        assert found, f"{title}: no metric in {expr!r}"
        for selector in found:
            assert selector.name in defined, f"{title}: unknown metric {selector.name!r}"
            unknown = selector.labels - defined[selector.name] - TARGET_LABELS
            assert not unknown, f"{title}: {selector.name} has no label {unknown}"


def test_template_variable_queries_name_existing_metrics() -> None:
    defined = defined_metrics()
    for var in dashboard()["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
            assert match, query
            assert match.group(1) in defined
            assert match.group(2) in defined[match.group(1)] | TARGET_LABELS


def test_dashboard_covers_what_the_issue_lists() -> None:
    used = set().union(*(metric_names(expr) for _title, expr in queries()))
    missing = {topic: name for topic, name in REQUIRED.items() if name not in used}
    assert not missing


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses every dashboard query (written as recording rules)."""
    promtool = require_tool("promtool")
    rules = [{"record": f"dashboard:query_{index}",
              "expr": GRAFANA_VARIABLES.sub("5m", expr).replace("$gateway", ".*")}
             for index, (_title, expr) in enumerate(queries())]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_provisioning_points_at_the_dashboard_and_prometheus() -> None:
    compose = yaml.safe_load((DEPLOY.parent / "docker-compose.yml").read_text())
    mounts = dict(volume.rsplit(":", 1)[0].split(":", 1)
                  for volume in compose["services"]["grafana"]["volumes"])
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" /
                                "adstack.yml").read_text())["providers"]
    dashboards_dir = providers[0]["options"]["path"]
    host_dir = {container: host for host, container in mounts.items()}[dashboards_dir]
    assert (DEPLOY.parent / host_dir / DASHBOARD.name).resolve() == DASHBOARD.resolve()
    assert {container: host for host, container in mounts.items()}[
        "/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" /
                                  "prometheus.yml").read_text())["datasources"]
    assert datasources[0]["type"] == "prometheus"
    assert datasources[0]["url"] == "http://prometheus:9090"
    assert "prometheus" in compose["services"]
