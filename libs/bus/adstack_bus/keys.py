"""Every Redis key and channel name, in one module.

Per-contract keys share the hash tag ``{<contractId>}`` so that a contract's history, offset
counter, stats, dedup markers, fence copy and channel live on one Redis Cluster shard and
one Lua script can touch them all. The ingester's own keys and the feed channels share the
tag ``{adstack:ingester}`` for the same reason (the chain script writes them together).
"""

from __future__ import annotations

PREFIX = "adstack"
_INGESTER = "{adstack:ingester}"


def _tag(contract_id: str) -> str:
    return "{" + contract_id + "}"


def event_channel(contract_id: str) -> str:
    """Pub/sub channel carrying a contract's ``event`` / ``event_reverted`` frames."""
    return f"{PREFIX}:ev:{_tag(contract_id)}"


def history(contract_id: str) -> str:
    """Stream of the contract's recent frames; entry id ``<offset>-0``."""
    return f"{PREFIX}:hist:{_tag(contract_id)}"


def meta(contract_id: str) -> str:
    """Hash ``{epoch, offset}``: the identity and position of the contract's history."""
    return f"{PREFIX}:meta:{_tag(contract_id)}"


def stats(contract_id: str) -> str:
    """Hash ``{total, t:<type>…, last}`` of per-contract counters."""
    return f"{PREFIX}:stats:{_tag(contract_id)}"


def seen(contract_id: str, event_id: str) -> str:
    """Dedup marker of one event; its value is ``<offset>:<type>`` as it was published.

    A revert deletes it, so the event is published again if its block is re-applied.
    """
    return seen_prefix(contract_id) + event_id


def seen_prefix(contract_id: str) -> str:
    """:func:`seen` without the event id: the publish script appends each id itself (the
    markers share the contract's hash tag, so they live on the script's shard)."""
    return f"{PREFIX}:seen:{_tag(contract_id)}:"


def reverted(contract_id: str) -> str:
    """Set of ids of this contract's events withdrawn by a reorg (hidden from history)."""
    return f"{PREFIX}:rev:{_tag(contract_id)}"


def publish_keys(contract_id: str, fence_key: str) -> list[str]:
    """KEYS of the publish script, in its order (see the header of publish.lua)."""
    return [meta(contract_id), history(contract_id), stats(contract_id),
            reverted(contract_id), fence_key]


def revert_keys(contract_id: str, event_ids: list[str], fence_key: str) -> list[str]:
    """KEYS of the revert script, in its order (see the header of revert.lua)."""
    return [*publish_keys(contract_id, fence_key), *(seen(contract_id, i) for i in event_ids)]


def contract_from_channel(channel: str) -> str:
    """Inverse of :func:`event_channel`."""
    start = channel.index("{") + 1
    return channel[start : channel.rindex("}")]


BLOCK_CHANNEL = f"{PREFIX}:{_INGESTER}:feed:block"
"""Pub/sub channel of the ``block`` feed."""

TRANSACTION_CHANNEL = f"{PREFIX}:{_INGESTER}:feed:tx"
"""Pub/sub channel of the ``transaction`` feed."""

GLOBAL_CHANNEL = f"{PREFIX}:{_INGESTER}:feed:global"
"""Pub/sub channel of ``{"event": "global_events", "data": [{contractId, type, timestamp}…]}``,
one message per published block: what gateways with ``GLOBAL_EVENTS=true`` fan out."""

CHAIN_SEEN = f"{PREFIX}:{_INGESTER}:source:seen"
"""Hash ``{at: ms, holder: ingester id}``: when the leader ingester last heard from its chain
source (what a gateway's ``/health`` calls ``stacksWebSocket``)."""

CONTRACTS = f"{PREFIX}:contracts"
"""Set of every contract id that has published at least one event."""

CHECKPOINT = f"{PREFIX}:{_INGESTER}:checkpoint"
"""Hash ``{height, hash, indexBlockHash}`` of the canonical tip the ingester processed last."""

LEADER = f"{PREFIX}:{_INGESTER}:leader"
"""The ingester leader lease (value: the holder's id; expires unless renewed)."""

FENCE = f"{PREFIX}:{_INGESTER}:fence"
"""Monotonic fencing token, incremented by each new leader.

Every publish, revert and chain write passes it as an extra key and is refused unless the
caller's token is the current one. On Redis Cluster a contract's scripts cannot reach this
key (another slot), so they use :func:`contract_fence` instead.
"""


def contract_fence(contract_id: str) -> str:
    """Redis Cluster only: the highest fencing token that wrote this contract.

    The contract's scripts refuse a token lower than it and raise it to theirs, so once a
    new leader has written a contract, a paused old leader can no longer write it.
    """
    return f"{PREFIX}:fence:{_tag(contract_id)}"

CHAIN_BLOCKS = f"{PREFIX}:{_INGESTER}:chain:blocks"
"""Sorted set of recently seen blocks (score: height, member: index block hash), both
canonical and side-fork ones; trimmed to the reorg window."""

CHAIN_CANON = f"{PREFIX}:{_INGESTER}:chain:canon"
"""Hash height → index block hash of the canonical chain within the reorg window."""


def chain_block(index_block_hash: str) -> str:
    """One block's record (msgpack: height, parent, hashes, its published events); TTL."""
    return f"{PREFIX}:{_INGESTER}:chain:blk:{index_block_hash.lower()}"
