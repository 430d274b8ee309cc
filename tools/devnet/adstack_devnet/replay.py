"""``adstack-replay``: POST recorded node output to a running ingester, in order.

Each request is re-sent until the ingester answers 200, exactly as a stacks-node does
(connection errors, timeouts, 5xx, 408 and 429 back off from 100 ms, doubling with
jitter, up to 3 s). Any other 4xx means the ingester refused the payload as invalid: the
replay stops and exits 2, naming the line. The parsing and filtering core is
:mod:`adstack_devnet.replaycore`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import httpx

from adstack_devnet.replaycore import (
    ReplayInputError,
    Request,
    Tally,
    in_range,
    is_retryable,
    parse_line,
)

EXIT_INPUT = 1
EXIT_REFUSED = 2


class Refused(Exception):
    def __init__(self, request: Request, status: int, text: str) -> None:
        super().__init__(f"line {request.lineno} ({request.path}): the ingester refused it "
                         f"with HTTP {status}: {text[:300]}")


class Progress:
    """A one-line progress bar on a terminal (by bytes of input read); silent otherwise."""

    def __init__(self, out: TextIO, total_bytes: int) -> None:
        self.out = out
        self.enabled = out.isatty() and total_bytes > 0
        self.total = total_bytes
        self.last = 0.0

    def update(self, done_bytes: int, tally: Tally, *, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self.last < 0.2):
            return
        self.last = now
        share = min(1.0, done_bytes / self.total)
        bar = "#" * int(share * 30)
        self.out.write(f"\r[{bar:<30}] {share:6.1%} {tally.blocks} blocks, "
                       f"{tally.published} published, {tally.duplicates} duplicates, "
                       f"{tally.retries} retries ")
        self.out.flush()

    def close(self) -> None:
        if self.enabled:
            self.out.write("\n")
            self.out.flush()


def read_requests(paths: list[str], position: list[int]) -> Iterator[Request]:
    """Requests from every input file in turn (``-``: stdin); ``position[0]`` follows the
    bytes read, for the progress bar."""
    for name in paths:
        stream = sys.stdin if name == "-" else open(name, encoding="utf-8")  # noqa: SIM115
        try:
            last_height = 0
            for lineno, line in enumerate(stream, 1):
                position[0] += len(line.encode())
                try:
                    request = parse_line(line, lineno, last_height)
                except ReplayInputError as exc:
                    raise ReplayInputError(exc.lineno, f"{name}: {exc}") from None
                if request is None:
                    continue
                if request.is_block:
                    last_height = request.height
                yield request
        finally:
            if stream is not sys.stdin:
                stream.close()


def post(client: httpx.Client, url: str, request: Request, headers: dict[str, str],
         tally: Tally, *, timeout: float) -> dict[str, Any]:
    """POST until 200 (see the module doc); returns the answer's JSON."""
    delay = 0.1
    while True:
        try:
            response = client.post(url + request.path, content=request.body, headers=headers,
                                   timeout=timeout)
            if response.status_code == 200:
                try:
                    answer = response.json()
                except ValueError:
                    return {}
                return answer if isinstance(answer, dict) else {}
            if not is_retryable(response.status_code):
                raise Refused(request, response.status_code, response.text)
        except httpx.HTTPError:
            pass
        tally.retries += 1
        time.sleep(delay + random.uniform(0, delay))
        delay = min(delay * 2, 3.0)


def tip_height(client: httpx.Client, url: str) -> int | None:
    """The ingester's canonical tip height from ``GET /health`` (None if unknown)."""
    try:
        body = client.get(f"{url}/health", timeout=5).json()
        return int(body["chain"]["tip"]["height"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


def warn_below_tip(request: Request, tip: int | None) -> None:
    if tip is None or request.height > tip:
        return
    print(f"adstack-replay: warning: line {request.lineno} is block {request.height}, at or "
          f"below the ingester's tip ({tip}). Blocks within its REORG_WINDOW come back as "
          f"duplicates; older 2.x blocks are kept aside, and older Nakamoto blocks are taken "
          f"as a reorg (their events reverted and published again). --from-height "
          f"{tip + 1} sends only new blocks.", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adstack-replay",
        description="Replay recorded stacks-node event-observer output into a running "
        "ingester, in order, re-sending each request until it is answered 200 (as the node "
        "does). Inputs: JSON lines from 'adstack-devnet --dump' (one /new_block payload per "
        "line, or {\"path\", \"body\"} objects) and the Hiro API's event-replay TSV (id, "
        "timestamp, path, json_body), every observer path.",
        epilog="exit status: 0 done; 1 unreadable input (the line is named); 2 the ingester "
        "refused a payload as invalid (a 4xx other than 408/425/429; the line is named).")
    parser.add_argument("inputs", nargs="+", metavar="FILE",
                        help="recordings to replay in turn ('-': standard input)")
    parser.add_argument("--url", default=os.environ.get("INGESTER_URL", "http://127.0.0.1:3700"),
                        help="the ingester's base URL (default $INGESTER_URL or "
                        "http://127.0.0.1:3700)")
    parser.add_argument("--token", default=os.environ.get("OBSERVER_TOKEN"),
                        help="the ingester's OBSERVER_TOKEN (default $OBSERVER_TOKEN)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="requests per second (default 0: as fast as the ingester "
                        "answers)")
    parser.add_argument("--from-height", type=int, default=None,
                        help="skip blocks below this Stacks height (and the lines after them)")
    parser.add_argument("--to-height", type=int, default=None,
                        help="skip blocks above this Stacks height (and the lines after them)")
    parser.add_argument("--dry-run", action="store_true",
                        help="parse and count only; post nothing")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds to wait for each answer before re-sending (default 10)")
    parser.add_argument("--json", action="store_true",
                        help="print the summary as one JSON object")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)

    total_bytes = sum(Path(p).stat().st_size for p in args.inputs if p != "-")
    position = [0]
    progress = Progress(sys.stderr, total_bytes)
    tally = Tally()
    url = args.url.rstrip("/")
    started = time.perf_counter()
    status = 0
    with httpx.Client() as client:
        try:
            replay(client, args, url, position, progress=progress, tally=tally)
        except ReplayInputError as exc:
            progress.close()
            print(f"adstack-replay: {exc}", file=sys.stderr)
            status = EXIT_INPUT
        except Refused as exc:
            progress.close()
            print(f"adstack-replay: {exc}", file=sys.stderr)
            status = EXIT_REFUSED
        except KeyboardInterrupt:
            progress.close()
            status = 130
        else:
            progress.update(position[0], tally, force=True)
            progress.close()
    tally.seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps({**tally.as_dict(), "dryRun": args.dry_run, "exit": status}))
    elif args.dry_run:
        print(f"would replay {tally.requests} requests ({tally.blocks} blocks)")
    else:
        print(tally.summary())
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    if status:
        raise SystemExit(status)


def replay(client: httpx.Client, args: argparse.Namespace, url: str, position: list[int],
           *, progress: Progress, tally: Tally) -> None:
    """Post every request of ``args.inputs`` in the height range, paced by ``--rate``
    (``--dry-run``: count them only).

    Raises:
        ReplayInputError: an unreadable line. Refused: the ingester refused a payload.
    """
    headers = {"content-type": "application/json"}
    if args.token:
        headers["authorization"] = f"Bearer {args.token}"
    interval = 1.0 / args.rate if args.rate > 0 else 0.0
    next_at = time.monotonic()
    tip = None if args.dry_run else tip_height(client, url)
    warned = False
    for request in read_requests(args.inputs, position):
        if not in_range(request, args.from_height, args.to_height):
            continue
        if request.is_block and not warned:
            warned = True
            warn_below_tip(request, tip)
        if args.dry_run:
            tally.requests += 1
            tally.blocks += int(request.is_block)
            continue
        if interval:
            wait = next_at - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            next_at = max(next_at + interval, time.monotonic() - interval)
        tally.add(request, post(client, url, request, headers, tally, timeout=args.timeout))
        progress.update(position[0], tally)

if __name__ == "__main__":
    main()
