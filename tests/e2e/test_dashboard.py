"""The dashboard in a real browser against a real running system fed by the simulated devnet.

Headless Debian Chromium (Playwright for Python, ``executable_path``, no download) opens the
page the gateway serves. Everything behind it is real: valkey, the ingester, the gateway and
the ``adstack_devnet`` process posting blocks — with a fork every few blocks, so the ingester
withdraws orphaned events (``event_reverted``) while the page watches.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from adstack_bus import keys
from adstack_devnet import DEFAULT_CONTRACTS
from tests.conftest import make_token
from tests.helpers import services
from tests.helpers.browser import chromium_context
from tests.helpers.paths import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CAMPAIGN = DEFAULT_CONTRACTS["CAMPAIGN_CONTRACT"]
CONTRACTS = list(DEFAULT_CONTRACTS.values())
ARTIFACTS = REPO / "artifacts"
T = 20_000  # ms: generous, the machine is shared


# -- page probes (each runs in one task of the page, so it sees one consistent state) ------

ROWS_JS = """() => [...document.querySelectorAll('#events tr')].map((tr) => ({
  id: tr.dataset.id, type: tr.dataset.type, contract: tr.dataset.contract,
  offset: Number(tr.dataset.offset), source: tr.dataset.source, block: Number(tr.dataset.block),
  reverted: tr.dataset.reverted === 'true', hidden: tr.hidden,
  displayed: tr.getClientRects().length > 0,
  cells: [...tr.children].map((td) => td.textContent), dataTitle: tr.lastElementChild.title,
  txTitle: tr.children[3].title, badge: tr.querySelector('.badge.reverted')?.textContent ?? null,
}))"""

COUNTS_JS = """() => Object.fromEntries([...document.querySelectorAll('#counts tr')].map(
  (tr) => [tr.dataset.type, {count: Number(tr.dataset.count), reverted: Number(tr.dataset.reverted),
                             shown: tr.children[1].textContent}]))"""

CONSISTENT_JS = f"""() => {{
  const rows = ({ROWS_JS})();
  const counts = ({COUNTS_JS})();
  const byType = {{}};
  const revertedByType = {{}};
  for (const r of rows) {{
    const into = r.reverted ? revertedByType : byType;
    into[r.type] = (into[r.type] || 0) + 1;
  }}
  const total = Number(document.querySelector('#total').dataset.total);
  return {{rows: rows.length, byType, revertedByType, counts, total}};
}}"""


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def head_offset(r: redis.Redis, contract: str) -> int:
    return int(r.hget(keys.meta(contract), "offset") or 0)


def stored_event(r: redis.Redis, contract: str, offset: int) -> dict[str, Any]:
    entries = r.xrange(keys.history(contract), f"{offset}-0", f"{offset}-0")
    assert entries, f"offset {offset} of {contract} is not in the history"
    fields = entries[0][1]
    assert fields[b"k"] == b"e"
    event: dict[str, Any] = json.loads(fields[b"d"])
    return event


def revert_notices(r: redis.Redis, contract: str) -> list[tuple[int, list[str]]]:
    """(offset, withdrawn ids) of every ``event_reverted`` notice in the contract's history."""
    return [(int(entry_id.split(b"-")[0]), json.loads(fields[b"d"])["ids"])
            for entry_id, fields in r.xrange(keys.history(contract)) if fields[b"k"] == b"r"]


HISTORY_LIMIT = 50
"""How many events the dashboard reloads per contract (HISTORY_LIMIT in dashboard.js)."""


def run_system(clean_redis: str, log_dir: Path, *devnet_args: str
               ) -> Iterator[tuple[services.Service, services.Service]]:
    """Real ingester + gateway (auth on) + the simulated devnet posting 5 blocks/s."""
    ing = services.ingester(clean_redis, log_dir).start()
    gw = services.gateway(clean_redis, log_dir).start()
    gw.wait_healthy()
    with open(log_dir / "devnet.log", "ab") as log:
        devnet = subprocess.Popen(
            [sys.executable, "-m", "adstack_devnet", "--ingester-url", ing.http, "--rate", "5",
             *devnet_args],
            env=services.base_env(clean_redis), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        yield ing, gw
    finally:
        if devnet.poll() is None:
            os.killpg(devnet.pid, signal.SIGTERM)
        try:
            devnet.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(devnet.pid, signal.SIGKILL)
            devnet.wait(5)
        gw.stop()
        ing.stop()


@pytest.fixture()
def system(clean_redis: str, log_dir: Path
           ) -> Iterator[tuple[services.Service, services.Service]]:
    yield from run_system(clean_redis, log_dir)


@pytest.fixture()
def forking_system(clean_redis: str, log_dir: Path
                   ) -> Iterator[tuple[services.Service, services.Service]]:
    """The same, with the devnet forking every 8 blocks (one block orphaned each time)."""
    yield from run_system(clean_redis, log_dir, "--fork-every", "8", "--fork-depth", "1")


@pytest.fixture()
def gateway_only(clean_redis: str, log_dir: Path) -> Iterator[services.Service]:
    gw = services.gateway(clean_redis, log_dir).start()
    try:
        yield gw
    finally:
        gw.stop()


def test_dashboard_live_stream_filter_revert_and_recovery(
        forking_system: tuple[services.Service, services.Service], clean_redis: str, tmp_path: Path,
        token: str) -> None:
    from playwright.sync_api import expect

    _ing, gw = forking_system
    r = redis.Redis.from_url(clean_redis)
    # Let some history build up first: the page must load it on subscribe.
    wait_until(lambda: head_offset(r, CAMPAIGN) >= 3, what="devnet events in Redis")

    with chromium_context(tmp_path / "profile") as context:
        page = context.new_page()
        page_errors: list[str] = []
        csp_violations: list[str] = []
        page.on("pageerror", lambda exc: page_errors.append(str(exc)))
        page.on("console", lambda msg: csp_violations.append(msg.text)
                if "Content Security Policy" in msg.text else None)
        page.goto(f"{gw.http}/?token={token}")

        # 1. It connects (auth on: the token came from the URL) and subscribes the five.
        conn = page.locator("#conn")
        expect(conn).to_have_attribute("data-state", "connected", timeout=T)
        expect(page.locator("#token")).to_have_value(token)
        expect(page.locator('#subscriptions li[data-status="subscribed"]')).to_have_count(
            5, timeout=T)

        # 2. History loaded on subscribe, then live events appear.
        page.wait_for_function(
            "() => document.querySelectorAll('#events tr[data-source=history]').length >= 3",
            timeout=T)
        page.wait_for_function(
            "() => document.querySelectorAll('#events tr[data-source=live]').length >= 15",
            timeout=T)
        rows = page.evaluate(ROWS_JS)
        assert {row["contract"] for row in rows} <= set(CONTRACTS)
        assert len({row["contract"] for row in rows}) >= 3
        assert len({row["id"] for row in rows}) == len(rows), "each event shown once"
        # What a row shows is what the ingester stored: type, contract, tx, block, data.
        for row in [row for row in rows if row["source"] == "live"][:8]:
            stored = stored_event(r, row["contract"], row["offset"])
            time_cell, type_cell, contract_cell, tx_cell, block_cell, offset_cell, data_cell = (
                row["cells"])
            assert row["id"] == stored["id"]
            assert type_cell == stored["type"]
            assert contract_cell == stored["contractId"].split(".", 1)[1]
            assert row["txTitle"] == stored["txId"] and tx_cell.startswith(stored["txId"][:8])
            assert block_cell == str(stored["blockHeight"])
            assert offset_cell == str(stored["offset"])
            expected = {k: v for k, v in stored["data"].items() if k != "event"}
            assert json.loads(row["dataTitle"]) == expected
            assert data_cell and time_cell

        # 3. Counts per type agree with the rows, and keep updating.
        state = page.evaluate(CONSISTENT_JS)
        assert {t: c["count"] for t, c in state["counts"].items()} == state["byType"]
        assert all(c["shown"] == str(c["count"]) for c in state["counts"].values())
        total = state["total"]
        reverted = sum(state["revertedByType"].values())  # the devnet forks as we watch
        assert total == state["rows"] - reverted > 0
        page.wait_for_function(
            "(t) => Number(document.querySelector('#total').dataset.total) >= t + 10",
            arg=total, timeout=T)

        # 4. The events-per-second chart has data and a line above the baseline.
        page.wait_for_function(
            "() => Number(document.querySelector('#chart').dataset.total) > 0"
            " && Number(document.querySelector('#chart').dataset.peak) > 0", timeout=T)
        line = page.locator("#chart-line").get_attribute("d") or ""
        ys = [float(point.split(",")[1]) for point in line[1:].split("L")]
        assert len(ys) == 150 and min(ys) < max(ys), "the line rises where events came in"
        expect(page.locator("#chart-label")).to_contain_text("ev/s")
        chart_total = int(page.locator("#chart").get_attribute("data-total") or 0)
        page.wait_for_function(
            "(t) => Number(document.querySelector('#chart').dataset.total) > t",
            arg=chart_total, timeout=T)

        # Latest blocks from the block feed, and a toast for a new campaign.
        page.wait_for_function(
            "() => document.querySelectorAll('#blocks li[data-source=feed]').length >= 3",
            timeout=T)
        heights, newest_event_block = page.evaluate(
            "() => [[...document.querySelectorAll('#blocks li')].map((li) => +li.dataset.height),"
            " Math.max(...[...document.querySelectorAll('#events tr')]"
            ".map((tr) => +tr.dataset.block))]")
        assert heights == sorted(heights, reverse=True)
        assert heights[0] >= newest_event_block
        expect(page.locator(".toast.campaign").first).to_contain_text("New campaign #",
                                                                       timeout=T)

        # 5. The type filter hides every other type, including events arriving after it.
        rows = page.evaluate(ROWS_JS)
        by_type: dict[str, int] = {}
        for row in rows:
            by_type[row["type"]] = by_type.get(row["type"], 0) + 1
        chosen = max(by_type, key=lambda t: by_type[t])
        page.select_option("#type-filter", chosen)
        before = len(rows)
        page.wait_for_function(
            "(n) => document.querySelectorAll('#events tr').length >= n + 10", arg=before,
            timeout=T)
        rows, label = page.evaluate(
            f"() => [({ROWS_JS})(), document.querySelector('#shown').textContent]")
        shown = [row for row in rows if row["displayed"]]
        hidden = [row for row in rows if not row["displayed"]]
        assert shown and all(row["type"] == chosen for row in shown)
        assert hidden and all(row["type"] != chosen for row in hidden)
        assert all(row["hidden"] != row["displayed"] for row in rows)
        assert label == f"showing {len(shown)} of {len(rows)}"
        page.select_option("#type-filter", "")
        page.wait_for_function(
            "() => [...document.querySelectorAll('#events tr')]"
            ".every((tr) => tr.getClientRects().length > 0)", timeout=T)

        # 6. Gateway restart: stop the process, start a new one on the same port.
        page.evaluate("""() => { window.__recovery = null;
            window.adstack.client.on('recovery', (r) => { window.__recovery = r; }); }""")
        seen_before = {c: max([row["offset"] for row in page.evaluate(ROWS_JS)
                               if row["contract"] == c], default=0) for c in CONTRACTS}
        gw.stop()
        expect(conn).to_have_attribute("data-state", "reconnecting", timeout=T)
        expect(conn).to_contain_text("reconnecting")
        # Events keep being published while no gateway is up: the page must miss some.
        wait_until(lambda: head_offset(r, CAMPAIGN) >= seen_before[CAMPAIGN] + 3,
                   what="events published while the gateway is down")
        missed_up_to = head_offset(r, CAMPAIGN)
        gw.start()
        expect(conn).to_have_attribute("data-state", "recovered", timeout=T)
        expect(conn).to_contain_text("recovered")
        recovery = page.evaluate("() => window.__recovery")
        assert recovery["recovered"] is True
        assert sorted(c["contractId"] for c in recovery["contracts"]) == sorted(CONTRACTS)
        for contract in recovery["contracts"]:
            assert contract["recovered"] is True
            assert contract["since"]["offset"] >= seen_before[contract["contractId"]]
        page.wait_for_function(
            "(n) => Math.max(...[...document.querySelectorAll("
            "'#events tr[data-contract$=\".promo-manager\"]')].map((tr) => +tr.dataset.offset))"
            " > n", arg=missed_up_to, timeout=T)

        # 7. The devnet forks every 8 blocks: the ingester withdraws the orphaned block's
        #    events, and their rows are marked and the counts adjusted.
        expect(page.locator('#events tr[data-reverted="true"]').first).to_be_attached(timeout=T)
        expect(page.locator(".toast.warn").first).to_contain_text("reverted")
        rows = page.evaluate(ROWS_JS)
        notices = {c: revert_notices(r, c) for c in CONTRACTS}
        withdrawn = {i for found in notices.values() for _off, ids in found for i in ids}
        on_page = {row["id"]: row for row in rows}
        marked = {i for i, row in on_page.items() if row["reverted"]}
        assert marked, "at least one reverted row"
        assert marked <= withdrawn, "only events the ingester withdrew are marked"
        for event_id in marked:
            row = page.locator(f'#events tr[data-id="{event_id}"]')
            expect(row.locator(".badge.reverted")).to_have_text("reverted")
            expect(row).to_have_class("reverted")
        state = page.evaluate(CONSISTENT_JS)
        assert {t: c["count"] for t, c in state["counts"].items()} == state["byType"]
        assert {t: c["reverted"] for t, c in state["counts"].items() if c["reverted"]} == (
            state["revertedByType"])

        # Nothing missed, nothing twice: each contract's offsets on the page have no gap
        # (history, live, replayed after the restart). Offsets not on the page must be
        # revert notices, or events withdrawn before the page loaded its history.
        rows = page.evaluate(ROWS_JS)
        assert len({row["id"] for row in rows}) == len(rows)
        notices = {c: revert_notices(r, c) for c in CONTRACTS}
        withdrawn = {i for found in notices.values() for _off, ids in found for i in ids}
        for contract in CONTRACTS:
            offsets = sorted(row["offset"] for row in rows if row["contract"] == contract)
            if not offsets:
                continue
            explained = [off for off, _ids in notices[contract]]
            explained += [int(entry_id.split(b"-")[0]) for entry_id, fields in
                          r.xrange(keys.history(contract)) if fields[b"k"] == b"e"
                          and json.loads(fields[b"d"])["id"] in withdrawn]
            on_page = set(offsets)
            offsets = sorted(on_page | {o for o in explained
                                        if offsets[0] < o < offsets[-1] and o not in on_page})
            if contract == CAMPAIGN:
                assert offsets[-1] > missed_up_to
            assert offsets == list(range(offsets[0], offsets[-1] + 1)), contract

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"))
        assert page_errors == []
        assert csp_violations == []


def test_dashboard_shows_a_failed_recovery_and_reloads_history(
        system: tuple[services.Service, services.Service], clean_redis: str, tmp_path: Path,
        token: str) -> None:
    from playwright.sync_api import expect

    _ing, gw = system
    r = redis.Redis.from_url(clean_redis)
    with chromium_context(tmp_path / "profile") as context:
        page = context.new_page()
        page.goto(f"{gw.http}/?token={token}")
        conn = page.locator("#conn")
        expect(conn).to_have_attribute("data-state", "connected", timeout=T)
        page.wait_for_function(
            "() => document.querySelectorAll('#events tr[data-source=live]').length >= 5",
            timeout=T)
        page.evaluate("""() => { window.__recovery = null;
            window.adstack.client.on('recovery', (r) => { window.__recovery = r; }); }""")
        old_epoch = (r.hget(keys.meta(CAMPAIGN), "epoch") or b"").decode()

        gw.stop()
        expect(conn).to_have_attribute("data-state", "reconnecting", timeout=T)
        # While no gateway is up, the campaign contract's history is lost: the ingester
        # starts a new epoch, and no gateway can replay the gap to the page.
        r.delete(keys.meta(CAMPAIGN), keys.history(CAMPAIGN))
        wait_until(lambda: head_offset(r, CAMPAIGN) >= 2
                   and r.hget(keys.meta(CAMPAIGN), "epoch") not in (None, old_epoch.encode()),
                   what="a new epoch of the campaign contract")
        gw.start()

        expect(conn).to_have_attribute("data-state", "recovery-failed", timeout=T)
        expect(conn).to_contain_text("recovery failed for 1 contract")
        recovery = page.evaluate("() => window.__recovery")
        assert recovery["recovered"] is False
        outcome = {c["contractId"]: c["recovered"] for c in recovery["contracts"]}
        assert outcome.pop(CAMPAIGN) is False
        assert set(outcome) == set(CONTRACTS) - {CAMPAIGN} and all(outcome.values())
        expect(page.locator(".toast.warn").first).to_contain_text("Could not replay")
        # The page reloaded the new epoch's history (its newest HISTORY_LIMIT events) and
        # then received the rest live: the newest HISTORY_LIMIT events are all on the page.
        # (A loaded machine's slow restart lets the devnet add more than that before.)
        new_ids = [json.loads(fields[b"d"])["id"]
                   for _id, fields in r.xrange(keys.history(CAMPAIGN))][-HISTORY_LIMIT:]
        assert new_ids
        page.wait_for_function(
            "(ids) => ids.every((id) => document.querySelector(`#events tr[data-id=\"${id}\"]`))",
            arg=new_ids, timeout=T)
        # And the resume position moved to the new epoch.
        position = page.evaluate(f"() => window.adstack.client.position({json.dumps(CAMPAIGN)})")
        assert position["epoch"] == r.hget(keys.meta(CAMPAIGN), "epoch").decode()


def test_dashboard_refused_token_then_token_field(gateway_only: services.Service,
                                                  tmp_path: Path) -> None:
    from playwright.sync_api import expect

    gw = gateway_only
    with chromium_context(tmp_path / "profile") as context:
        page = context.new_page()
        page_errors: list[str] = []
        page.on("pageerror", lambda exc: page_errors.append(str(exc)))
        page.goto(f"{gw.http}/dashboard?token=not-a-jwt")
        conn = page.locator("#conn")
        # Refused with 1008: shown, and no reconnect loop.
        expect(conn).to_have_attribute("data-state", "closed", timeout=T)
        expect(conn).to_contain_text("auth failed")
        expect(page.locator("#notice")).to_contain_text("check the token")
        assert page.evaluate("() => window.adstack.client.stats.reconnects") == 0

        # A valid token in the field connects and subscribes (and is kept in the URL).
        token = make_token(userId="dash-user")
        page.fill("#token", token)
        page.click("#token-form button")
        expect(conn).to_have_attribute("data-state", "connected", timeout=T)
        expect(page.locator("#session")).to_contain_text("user dash-user")
        expect(page.locator('#subscriptions li[data-status="subscribed"]')).to_have_count(
            5, timeout=T)
        assert f"token={token}" in page.url

        # A refused subscription is reported with its code and not retried.
        page.fill("#contract-input", "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.bad!name")
        page.click("#subscribe-form button")
        expect(page.locator("#notice")).to_contain_text("INVALID")
        expect(page.locator('#subscriptions li[data-status="error"]')).to_have_count(1)

        # The client's reconnect delays: full jitter under an exponential cap.
        delays = page.evaluate("""async () => {
            const m = await import('/static/adstack-client.js');
            const o = {baseDelay: 500, maxDelay: 10000};
            return [0, 1, 3, 10, 40].map((a) => [m.backoffDelay(a, o, () => 0.999999),
                                                 m.backoffDelay(a, o, () => 0)]);
        }""")
        assert [hi for hi, _lo in delays] == [499, 999, 3999, 9999, 9999]
        assert all(lo == 0 for _hi, lo in delays)
        assert page_errors == []


# -- layout: phones to wide screens ----------------------------------------------------------

# Every check runs in one task of the page, after scrolling each control into view.
LAYOUT_JS = """() => {
  const vw = window.innerWidth;
  const vh = window.innerHeight;
  const doc = document.documentElement;
  const problems = [];
  const name = (el) => el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}.${el.className}`
    + (el.textContent ? ` "${el.textContent.trim().slice(0, 20)}"` : '');
  const clippers = (el) => {
    const out = [];
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (s.overflowX !== 'visible' || s.overflowY !== 'visible') out.push(p);
    }
    return out;
  };
  const controls = [...document.querySelectorAll('button, input, select')]
    .filter((el) => el.getClientRects().length > 0);
  for (const el of controls) {
    el.scrollIntoView({block: 'center', inline: 'nearest'});
    const r = el.getBoundingClientRect();
    if (r.width < 24 || r.height < 20) problems.push(`${name(el)} is ${r.width}x${r.height}`);
    if (r.left < 0 || r.right > vw + 0.5 || r.top < 0 || r.bottom > vh + 0.5)
      problems.push(`${name(el)} at ${r.left},${r.top}-${r.right},${r.bottom} is off screen`);
    for (const c of clippers(el)) {
      const b = c.getBoundingClientRect();
      if (r.left < b.left - 0.5 || r.right > b.right + 0.5)
        problems.push(`${name(el)} is clipped by ${name(c)}`);
    }
    if (el.scrollWidth > el.clientWidth + 1 && el.tagName === 'BUTTON')
      problems.push(`${name(el)}: its label is cut (${el.scrollWidth} > ${el.clientWidth})`);
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!hit || !(hit === el || el.contains(hit)))
      problems.push(`${name(el)} is covered by ${hit ? name(hit) : 'nothing'}`);
  }
  window.scrollTo(0, 0);
  // Nothing sticks out of its card (what scrolls inside its card may).
  for (const panel of document.querySelectorAll('.panel')) {
    const b = panel.getBoundingClientRect();
    for (const el of panel.querySelectorAll('*')) {
      if (el.closest('.table-wrap') || el.getClientRects().length === 0) continue;
      const r = el.getBoundingClientRect();
      if (r.width > 0 && (r.left < b.left - 0.5 || r.right > b.right + 0.5))
        problems.push(`${name(el)} sticks out of ${name(panel)}`);
    }
  }
  // Contract names are shown whole.
  for (const el of document.querySelectorAll('#subscriptions .name'))
    if (el.scrollWidth > el.clientWidth + 1) problems.push(`name ${el.textContent} is cut`);
  // Every column of the newest event rows is on screen, inside its card.
  const wrap = document.querySelector('.table-wrap').getBoundingClientRect();
  const rows = [...document.querySelectorAll('#events tr')].filter((tr) => !tr.hidden).slice(0, 5);
  for (const tr of rows) for (const td of tr.children) {
    const r = td.getBoundingClientRect();
    if (r.width <= 0 || r.height <= 0) problems.push(`event cell ${td.className} is not displayed`);
    else if (r.left < Math.max(0, wrap.left) - 0.5 || r.right > Math.min(vw, wrap.right) + 0.5)
      problems.push(`event cell ${td.className} at ${r.left}-${r.right} is off screen`);
  }
  // Toasts never lie over the header or a panel.
  const covered = [document.querySelector('header'), ...document.querySelectorAll('.panel')];
  for (const t of document.querySelectorAll('.toast')) {
    const a = t.getBoundingClientRect();
    for (const el of covered) {
      const b = el.getBoundingClientRect();
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom)
        problems.push(`toast "${t.textContent.slice(0, 30)}" covers ${name(el)}`);
    }
  }
  const columns = new Set([...document.querySelectorAll('.panel')]
    .map((p) => Math.round(p.getBoundingClientRect().left))).size;
  return {scrollWidth: doc.scrollWidth, innerWidth: vw, controls: controls.length,
          toasts: document.querySelectorAll('.toast').length, rows: rows.length, columns,
          problems};
}"""

BLOCKS_JS = """() => [...document.querySelectorAll('#blocks li')].map((li) => ({
  height: Number(li.dataset.height), source: li.dataset.source,
  txs: li.querySelector('.txs')?.textContent ?? li.textContent,
  time: li.querySelector('.time')?.textContent ?? '',
  timestamp: Number(li.dataset.timestamp || 0), txCount: Number(li.dataset.txCount ?? -1)}))"""

VIEWPORTS = [
    # (name, width, height, phone)
    ("phone-360", 360, 740, True),
    ("phone-390", 390, 844, True),
    ("desktop-1280", 1280, 800, False),
    ("wide-1920", 1920, 1080, False),
]


def test_dashboard_layout_from_phone_to_wide_screen(
        system: tuple[services.Service, services.Service], tmp_path: Path, token: str) -> None:
    """At 360 and 390 px (a phone), 1280 and 1920 px: no sideways scroll, one column on a
    phone, every control inside the viewport, uncovered and with its whole label, every column
    of the events on screen, toasts over no data, and blocks with their transaction count and
    time from the block feed. Screenshots: artifacts/dashboard-<viewport>.png."""
    from playwright.sync_api import expect

    _ing, gw = system
    ARTIFACTS.mkdir(exist_ok=True)
    for name, width, height, phone in VIEWPORTS:
        with chromium_context(tmp_path / f"profile-{name}", width=width, height=height,
                              mobile=phone) as context:
            page = context.new_page()
            page_errors: list[str] = []
            page.on("pageerror", lambda exc, errors=page_errors: errors.append(str(exc)))
            page.goto(f"{gw.http}/?token={token}")
            expect(page.locator("#conn")).to_have_attribute("data-state", "connected", timeout=T)
            expect(page.locator('#subscriptions li[data-status="subscribed"]')).to_have_count(
                5, timeout=T)
            page.wait_for_function(
                "() => document.querySelectorAll('#events tr[data-source=live]').length >= 10",
                timeout=T)
            # A real toast (the devnet creates campaigns) and blocks from the feed.
            expect(page.locator(".toast.campaign").first).to_be_visible(timeout=T)
            page.wait_for_function(
                "() => document.querySelectorAll('#blocks li[data-source=feed]').length >= 3",
                timeout=T)

            page.wait_for_function(
                "() => Number(document.querySelector('#chart').dataset.total) > 0", timeout=T)
            layout = page.evaluate(LAYOUT_JS)
            page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=phone)
            # A phone widens its layout viewport to fit content that overflows: compare
            # with the width asked for too.
            assert layout["scrollWidth"] <= layout["innerWidth"] == width, (name, layout)
            assert layout["problems"] == [], (name, layout["problems"])
            assert layout["controls"] >= 10 and layout["rows"] == 5 and layout["toasts"] >= 1
            if phone:
                assert layout["columns"] == 1, f"{name}: one column on a phone"
            else:
                assert layout["columns"] >= 2, f"{name}: panels side by side"

            # Blocks: the feed's metadata, never "? tx"; the newest blocks come from the feed.
            blocks = page.evaluate(BLOCKS_JS)
            feed = [b for b in blocks if b["source"] == "feed"]
            assert feed and all("?" not in b["txs"] for b in blocks), blocks
            assert all(b["txs"].split(" tx · ")[0] == str(b["txCount"]) for b in feed), blocks
            assert all(b["timestamp"] > 0 and b["time"] for b in feed), blocks
            page.wait_for_function(
                "() => [...document.querySelectorAll('#blocks li')].slice(0, 3)"
                ".every((li) => li.dataset.source === 'feed')", timeout=T)
            assert page_errors == []
