"""``make bench`` keeps working: a seconds-long run of the fan-out benchmark (not a
measurement: tiny audiences, one short step each) must produce a complete report."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_the_fanout_benchmark_smoke_run_writes_a_report_with_numbers(tmp_path: Path) -> None:
    report = tmp_path / "performance.md"
    run = subprocess.run(
        # A generous latency budget: on a busy CI box only a real fault (lost events, errors,
        # disconnects) may fail a step, never timing noise.
        [sys.executable, "-m", "adstack_bench.fanout", "--quick", "--budget-ms", "2000",
         "--output", str(report)],
        capture_output=True, text=True, timeout=110, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    text = report.read_text()
    # Every section is there, with measured numbers rather than placeholders.
    for heading in ("## Targets (issue 7)", "## Fan-out", "## Ingester", "## Memory",
                    "## Kernel floor", "## One gateway process against two", "## Trials",
                    "## Reproduce"):
        assert heading in text, heading
    rows = {m.group(1): m for m in re.finditer(
        r"^\| (/ws|Socket\.IO) \| 100 \| \*\*([\d,]+)\*\* \|", text, re.M)}
    assert set(rows) == {"/ws", "Socket.IO"}, text
    for match in rows.values():
        assert int(match.group(2).replace(",", "")) > 0
    ingest = re.search(r"\*\*([\d,]+)\s+events/s\*\* decoded and published", text)
    assert ingest is not None and int(ingest.group(1).replace(",", "")) > 0
    memory = re.search(r"\*\*([\d.]+) KiB per\s+connection\*\*", text)
    assert memory is not None and 0 < float(memory.group(1)) < 200
    assert re.search(r"^\| 2 \| [\d,]+ \|", text, re.M), "two-gateway row has a number"
    floor = re.search(r"^\| 100 \| ([\d.]+) ms \| \*\*([\d.]+) ms\*\* \| ([\d.]+) ms \| "
                      r"([\d.]+) µs \|", text, re.M)
    assert floor is not None, "kernel floor row for N=100"
    assert all(float(v) > 0 for v in floor.groups())
    assert "PASS" in text
