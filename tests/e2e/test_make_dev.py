"""`make dev`'s runner: everything starts, simulated events reach a client, Ctrl-C cleans up."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from adstack_localredis import free_port
from tests.helpers.client import WsClient

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CAMPAIGN = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"


def _children(pid: int) -> set[int]:
    """Every descendant pid of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


async def test_dev_runs_everything_and_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    gw1, gw2, ing = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "JWT_SECRET")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "adstack_devnet.dev", "--gateway-ports", f"{gw1},{gw2}",
         "--ingester-port", str(ing), "--rate", "4", "--summary-every", "1"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 40
        token_file = tmp_path / ".dev-token"
        while not token_file.exists():
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "adstack-dev did not start"
            await asyncio.sleep(0.2)
        token = token_file.read_text().strip()
        for port in (gw1, gw2):
            assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
        dashboard_html = httpx.get(f"http://127.0.0.1:{gw1}/?token={token}").text
        assert httpx.get(f"http://127.0.0.1:{ing}/health").status_code == 200
        children = _children(proc.pid)
        assert len(children) >= 5  # valkey, ingester, two gateways, devnet

        for port in (gw1, gw2):
            async with WsClient(f"ws://127.0.0.1:{port}/ws", token) as client:
                await client.request("subscribe", {"contractId": CAMPAIGN}, "subscribed")
                events = await client.wait_for("event", 2, timeout=20)
                assert all(e["contractId"] == CAMPAIGN for e in events)
                assert all(e["type"].startswith(("campaign_", "spend_")) for e in events)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    text = out.decode()
    assert "AdStack Realtime is running" in text
    assert f"http://127.0.0.1:{gw1}/?token={token}" in text  # the dashboard URL
    assert "<title>AdStack Realtime" in dashboard_html
    assert proc.returncode == 0, text[-2000:]
    # Quiet and honest: no key-length warning, no per-block or per-request lines, no
    # WARNING for a normal Ctrl-C; one summary line a second instead.
    assert "InsecureKeyLengthWarning" not in text
    assert "WARNING" not in text, text[-2000:]
    assert "published, 0 duplicates" not in text and "HTTP Request" not in text
    assert "events published in" in text
    secret = tmp_path / ".dev-secret"
    assert len(secret.read_text().strip().encode()) >= 32
    assert secret.stat().st_mode & 0o777 == 0o600
    time.sleep(0.5)
    alive = [pid for pid in children if _running(pid)]
    assert alive == [], f"processes left behind: {alive}"
    for port in (gw1, gw2, ing):
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
