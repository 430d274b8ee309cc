"""Contract events for gateway tests, published through the real write path (Lua script)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import msgspec

from adstack_bus import Publisher, create_redis, keys
from adstack_events import ContractEvent, event_id

# Valid contract principals (c32check-correct addresses).
DEPLOYER = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM"
CAMPAIGN = f"{DEPLOYER}.promo-manager"
AUCTION = f"{DEPLOYER}.auction-engine"
PAYMENT = f"{DEPLOYER}.payment-router"
GOVERNANCE = f"{DEPLOYER}.governance"

IBH = "0x" + "cd" * 32


def make_event(contract: str, n: int, etype: str = "campaign_created", *,
               height: int | None = None, tx: str | None = None, tx_index: int = 0,
               payload: Any = None) -> ContractEvent:
    """Event number ``n`` of ``contract``; ``payload`` replaces the print's extra fields."""
    txid = tx or "0x" + hashlib.sha256(f"{contract}:{n}".encode()).hexdigest()
    data = {"event": etype.replace("_", "-"), "n": n}
    if payload is not None:
        data["payload"] = payload
    return ContractEvent(
        id=event_id(IBH, txid, tx_index), type=etype, contractId=contract, txId=txid,
        blockHeight=height if height is not None else n, blockHash="0x" + "ab" * 32,
        indexBlockHash=IBH, eventIndex=n, timestamp=n * 1000, data=data)


async def publish(redis_url: str, events: Sequence[ContractEvent],
                  history_limit: int = 100) -> None:
    """Publish ``events`` in order, as the ingester does."""
    redis = create_redis(redis_url)
    try:
        result = await Publisher(redis, history_limit=history_limit).publish_events(events)
        assert result.published == len(events), result
    finally:
        await redis.aclose()


async def publish_raw(redis_url: str, channel: str, frame: dict[str, Any]) -> None:
    """PUBLISH an already-built frame (feeds, revert notices) on ``channel``."""
    redis = create_redis(redis_url)
    try:
        await Publisher(redis).publish_feed(channel, msgspec.json.encode(frame))
    finally:
        await redis.aclose()


__all__ = ["AUCTION", "CAMPAIGN", "GOVERNANCE", "PAYMENT", "keys", "make_event", "publish",
           "publish_raw"]
