"""``make chaos-smoke`` in CI: the short run of the chaos gap scenarios (a gateway's bus link
cut longer than the history, and Redis restarting empty, both at 500 events/s) must end
with every client having every event or having been told of its gap."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_chaos_smoke_every_client_has_every_event_or_was_told(tmp_path: Path) -> None:
    out = tmp_path / "chaos.json"
    run = subprocess.run([sys.executable, "-m", "tests.chaos.run", "--smoke", "--json", str(out)],
                         capture_output=True, text=True, timeout=170, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-3000:]
    result = json.loads(out.read_text())["gaps"]
    clients = result["clients"]
    assert set(clients) == {"a-1", "a-2", "b-1"}
    for name, client in clients.items():
        assert client["silent_gaps"] == 0 and client["caught_up"], (name, client)
        # Redis restarted empty: every client was told its contracts moved to a new epoch.
        assert client["notices"] >= 5, (name, client)
    cut = result["faults"][0]
    assert cut["fault"].startswith("bus link of gateway A cut longer than the history")
    # The cut outran the history: gateway A's clients lost events (and were told, above);
    # gateway B's lost none in that window.
    assert cut["clients"]["a-1"]["lost"] > 0 and cut["clients"]["b-1"]["lost"] == 0
