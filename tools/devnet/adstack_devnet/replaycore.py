"""The pure core of ``adstack-replay``: recorded node output → observer requests. No I/O.

Two input formats, told apart line by line:

- **JSON lines** as ``adstack-devnet --dump`` writes them: one ``/new_block`` payload per
  line (a JSON object with ``block_height``). An object ``{"path": "/…", "body": {…}}``
  carries any other observer path.
- **The Hiro API's event-replay TSV** (``event_observer_requests`` exports): ``id``,
  ``receive_timestamp``, ``path``, ``json_body`` separated by tabs; every observer path.

The body is sent exactly as recorded (TSV) or re-serialised from the parsed object (JSON
lines). Blank lines and lines starting with ``#`` are skipped.

Height filter: a ``/new_block`` line has its ``block_height``; every other line takes the
height of the last ``/new_block`` line before it in the file (0 before the first), so
burn blocks, microblocks and mempool posts between two kept blocks are kept too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

OBSERVER_PATHS = frozenset({
    "/new_block", "/new_burn_block", "/new_mempool_tx", "/drop_mempool_tx",
    "/new_microblocks", "/attachments/new", "/stackerdb_chunks", "/proposal_response",
    "/mined_block", "/mined_microblock", "/mined_nakamoto_block",
})
"""The paths a stacks-node posts to an event observer (reference §3)."""


class ReplayInputError(ValueError):
    """A line that is neither a devnet dump line nor an event-replay TSV row."""

    def __init__(self, lineno: int, message: str) -> None:
        super().__init__(f"line {lineno}: {message}")
        self.lineno = lineno


@dataclass(frozen=True, slots=True)
class Request:
    """One recorded POST to replay."""

    lineno: int
    path: str
    body: bytes
    height: int
    """The Stacks block height the line belongs to (see the module doc)."""
    is_block: bool
    index_block_hash: str = ""


def _height_of(body: Any) -> tuple[int, str] | None:
    if not isinstance(body, dict):
        return None
    height = body.get("block_height")
    if isinstance(height, bool) or not isinstance(height, int) or height < 0:
        return None
    return height, str(body.get("index_block_hash", ""))


def parse_line(line: str, lineno: int, last_height: int) -> Request | None:
    """One input line → a request (None for a blank or comment line).

    Raises:
        ReplayInputError: the line is malformed (names the line and why).
    """
    text = line.rstrip("\r\n")
    if not text.strip() or text.lstrip().startswith("#"):
        return None
    if text.lstrip().startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise ReplayInputError(lineno, f"invalid JSON: {exc}") from None
        if isinstance(obj, dict) and isinstance(obj.get("path"), str) and "body" in obj:
            path, body = obj["path"], obj["body"]
        else:
            path, body = "/new_block", obj
        raw = json.dumps(body, separators=(",", ":")).encode()
    else:
        parts = text.split("\t", 3)
        if len(parts) != 4:
            raise ReplayInputError(
                lineno, "neither a JSON object (adstack-devnet --dump) nor an event-replay TSV "
                f"row (id, timestamp, path, json_body): {len(parts)} tab-separated fields")
        path, payload = parts[2], parts[3]
        try:
            body = json.loads(payload)
        except ValueError as exc:
            raise ReplayInputError(lineno, f"invalid json_body: {exc}") from None
        raw = payload.encode()
    if path not in OBSERVER_PATHS:
        raise ReplayInputError(lineno, f"unknown observer path {path!r}")
    if path == "/new_block":
        found = _height_of(body)
        if found is None:
            raise ReplayInputError(lineno, "a /new_block body without a valid block_height")
        return Request(lineno, path, raw, found[0], True, found[1])
    return Request(lineno, path, raw, last_height, False)


def parse_lines(lines: Iterable[str], *, start: int = 1) -> Iterator[Request]:
    """Every request in ``lines``, in order (lines numbered from ``start``)."""
    last_height = 0
    for lineno, line in enumerate(lines, start):
        request = parse_line(line, lineno, last_height)
        if request is None:
            continue
        if request.is_block:
            last_height = request.height
        yield request


def in_range(request: Request, from_height: int | None, to_height: int | None) -> bool:
    """Whether ``request`` passes ``--from-height``/``--to-height`` (both inclusive)."""
    if from_height is not None and request.height < from_height:
        return False
    return to_height is None or request.height <= to_height


def select(requests: Iterable[Request], from_height: int | None = None,
           to_height: int | None = None) -> Iterator[Request]:
    """The requests within the height range, in input order."""
    return (r for r in requests if in_range(r, from_height, to_height))


RETRYABLE = frozenset({408, 425, 429})
"""4xx answers that mean "try again" (timeouts, rate limits). Every 5xx is retryable too;
any other 4xx means the ingester refused the payload itself."""


def is_retryable(status: int) -> bool:
    return status >= 500 or status in RETRYABLE


@dataclass(slots=True)
class Tally:
    """The summary: what the ingester said about everything replayed."""

    requests: int = 0
    blocks: int = 0
    published: int = 0
    duplicates: int = 0
    reverted: int = 0
    held: int = 0
    """Blocks the ingester kept aside: a side fork, or older than its ``REORG_WINDOW``."""
    retries: int = 0
    seconds: float = 0.0

    def add(self, request: Request, answer: dict[str, Any]) -> None:
        """Count one request answered 200 with ``answer`` (its JSON body)."""
        self.requests += 1
        self.blocks += int(request.is_block)
        for name in ("published", "duplicates", "reverted"):
            value = answer.get(name, 0)
            if isinstance(value, int) and not isinstance(value, bool):
                setattr(self, name, getattr(self, name) + value)
        self.held += answer.get("held") is True

    def as_dict(self) -> dict[str, Any]:
        rate = self.seconds or 1e-9
        return {"requests": self.requests, "blocks": self.blocks,
                "published": self.published, "duplicates": self.duplicates,
                "reverted": self.reverted, "held": self.held, "retries": self.retries,
                "seconds": round(self.seconds, 3),
                "blocksPerSecond": round(self.blocks / rate, 1),
                "eventsPerSecond": round((self.published + self.duplicates) / rate, 1)}

    def summary(self) -> str:
        d = self.as_dict()
        return (f"replayed {d['requests']} requests ({d['blocks']} blocks) in "
                f"{d['seconds']:.2f} s: {d['published']} events published, "
                f"{d['duplicates']} duplicates, {d['reverted']} reverted, {d['held']} blocks "
                f"held, {d['retries']} retries; {d['blocksPerSecond']} blocks/s, "
                f"{d['eventsPerSecond']} events/s")
