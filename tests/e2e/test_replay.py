"""``adstack-replay`` against a real ingester and a real Redis.

A devnet dump replays (and a second replay publishes nothing), the real mainnet fork
recording keeps the canonical chain's print and reverts the orphaned one, a refused
payload stops the replay naming its line, and a standby's 503s are retried until a leader
answers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from adstack_bus import keys
from adstack_devnet import DEFAULT_CONTRACTS
from adstack_ingester.payloads import new_block_decoder
from adstack_ingester.pipeline import block_record, contract_filter
from tests.helpers import services
from tests.helpers.paths import stacks_fixture
from tests.helpers.scrape import scrape, value

pytestmark = pytest.mark.e2e

CONTRACTS = tuple(DEFAULT_CONTRACTS.values())
TSV = stacks_fixture("observer_event_replay_mainnet_reorg_scenario2.tsv")
BNS = "SP000000000000000000002Q6VF78.bns"
TOKEN = "node-secret"


def replay(*args: str, check: bool = True) -> tuple[int, dict[str, Any], str]:
    """Run adstack-replay --json; (exit status, summary, stderr)."""
    done = subprocess.run([sys.executable, "-m", "adstack_devnet.replay", "--json", *args],
                          check=False, capture_output=True, text=True, timeout=120)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    if check:
        assert done.returncode == 0, done.stderr
    return done.returncode, summary, done.stderr


def dump(path: Path, blocks: int, per_block: int, *, seed: int = 1) -> None:
    subprocess.run([sys.executable, "-m", "adstack_devnet", "--dump", str(path), "--blocks",
                    str(blocks), "--events-per-block", str(per_block), "--seed", str(seed),
                    "--start-time", "1700000000"], check=True, timeout=120)


def expected_ids(path: Path, contracts: tuple[str, ...]) -> list[str]:
    allow = contract_filter(contracts)
    return [e.id for line in path.read_bytes().splitlines()
            for e in block_record(new_block_decoder.decode(line), allow).events]


def live_and_reverted(redis_url: str, contracts: tuple[str, ...]) -> tuple[set[str], set[str]]:
    """Ids published and not withdrawn (their dedup markers), and ids withdrawn."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        live: set[str] = set()
        reverted: set[str] = set()
        for contract in contracts:
            prefix = keys.seen_prefix(contract)
            live |= {k[len(prefix):] for k in client.scan_iter(match=prefix + "*")}
            reverted |= set(client.smembers(keys.reverted(contract)))
        return live, reverted
    finally:
        client.close()


def test_replay_a_devnet_dump_twice_then_refused_payloads(
        clean_redis: str, log_dir: Path, tmp_path: Path) -> None:
    recording = tmp_path / "devnet.jsonl"
    dump(recording, blocks=30, per_block=4)
    expected = expected_ids(recording, CONTRACTS)
    assert len(expected) == 30 * 4
    ing = services.ingester(clean_redis, log_dir, OBSERVER_TOKEN=TOKEN,
                            STACKS_CONTRACTS=",".join(CONTRACTS)).start()
    try:
        ing.wait_healthy()
        _, dry, _ = replay("--url", ing.http, "--dry-run", str(recording))
        assert (dry["requests"], dry["blocks"], dry["published"]) == (30, 30, 0)
        assert live_and_reverted(clean_redis, CONTRACTS) == (set(), set()), "dry run posts"
        _, first, _ = replay("--url", ing.http, "--token", TOKEN, str(recording))
        assert (first["blocks"], first["published"], first["duplicates"],
                first["reverted"]) == (30, len(expected), 0, 0)
        assert live_and_reverted(clean_redis, CONTRACTS) == (set(expected), set())
        # The same recording again: every event is a duplicate; nothing new.
        _, again, err = replay("--url", ing.http, "--token", TOKEN, str(recording))
        assert (again["blocks"], again["published"], again["duplicates"], again["held"]) == (
            30, 0, len(expected), 0)
        assert "line 1 is block 1, at or below the ingester's tip (30)" in err
        assert "--from-height 31 sends only new blocks" in err
        # Only heights 10..12.
        _, some, _ = replay("--url", ing.http, "--token", TOKEN, "--from-height", "10",
                            "--to-height", "12", str(recording))
        assert (some["blocks"], some["duplicates"]) == (3, 12)
        # A wrong token is refused at the first line: exit 2, naming it.
        status, summary, err = replay("--url", ing.http, "--token", "wrong", str(recording),
                                      check=False)
        assert status == 2 and summary["requests"] == 0
        assert "line 1 (/new_block)" in err and "HTTP 401" in err
        # An invalid payload on line 3 is refused there; lines 1-2 went through.
        lines = recording.read_text().splitlines()
        broken = tmp_path / "broken.jsonl"
        bad = json.loads(lines[2])
        del bad["block_hash"]
        broken.write_text("\n".join([lines[0], lines[1], json.dumps(bad), lines[3]]) + "\n")
        status, summary, err = replay("--url", ing.http, "--token", TOKEN, str(broken),
                                      check=False)
        assert status == 2 and summary["requests"] == 2
        assert "line 3 (/new_block)" in err and "HTTP 400" in err and "INVALID_PAYLOAD" in err
        # An unreadable line stops before posting it: exit 1, naming it.
        garbage = tmp_path / "garbage.jsonl"
        garbage.write_text(lines[0] + "\nnot a recording\n")
        status, summary, err = replay("--url", ing.http, "--token", TOKEN, str(garbage),
                                      check=False)
        assert status == 1 and summary["requests"] == 1
        assert "garbage.jsonl: line 2:" in err
    finally:
        ing.stop()


def test_replay_the_mainnet_fork_recording(clean_redis: str, log_dir: Path) -> None:
    rows = [line.split("\t") for line in TSV.read_text().splitlines()]
    loser, winner = (json.loads(rows[i][3]) for i in (2, 3))
    assert loser["block_height"] == winner["block_height"] == 2
    allow = contract_filter((BNS,))
    [orphaned] = block_record(new_block_decoder.decode(rows[2][3].encode()), allow).events
    [canonical] = block_record(new_block_decoder.decode(rows[3][3].encode()), allow).events
    assert orphaned.id != canonical.id and orphaned.txId == canonical.txId
    ing = services.ingester(clean_redis, log_dir, STACKS_CONTRACTS=BNS).start()
    try:
        ing.wait_healthy()
        _, first, _ = replay("--url", ing.http, str(TSV))
        assert (first["requests"], first["blocks"]) == (6, 5)
        # The loser's print, then the winner's when height 3 makes its branch longest.
        assert (first["published"], first["reverted"]) == (2, 1)
        assert live_and_reverted(clean_redis, (BNS,)) == ({canonical.id}, {orphaned.id})
        _, again, _ = replay("--url", ing.http, str(TSV))
        assert again["published"] == 0
        assert live_and_reverted(clean_redis, (BNS,)) == ({canonical.id}, {orphaned.id})
    finally:
        ing.stop()


def test_replay_retries_a_standby_until_a_leader_answers(
        clean_redis: str, log_dir: Path, tmp_path: Path) -> None:
    recording = tmp_path / "devnet.jsonl"
    dump(recording, blocks=5, per_block=2, seed=9)
    expected = expected_ids(recording, CONTRACTS)
    contracts = ",".join(CONTRACTS)
    one = services.ingester(clean_redis, log_dir, INGESTER_ID="one",
                            STACKS_CONTRACTS=contracts).start()
    one.wait_healthy()
    two = services.ingester(clean_redis, log_dir, INGESTER_ID="two",
                            STACKS_CONTRACTS=contracts).start()
    proc = subprocess.Popen([sys.executable, "-m", "adstack_devnet.replay", "--json",
                             "--url", two.http, str(recording)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while value(scrape(two.http), "adstack_ingest_requests_total",
                    outcome="not_leader") < 2:
            assert time.monotonic() < deadline, "the replay never reached the standby"
            assert proc.poll() is None
            time.sleep(0.1)
        one.stop()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["retries"] >= 2
        assert (summary["blocks"], summary["published"]) == (5, len(expected))
        assert live_and_reverted(clean_redis, CONTRACTS) == (set(expected), set())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        two.stop()
        one.stop()
