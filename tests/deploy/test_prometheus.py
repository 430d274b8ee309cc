"""deploy/prometheus: promtool accepts the configs and rules, the alert unit tests pass,
and every metric the rules read is one the services define."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers.deploy import DEPLOY, TARGET_LABELS, defined_metrics, require_tool
from tests.helpers.promql import selectors

pytestmark = pytest.mark.deploy

PROMETHEUS = DEPLOY / "prometheus"
CONFIGS = ["prometheus.yml", "prometheus-k8s.yml"]
REQUIRED_ALERTS = {
    "AdstackIngesterStalled", "AdstackNoLeader", "AdstackRelayLatencyHigh",
    "AdstackSlowDisconnectSpike", "AdstackRedisDown", "AdstackIngestErrors",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_tool("promtool"), *args], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.parametrize("name", CONFIGS)
def test_promtool_check_config(name: str) -> None:
    result = promtool("check", "config", str(PROMETHEUS / name))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", str(PROMETHEUS / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_alert_unit_tests() -> None:
    """deploy/prometheus/tests/alerts.test.yml: each alert fires exactly when it should."""
    result = promtool("test", "rules", str(PROMETHEUS / "tests" / "alerts.test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    """The rule check has teeth: a syntax error is refused."""
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n- name: x\n  rules:\n  - alert: X\n    expr: sum(rate(x[5m])\n")
    assert promtool("check", "rules", str(broken)).returncode != 0


def rules() -> list[dict[str, object]]:
    doc = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_the_issue_s_alerts_exist_with_severity_and_text() -> None:
    found = {str(rule["alert"]) for rule in rules()}
    assert found >= REQUIRED_ALERTS
    for rule in rules():
        labels = rule.get("labels")
        annotations = rule.get("annotations")
        assert isinstance(labels, dict) and labels.get("severity") in {
            "critical", "warning", "info"}, rule["alert"]
        assert isinstance(annotations, dict) and annotations.get("summary"), rule["alert"]


def test_every_alert_tested_by_promtool_fires_in_some_case() -> None:
    """The unit tests cover the issue's alerts with at least one firing case each."""
    tests = yaml.safe_load((PROMETHEUS / "tests" / "alerts.test.yml").read_text())["tests"]
    firing = {case["alertname"] for test in tests for case in test["alert_rule_test"]
              if case.get("exp_alerts")}
    assert firing >= REQUIRED_ALERTS


def test_rules_read_only_metrics_and_labels_the_services_define() -> None:
    defined = defined_metrics()
    for rule in rules():
        expr = str(rule["expr"])
        found = selectors(expr)
        assert found, f"{rule['alert']}: no metric in {expr!r}"
        for selector in found:
            assert selector.name in defined, f"{rule['alert']}: unknown metric {selector.name}"
            unknown = selector.labels - defined[selector.name] - TARGET_LABELS
            assert not unknown, f"{rule['alert']}: {selector.name} has no label {unknown}"


@pytest.mark.parametrize("name", CONFIGS)
def test_configs_load_the_rules_and_scrape_both_services(name: str) -> None:
    config = yaml.safe_load((PROMETHEUS / name).read_text())
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"adstack-ingester", "adstack-gateway"} <= set(jobs)
    for job in ("adstack-ingester", "adstack-gateway"):
        assert jobs[job].get("metrics_path", "/metrics") == "/metrics"
    # Alerts select jobs by these names.
    assert 'up{job=~"adstack-.*"}' in (PROMETHEUS / "alerts.yml").read_text()
