"""The devnet's blocks carry the wall clock: the ingester's lag reads seconds, not years.

Before, devnet blocks started in October 2025 and advanced 10 s a block, so
``adstack_ingest_lag_seconds`` read about a year and ``AdstackIngestLagHigh`` fired on any
staging system fed by the devnet.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import services
from tests.helpers.scrape import scrape, value

pytestmark = pytest.mark.e2e

LAG = "adstack_ingest_lag_seconds"


@pytest.mark.parametrize("shape", [[], ["--nakamoto"]], ids=["2.x", "nakamoto"])
def test_ingest_lag_of_devnet_blocks_is_seconds(clean_redis: str, log_dir: Path,
                                                shape: list[str]) -> None:
    ing = services.ingester(clean_redis, log_dir).start()
    try:
        ing.wait_healthy()
        done = subprocess.run(
            [sys.executable, "-m", "adstack_devnet", "--ingester-url", ing.http, "--rate", "5",
             "--blocks", "6", "--events-per-block", "3", *shape],
            capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        samples = scrape(ing.http)
        count = value(samples, f"{LAG}_count", source="observer")
        total = value(samples, f"{LAG}_sum", source="observer")
        assert count == 6
        # Each block's timestamp is when it was made: its lag is well under a minute
        # (it read about 3.6e7 s, over a year, before).
        assert 0 <= total / count < 60, f"mean ingest lag {total / count:.0f} s"
        # The default devnet log stays readable: a start line and an end line, no line a block.
        assert len(done.stderr.strip().splitlines()) <= 2, done.stderr
    finally:
        ing.stop()
