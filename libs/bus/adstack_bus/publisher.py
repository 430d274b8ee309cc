"""The ingester's write path: one atomic Lua call per contract per batch.

The bus moves opaque frames: it does not know the event model. An event is anything with
``id``, ``type`` and ``contractId`` whose JSON object the wire codec
(:mod:`adstack_protocol.wire`) turns into the head the publish script completes; a revert
notice likewise (``contractId``, ``ids``).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any, Protocol

import msgspec
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError, ResponseError

from adstack_bus import keys
from adstack_bus.errors import BusUnavailable, NotLeader
from adstack_protocol import wire


class Publishable(Protocol):
    """An event as the publish script needs it (an ``adstack_events.ContractEvent``)."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def contractId(self) -> str: ...


class Revertible(Protocol):
    """A revert notice (an ``adstack_events.EventReverted``): one contract's ids."""

    @property
    def contractId(self) -> str: ...
    @property
    def ids(self) -> list[str]: ...


def _script(name: str) -> str:
    """A Lua script with the shared fencing prelude (``fence.lua``) in front."""
    package = resources.files("adstack_bus")
    return package.joinpath("fence.lua").read_text() + package.joinpath(name).read_text()


_PUBLISH_LUA = _script("publish.lua")
_REVERT_LUA = _script("revert.lua")
_strings_encoder = msgspec.msgpack.Encoder()


def lua_strings(parts: Iterable[str | bytes]) -> bytes:
    """``parts`` as one script argument that Lua reads with ``cmsgpack.unpack``: a msgpack
    array of strings (bytes go as str: Redis's cmsgpack cannot read the bin types)."""
    return _strings_encoder.encode([p.decode() if isinstance(p, bytes) else p for p in parts])


def bus_error(exc: BaseException, what: str) -> BusUnavailable:
    """The :class:`BusUnavailable` (or :class:`NotLeader`) for a redis-py failure."""
    if isinstance(exc, ResponseError) and "NOTLEADER" in str(exc):
        return NotLeader(f"{what} refused: {exc}")
    return BusUnavailable(f"{what} failed: {type(exc).__name__}")


class PublishResult(msgspec.Struct):
    """What one :meth:`Publisher.publish_events` call did."""

    published: int = 0
    duplicates: int = 0
    offsets: dict[str, int] = msgspec.field(default_factory=dict)
    """Event id → offset, for the events published now."""


class Publisher:
    """Publishes contract events and feed messages to Redis.

    Guarantees: for each contract, the offset order equals the history order equals the
    pub/sub order, because one Lua script does all three; an event id seen within
    ``dedup_ttl`` is never published again. On any Redis failure it raises
    :class:`BusUnavailable`; the caller must answer the node non-200 so it re-sends, and the
    events already published are then dropped as duplicates.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        history_limit: int = 100,
        history_ttl: int = 3600,
        dedup_ttl: int = 3 * 86400,
        cluster: bool = False,
        fence: int | None = None,
    ) -> None:
        self._redis = redis
        self._script = redis.register_script(_PUBLISH_LUA)
        self._revert = redis.register_script(_REVERT_LUA)
        self.fence: int | None = fence
        """The caller's fencing token (see :mod:`adstack_bus.lease`); None = no check."""
        self.history_limit = history_limit
        self.history_ttl = history_ttl
        self.dedup_ttl = dedup_ttl
        self.cluster = cluster
        """Redis Cluster: sharded pub/sub, per-contract fence marks, no cross-slot pipelines."""
        self._publish_cmd = "SPUBLISH" if cluster else "PUBLISH"

    async def publish_events(self, events: Sequence[Publishable]) -> PublishResult:
        """Publish ``events`` (already in the order clients must see them).

        Raises:
            BusUnavailable: Redis failed; some contracts may be published, none partially.
        """
        by_contract: dict[str, list[Publishable]] = {}
        for event in events:
            by_contract.setdefault(event.contractId, []).append(event)
        if not by_contract:
            return PublishResult()
        now_ms = int(time.time() * 1000)
        result = PublishResult()
        calls = [(keys.publish_keys(contract_id, self._fence_key(contract_id)),
                  self._args(contract_id, batch, now_ms))
            for contract_id, batch in by_contract.items()]
        try:
            if self.cluster:
                # One slot per contract: run the scripts side by side, not in a pipeline.
                replies = list(await asyncio.gather(
                    *(self._script(keys=k, args=a) for k, a in calls)))
                await self._redis.sadd(keys.CONTRACTS, *by_contract)
            else:
                replies = await self._pipelined(self._script, calls, list(by_contract))
        except (RedisError, OSError) as exc:
            raise bus_error(exc, "publish") from exc
        for (_contract, batch), offsets in zip(by_contract.items(), replies, strict=False):
            for event, offset in zip(batch, offsets, strict=True):
                if int(offset) > 0:
                    result.published += 1
                    result.offsets[event.id] = int(offset)
                else:
                    result.duplicates += 1
        return result

    async def _pipelined(self, script: AsyncScript,
                         calls: list[tuple[list[str], list[bytes | str | int]]],
                         contracts: Sequence[str] = ()) -> list[Any]:
        """Run ``script`` once per (keys, args) call, and add ``contracts`` to the contract
        set, in one round trip.

        redis-py's own script-in-pipeline support asks ``SCRIPT EXISTS`` first, a second
        round trip; here EVALSHA goes out directly and the script is loaded only when Redis
        answers NOSCRIPT (then the calls are sent again: both scripts are idempotent).
        """
        for attempt in (1, 2):
            async with self._redis.pipeline(transaction=False) as pipe:
                for k, a in calls:
                    pipe.execute_command("EVALSHA", script.sha, len(k), *k, *a)
                if contracts:
                    pipe.sadd(keys.CONTRACTS, *contracts)
                replies = await pipe.execute(raise_on_error=False)
            failures = [r for r in replies if isinstance(r, Exception)]
            if not failures:
                return list(replies)
            if attempt == 1 and all(isinstance(e, NoScriptError) for e in failures):
                await self._redis.script_load(script.script)
                continue
            raise next((e for e in failures if not isinstance(e, NoScriptError)), failures[0])
        raise AssertionError("unreachable")

    def _args(self, contract_id: str, batch: Sequence[Publishable],
              now_ms: int) -> list[bytes | str | int]:
        args: list[bytes | str | int] = [
            keys.event_channel(contract_id),
            secrets.token_hex(6),
            self.history_limit,
            self.history_ttl,
            self.dedup_ttl,
            now_ms,
            self._publish_cmd,
            self._token(),
            keys.seen_prefix(contract_id),
        ]
        args.append(lua_strings(part for event in batch
                                for part in (event.id, event.type, wire.event_head(event))))
        return args

    def _token(self) -> str:
        if self.fence is None:
            return "-"
        return f"h{self.fence}" if self.cluster else str(self.fence)

    def _fence_key(self, contract_id: str) -> str:
        return keys.contract_fence(contract_id) if self.cluster else keys.FENCE

    async def revert_events(self, notices: Sequence[Revertible]) -> dict[str, int]:
        """Withdraw published events, one ``event_reverted`` frame per notice that had any.

        Each notice names one contract and one orphaned block; notices are applied in the
        given order (newest block first for a reorg). Ids that are not currently published
        (never were, or already reverted) are skipped, so retrying is safe.

        Returns:
            contract id → number of events withdrawn (contracts with none are left out).

        Raises:
            NotLeader: the fencing token is stale; nothing was reverted.
            BusUnavailable: Redis failed; some notices may be applied, none partially.
        """
        todo = [n for n in notices if n.ids]
        if not todo:
            return {}
        now_ms = int(time.time() * 1000)
        token = self._token()
        calls: list[tuple[list[str], list[bytes | str | int]]] = []
        for notice in todo:
            contract_id = notice.contractId
            # The script appends the ids it withdrew, the offset and the epoch.
            head = wire.revert_head(notice)
            calls.append((
                keys.revert_keys(contract_id, notice.ids, self._fence_key(contract_id)),
                [keys.event_channel(contract_id), secrets.token_hex(6), self.history_limit,
                 self.history_ttl, self.dedup_ttl, now_ms, self._publish_cmd, token, head,
                 *notice.ids]))
        try:
            if self.cluster:
                # Notices of one contract must apply in order; contracts are independent.
                replies = []
                for k, a in calls:
                    replies.append(await self._revert(keys=k, args=a))
            else:
                replies = await self._pipelined(self._revert, calls)
        except (RedisError, OSError) as exc:
            raise bus_error(exc, "revert") from exc
        withdrawn: dict[str, int] = {}
        for notice, (_offset, count) in zip(todo, replies, strict=True):
            if int(count):
                withdrawn[notice.contractId] = withdrawn.get(notice.contractId, 0) + int(count)
        return withdrawn

    async def publish_feed(self, channel: str, payload: bytes) -> None:
        """Publish one already-encoded feed frame (``block`` / ``transaction``)."""
        try:
            await self._redis.execute_command(  # type: ignore[no-untyped-call]
                self._publish_cmd, channel, payload)
        except (RedisError, OSError) as exc:
            raise bus_error(exc, "publish") from exc

    async def ping(self) -> bool:
        """True if Redis answers."""
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False
