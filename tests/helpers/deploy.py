"""Shared bits of the deploy/ checks: paths, required tools, the metrics we define."""

from __future__ import annotations

import os
import shutil

import pytest
from prometheus_client import REGISTRY

from tests.helpers.paths import REPO

DEPLOY = REPO / "deploy"

PROMETHEUS_SYNTHESIZED = {
    "up": frozenset({"job", "instance"}),
    "scrape_duration_seconds": frozenset({"job", "instance"}),
    "scrape_samples_scraped": frozenset({"job", "instance"}),
}
TARGET_LABELS = {"job", "instance", "namespace", "pod", "stack"}
"""Labels Prometheus attaches to every scraped sample (deploy/prometheus/*.yml)."""


def require_tool(name: str) -> str:
    """The tool's path; skip without it, but fail under CI (CI=true must run every check)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; .ci/run installs it (Debian package prometheus for "
                        "promtool)")
        pytest.skip(f"{message} (install it to run this check; CI always does)")
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
