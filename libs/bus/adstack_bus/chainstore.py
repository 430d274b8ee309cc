"""Persistence of the ingester's recent chain view (for reorgs across failovers).

The records themselves are opaque bytes here (the ingester defines their format); this
module only knows where they live and writes them atomically with the fencing check.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from adstack_bus import keys
from adstack_bus.errors import BusUnavailable
from adstack_bus.publisher import bus_error, lua_strings
from adstack_stacks.tip import Tip

_CHAIN_LUA = resources.files("adstack_bus").joinpath("chain.lua").read_text()


class ChainSnapshot(msgspec.Struct):
    """What :meth:`ChainStore.load` read."""

    tip: Tip | None
    """The checkpoint: the canonical tip the ingester processed last."""
    canon: dict[int, str]
    records: list[bytes]


class ChainStore:
    """Reads and fenced writes of the chain view (:data:`keys.CHAIN_BLOCKS` & co)."""

    def __init__(self, redis: aioredis.Redis, *, record_ttl: int = 86400,
                 sharded: bool = False) -> None:
        self._redis = redis
        self._script = redis.register_script(_CHAIN_LUA)
        self.record_ttl = record_ttl
        self._publish_cmd = "SPUBLISH" if sharded else "PUBLISH"

    async def load(self) -> ChainSnapshot:
        """The stored tip, canonical map and every live block record."""
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(keys.CHECKPOINT)
                pipe.hgetall(keys.CHAIN_CANON)
                pipe.zrange(keys.CHAIN_BLOCKS, 0, -1)
                tip_raw, canon_raw, members = await pipe.execute()
            records: list[Any] = []
            if members:
                records = await self._redis.mget(
                    [keys.chain_block(m.decode()) for m in members])
        except (RedisError, OSError) as exc:
            raise BusUnavailable(f"chain load failed: {type(exc).__name__}") from exc
        tip = None
        if tip_raw and b"height" in tip_raw:
            tip = _tip(tip_raw)
        canon = {int(h): v.decode() for h, v in canon_raw.items()}
        return ChainSnapshot(tip=tip, canon=canon, records=[r for r in records if r])

    async def checkpoint(self) -> Tip | None:
        """Only the stored tip."""
        try:
            raw: Any = await self._redis.hgetall(keys.CHECKPOINT)
        except (RedisError, OSError) as exc:
            raise BusUnavailable(f"checkpoint read failed: {type(exc).__name__}") from exc
        if not raw or b"height" not in raw:
            return None
        return _tip(raw)

    async def commit(
        self,
        *,
        fence: int | None,
        tip: Tip | None,
        records: Sequence[tuple[int, str, bytes]] = (),
        canon_set: Sequence[tuple[int, str]] = (),
        canon_delete: Sequence[int] = (),
        feeds: Sequence[tuple[str, bytes]] = (),
        keep_from_height: int = 0,
    ) -> None:
        """Write new records (height, index hash, bytes), canonical changes, tip and feeds.

        Raises:
            NotLeader: the fencing token is stale; nothing was written.
            BusUnavailable: Redis failed; nothing was written (one script).
        """
        args: list[Any] = [
            "-" if fence is None else str(fence), self.record_ttl, keep_from_height,
            "" if tip is None else tip.height, "" if tip is None else tip.block_hash,
            "" if tip is None else tip.index_block_hash, self._publish_cmd,
            len(canon_set), len(canon_delete),
            lua_strings(part for feed in feeds for part in feed) if feeds else "",
        ]
        for height, index_hash in canon_set:
            args += [height, index_hash]
        args += list(canon_delete)
        record_keys = []
        for height, index_hash, blob in records:
            record_keys.append(keys.chain_block(index_hash))
            args += [height, index_hash.lower(), blob]
        try:
            await self._script(
                keys=[keys.FENCE, keys.CHECKPOINT, keys.CHAIN_CANON, keys.CHAIN_BLOCKS,
                      *record_keys],
                args=args)
        except (RedisError, OSError) as exc:
            raise bus_error(exc, "chain commit") from exc


def _tip(raw: dict[bytes, bytes]) -> Tip:
    """The checkpoint hash (``height``, ``hash``, ``indexBlockHash``) as a :class:`Tip`."""
    return Tip(int(raw[b"height"]), raw.get(b"hash", b"").decode(),
               raw.get(b"indexBlockHash", b"").decode())
