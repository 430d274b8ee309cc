"""Print live events (what ``make watch`` runs): ``python -m adstack_devnet.watch``.

Built on the Python SDK (``adstack_client``): when the stack restarts it reconnects and
resumes where it stopped. It says so in one line when nothing answers at the URL, and
Ctrl-C ends it quietly (exit 0). The token comes from ``--token``, ``ADSTACK_TOKEN`` or the
``.dev-token`` file ``adstack-dev`` writes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from urllib.parse import urlsplit

from adstack_client import Client, ClientClosed, Event, RecoveryFailed, Reverted

NOT_RUNNING_EXIT = 3
"""Exit status when nothing answers at the URL (``make watch`` prints only the one line)."""


def reachable(url: str, timeout: float = 2.0) -> bool:
    """Does anything accept TCP connections at the WebSocket URL's host and port?"""
    import socket

    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "wss" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def line_for(item: Event | Reverted | RecoveryFailed) -> str:
    if isinstance(item, Event):
        raw = item.raw
        return (f"#{item.offset:>5} h={raw.get('blockHeight')} {item.type:<20} "
                f"{item.contract_id.split('.')[-1]:<18} {json.dumps(item.data)}")
    if isinstance(item, Reverted):
        return f"[reverted] {item.contract_id}: {len(item.ids)} events withdrawn by a reorg"
    return (f"[recovery failed] {item.contract_id}: events before offset {item.offset} may be "
            "missing (the stack's history was reset)")


async def watch(url: str, token: str | None, contracts: list[str], types: list[str] | None,
                count: int) -> int:
    """Print events until ``count`` were received (0: forever); return how many."""
    client = Client(url, token=token, max_backoff=2.0)
    received = 0
    try:
        await client.start(timeout=10)
        queue: asyncio.Queue[Event | Reverted | RecoveryFailed | BaseException] = (
            asyncio.Queue())

        async def pump(contract: str) -> None:
            try:
                async for item in client.subscribe(contract, event_types=types):
                    await queue.put(item)
            except BaseException as exc:  # forwarded to the printing loop
                await queue.put(exc)
                raise

        pumps = [asyncio.create_task(pump(c)) for c in contracts]
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                print(line_for(item), flush=True)
                if isinstance(item, Event):
                    received += 1
                    if count and received >= count:
                        break
        finally:
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
    finally:
        await client.close()
    return received


def token_from_file(path: Path) -> str | None:
    with contextlib.suppress(OSError):
        return path.read_text().strip() or None
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print live AdStack events from a gateway.")
    parser.add_argument("--url", default=os.environ.get("ADSTACK_URL", "ws://127.0.0.1:3002/ws"))
    parser.add_argument("--token", default=os.environ.get("ADSTACK_TOKEN"),
                        help="JWT (default: ADSTACK_TOKEN, else the --token-file)")
    parser.add_argument("--token-file", default=".dev-token", type=Path)
    parser.add_argument("--contract", action="append", required=True)
    parser.add_argument("--type", action="append", dest="types")
    parser.add_argument("--count", type=int, default=0, help="exit after N events")
    args = parser.parse_args(argv)
    if not reachable(args.url):
        print(f"watch: nothing answers at {args.url}; start the stack first (make dev)",
              file=sys.stderr, flush=True)
        raise SystemExit(NOT_RUNNING_EXIT)
    token = args.token or token_from_file(args.token_file)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        asyncio.run(watch(args.url, token, args.contract, args.types, args.count))
    except KeyboardInterrupt:
        print("watch: stopped", file=sys.stderr, flush=True)
    except ClientClosed as exc:
        print(f"watch: the gateway closed the connection for good ({exc}); "
              "is the token valid for this stack?", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    except TimeoutError:
        print(f"watch: could not connect to {args.url}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
