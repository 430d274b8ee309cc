"""The metric table (docs/operations.md) lists exactly the metrics the services define."""

from __future__ import annotations

import re

import pytest

from tests.helpers.deploy import defined_metrics
from tests.helpers.paths import REPO

pytestmark = pytest.mark.deploy


def test_readme_metric_table_matches_the_code() -> None:
    operations = (REPO / "docs" / "operations.md").read_text()
    section = operations.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(adstack_[a-z_]+)` \|", section, re.MULTILINE))
    defined = {name for name in defined_metrics() if name.startswith("adstack_")
               and not name.endswith(("_created", "_bucket", "_count", "_sum"))}
    histograms = {name[:-len("_bucket")] for name in defined_metrics()
                  if name.startswith("adstack_") and name.endswith("_bucket")}
    assert documented == defined | histograms
