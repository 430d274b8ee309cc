"""Reads of per-contract history, positions and stats (the gateways' side)."""

from __future__ import annotations

from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from adstack_bus import keys
from adstack_bus.errors import BusUnavailable
from adstack_bus.feed import ChainFeed, read_chain_feed


class Position(msgspec.Struct, frozen=True):
    """Where a contract's history stands: its epoch and the last offset published."""

    epoch: str
    offset: int


class HistoryPage(msgspec.Struct):
    """Event payloads (JSON bytes of each event's ``data`` object) with their offsets."""

    events: list[bytes]
    offsets: list[int]
    kinds: list[str]
    """``e`` for an event, ``r`` for a revert notice, parallel to ``events``."""


def _stream_offset(entry_id: bytes) -> int:
    return int(entry_id.split(b"-", 1)[0])


class Store:
    """Read access to what the publisher wrote.

    Every method raises :class:`BusUnavailable` when Redis fails.
    """

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def recent(self, contract_id: str, limit: int) -> list[bytes]:
        """Up to ``limit`` most recent events of the contract, newest first.

        Events withdrawn by a reorg and revert notices are left out.
        """
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                # Read a little more than asked: reverted entries are skipped below.
                pipe.xrevrange(keys.history(contract_id), "+", "-", count=limit * 2 + 10)
                pipe.smembers(keys.reverted(contract_id))
                entries, reverted = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BusUnavailable(f"history read failed: {type(exc).__name__}") from exc
        out: list[bytes] = []
        seen: set[bytes] = set()
        for _entry_id, fields in entries:
            if fields.get(b"k") != b"e":
                continue
            data: bytes = fields[b"d"]
            # After a reorg an id may be withdrawn, or withdrawn and published again (its
            # block re-applied): keep only its newest live entry.
            event_id = _event_id(data)
            if event_id in reverted or event_id in seen:
                continue
            seen.add(event_id)
            out.append(data)
            if len(out) >= limit:
                break
        return out

    async def since(self, contract_id: str, offset: int) -> HistoryPage:
        """Every history entry with an offset greater than ``offset``, oldest first."""
        try:
            entries: Any = await self._redis.xrange(keys.history(contract_id),
                                                   f"{offset + 1}-0", "+")
        except (RedisError, OSError) as exc:
            raise BusUnavailable(f"history read failed: {type(exc).__name__}") from exc
        page = HistoryPage(events=[], offsets=[], kinds=[])
        for entry_id, fields in entries:
            page.events.append(fields[b"d"])
            page.offsets.append(_stream_offset(entry_id))
            page.kinds.append(fields.get(b"k", b"e").decode())
        return page

    async def first_offset(self, contract_id: str) -> int | None:
        """The oldest offset still in the history, or None if it is empty."""
        try:
            entries: Any = await self._redis.xrange(keys.history(contract_id), "-", "+",
                                                   count=1)
        except (RedisError, OSError) as exc:
            raise BusUnavailable(f"history read failed: {type(exc).__name__}") from exc
        return _stream_offset(entries[0][0]) if entries else None

    async def position(self, contract_id: str) -> Position | None:
        """The contract's current epoch and offset, or None if it has no history."""
        try:
            values: Any = await self._redis.hmget(keys.meta(contract_id), "epoch", "offset")
        except (RedisError, OSError) as exc:
            raise BusUnavailable(f"position read failed: {type(exc).__name__}") from exc
        epoch, offset = values
        if epoch is None:
            return None
        return Position(epoch=epoch.decode(), offset=int(offset or 0))

    async def stats(self, contract_id: str) -> dict[str, Any]:
        """``{contractId, total, byType, lastUpdated}`` for the contract."""
        try:
            raw: Any = await self._redis.hgetall(keys.stats(contract_id))
        except (RedisError, OSError) as exc:
            raise BusUnavailable(f"stats read failed: {type(exc).__name__}") from exc
        by_type: dict[str, int] = {}
        total = 0
        last: int | None = None
        for field, value in raw.items():
            name = field.decode()
            if name == "total":
                total = int(value)
            elif name == "last":
                last = int(value)
            elif name.startswith("t:"):
                count = int(value)
                if count > 0:
                    by_type[name[2:]] = count
        return {"contractId": contract_id, "total": total, "byType": by_type, "lastUpdated": last}

    async def chain_feed(self) -> ChainFeed:
        """The ingester lease holder and its last source heartbeat (see ``feed``)."""
        return await read_chain_feed(self._redis)

    async def ping(self) -> bool:
        """True if Redis answers."""
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False


class _IdOnly(msgspec.Struct):
    id: str = ""


_id_decoder = msgspec.json.Decoder(_IdOnly)


def _event_id(data: bytes) -> bytes:
    return _id_decoder.decode(data).id.encode()
