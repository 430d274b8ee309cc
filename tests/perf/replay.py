"""``python -m tests.perf.replay``: blocks/s and events/s of ``adstack-replay`` (a
benchmark, not a test).

Dumps mainnet-shaped devnet blocks carrying ``--events`` print events (default 10,000)
with ``adstack-devnet --dump``, starts a real ingester on a local valkey, replays the dump
with ``adstack-replay`` (one request at a time, as fast as the ingester answers), then
replays it again (every event a duplicate). Prints both summaries; the figures are the
whole path: the replay client, HTTP, the ingester's decode and the Redis scripts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from adstack_devnet import DEFAULT_CONTRACTS
from adstack_localredis import LocalRedis, free_port


def replay(url: str, dump: Path) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-m", "adstack_devnet.replay", "--json", "--url",
                           url, str(dump)], capture_output=True, text=True, check=True)
    summary: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--per-block", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--nakamoto", action="store_true")
    args = parser.parse_args()
    blocks = -(-args.events // args.per_block)
    with tempfile.TemporaryDirectory() as tmp, LocalRedis() as server:
        dump = Path(tmp) / "devnet.jsonl"
        subprocess.run([sys.executable, "-m", "adstack_devnet", "--dump", str(dump),
                        "--blocks", str(blocks), "--events-per-block", str(args.per_block),
                        "--seed", str(args.seed), "--start-time", "1700000000",
                        *(["--nakamoto"] if args.nakamoto else [])], check=True)
        port = free_port()
        env = {**os.environ, "REDIS_URL": server.url, "INGESTER_PORT": str(port),
               "NODE_ENV": "development", "LOG_LEVEL": "WARNING",
               "STACKS_CONTRACTS": ",".join(DEFAULT_CONTRACTS.values())}
        with open(Path(tmp) / "ingester.log", "wb") as log:
            ingester = subprocess.Popen([sys.executable, "-m", "adstack_ingester"], env=env,
                                        stdout=log, stderr=log)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the ingester did not become healthy")
                time.sleep(0.1)
            size = dump.stat().st_size
            print(f"dump: {blocks} mainnet-shaped blocks, {args.per_block} prints each, "
                  f"{size / 1e6:.1f} MB")
            for label in ("first replay", "again (all duplicates)"):
                s = replay(url, dump)
                events = s["published"] + s["duplicates"]
                print(f"{label}: {s['blocks']} blocks, {events} events "
                      f"({s['published']} published, {s['duplicates']} duplicates), "
                      f"{s['held']} held, {s['reverted']} reverted, in {s['seconds']:.2f} s: "
                      f"{s['blocksPerSecond']} blocks/s, "
                      f"{s['eventsPerSecond']} events/s")
        finally:
            ingester.terminate()
            ingester.wait(10)


if __name__ == "__main__":
    main()
