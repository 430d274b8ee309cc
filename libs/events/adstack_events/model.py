"""Structs for everything the ingester publishes.

A contract event is encoded once by the ingester. The Redis publish script appends the
per-contract ``offset`` and ``epoch`` and wraps it as a client frame, so the gateway relays
the very same bytes to every native client (no per-client JSON).
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec


class ContractEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One decoded ``print`` event, in the seed's shape plus our extra fields.

    ``offset`` and ``epoch`` are not set by the ingester: they are assigned in Redis,
    atomically with the history append and the publish, and appear in the frames clients get.
    """

    id: str
    type: str
    contractId: str
    txId: str
    blockHeight: int
    blockHash: str
    indexBlockHash: str
    eventIndex: int
    timestamp: int
    """Block time in milliseconds since the epoch (burn block time before Nakamoto)."""
    data: Any
    source: str = "observer"
    publishedAt: int = 0
    """Milliseconds since the epoch when the ingester published it (for latency figures)."""


class EventRef(msgspec.Struct, frozen=True):
    """What the publish script needs to know about an event besides its encoded body."""

    id: str
    type: str


class EventReverted(msgspec.Struct, frozen=True, kw_only=True):
    """Events of an orphaned block, withdrawn (sent to clients as ``event_reverted``)."""

    contractId: str
    ids: list[str]
    blockHash: str
    indexBlockHash: str
    blockHeight: int
    reason: str = "reorg"


class BlockFeed(msgspec.Struct, frozen=True, kw_only=True):
    """The ``block`` feed: one message per accepted block."""

    height: int
    hash: str
    indexBlockHash: str
    burnBlockHeight: int
    timestamp: int
    txCount: int


class TransactionFeed(msgspec.Struct, frozen=True, kw_only=True):
    """The ``transaction`` feed: calls to configured contracts."""

    txId: str
    contractId: str
    functionName: str | None
    sender: str | None
    status: str
    """``success``, ``abort_by_response``, ``abort_by_post_condition`` … for a mined
    transaction; ``pending`` for one entering the mempool; ``dropped_<reason>`` when the
    node drops it from the mempool."""
    blockHeight: int | None
    """None while the transaction is not in a block."""


_encoder = msgspec.json.Encoder()


def encode_event_head(event: ContractEvent) -> bytes:
    """The event's JSON object without its closing brace.

    The publish script completes it with ``,"offset":N,"epoch":"E"}``.
    """
    body = _encoder.encode(event)
    assert body.endswith(b"}"), "a Struct always encodes to a JSON object"
    return body[:-1]


def event_id(index_block_hash: str, txid: str, tx_event_index: int) -> str:
    """A stable event identity shared by every source.

    It is derived from (index block hash, txid, index of the event within its transaction),
    which the observer, Chainhook and the Hiro API all let us compute, so the same event
    arriving from two sources, or twice from one, dedups to one publish. Different forks
    give different ids, since the index block hash differs.
    """
    raw = f"{index_block_hash.lower()}:{txid.lower()}:{tx_event_index}".encode()
    return hashlib.blake2b(raw, digest_size=12).hexdigest()
