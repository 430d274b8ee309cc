"""Structs for everything the ingester publishes, and :func:`print_event`, the one mapping
of a decoded ``print`` to a :class:`ContractEvent` every source uses.

A contract event is encoded once by the ingester (:func:`adstack_protocol.wire.event_head`).
The Redis publish script appends the per-contract ``offset`` and ``epoch`` and wraps it as a
client frame, so the gateway relays the very same bytes to every native client (no
per-client JSON).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import msgspec

from adstack_events.contracts import event_type_from_print


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


def event_id(index_block_hash: str, txid: str, tx_event_index: int) -> str:
    """A stable event identity shared by every source.

    It is derived from (index block hash, txid, index of the event within its transaction),
    which the observer, Chainhook and the Hiro API all let us compute, so the same event
    arriving from two sources, or twice from one, dedups to one publish. Different forks
    give different ids, since the index block hash differs.
    """
    raw = f"{index_block_hash.lower()}:{txid.lower()}:{tx_event_index}".encode()
    return hashlib.blake2b(raw, digest_size=12).hexdigest()


def print_event(
    *,
    contract_id: str,
    data: Any,
    tx_id: str,
    tx_event_index: int,
    event_index: int,
    block_height: int,
    block_hash: str,
    index_block_hash: str,
    timestamp: int,
    source: str,
    published_at: int = 0,
    rename: Callable[[str, str], str] | None = None,
) -> ContractEvent:
    """The :class:`ContractEvent` of one decoded ``print`` (``data``: the Clarity value's
    JSON form), whatever the source (observer, Chainhook, Hiro, REST backfill).

    ``tx_event_index`` is the event's index within its transaction (the event id is made
    from it, so every source gives one event the same id); ``event_index`` is what the
    source calls the event's index (block-wide for the observer and Chainhook, per
    transaction for the APIs); ``timestamp`` is in milliseconds. ``rename`` maps
    (contract, type from the print) to the published type (per-contract overrides).
    """
    etype = event_type_from_print(data)
    return ContractEvent(
        id=event_id(index_block_hash, tx_id, tx_event_index),
        type=rename(contract_id, etype) if rename is not None else etype,
        contractId=contract_id,
        txId=tx_id,
        blockHeight=block_height,
        blockHash=block_hash,
        indexBlockHash=index_block_hash,
        eventIndex=event_index,
        timestamp=timestamp,
        data=data,
        source=source,
        publishedAt=published_at,
    )
