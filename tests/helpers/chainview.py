"""What clients should end up with, computed from devnet blocks through the pure pipeline."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from adstack_devnet.chain import Block
from adstack_ingester.chain import BlockRecord
from adstack_ingester.payloads import new_block_decoder
from adstack_ingester.pipeline import block_record, contract_filter

ALL = contract_filter(("*",))


def record(block: Block) -> BlockRecord:
    """A devnet block as the observer source makes it (every contract kept)."""
    return block_record(new_block_decoder.decode(json.dumps(block.payload).encode()), ALL)


def event_ids(blocks: Iterable[Block]) -> list[str]:
    return [e.id for b in blocks for e in record(b).events]


def live_ids(frames: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """(ids live at the end, ids ever reverted) from a client's frames, in order."""
    live: dict[str, None] = {}
    reverted: list[str] = []
    for frame in frames:
        if frame["event"] == "event":
            live[frame["data"]["id"]] = None
        elif frame["event"] == "event_reverted":
            for event_id in frame["data"]["ids"]:
                reverted.append(event_id)
                live.pop(event_id, None)
    return list(live), reverted
