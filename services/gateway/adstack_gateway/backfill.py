"""History backfill from a Stacks API (Hiro REST) when Redis holds fewer events than asked.

The async shell around :mod:`adstack_gateway.restmap`: it pages the contract's events
(at most 50 per request, as the API allows), looks up each transaction's and block's data
(cached: confirmed transactions do not change), and merges. Any failure leaves the Redis
history as it is: a backfill never turns a history answer into an error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import TypeVar
from urllib.parse import quote

import httpx
import msgspec

from adstack_events import ContractEvent
from adstack_gateway import metrics as m
from adstack_gateway.restmap import (
    REST_MAX_LIMIT,
    BlockInfo,
    EventsPage,
    RestEvent,
    TxInfo,
    event_from_rest,
    merge_history,
    print_events,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Lru(OrderedDict[str, T]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: str, value: T) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class RestHistory:
    """Fetches a contract's older events from ``base_url`` (e.g. ``https://api.hiro.so``)."""

    def __init__(self, base_url: str, *, timeout: float = 5.0, cache_seconds: float = 10.0,
                 concurrency: int = 8, client: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self._client = client or httpx.AsyncClient(timeout=timeout, follow_redirects=True)
        self._limit = asyncio.Semaphore(concurrency)
        self._txs: _Lru[TxInfo] = _Lru(4096)
        self._blocks: _Lru[BlockInfo] = _Lru(1024)
        self._recent: dict[tuple[str, int], tuple[float, list[ContractEvent]]] = {}
        self.requests = 0
        self.failures = 0

    async def aclose(self) -> None:
        await self._client.aclose()

    async def complete(self, contract_id: str, recent: list[bytes],
                       limit: int) -> tuple[list[bytes], int]:
        """``recent`` (Redis, newest first) completed up to ``limit`` events from REST.

        Returns the merged events and how many of them came from REST.
        """
        try:
            older = await asyncio.wait_for(self.events(contract_id, limit), self.timeout)
        except (httpx.HTTPError, msgspec.DecodeError, msgspec.ValidationError,
                UnicodeDecodeError, RecursionError, TimeoutError) as exc:
            # (msgspec raises the last two for bad UTF-8 and deep nesting in an answer.)
            self.failures += 1
            m.record_backfill("failed")
            log.warning("history backfill of %s failed: %s", contract_id,
                        type(exc).__name__)
            return recent, 0
        merged, added = merge_history(recent, older, limit)
        m.record_backfill("ok", added)
        return merged, added

    async def events(self, contract_id: str, count: int) -> list[ContractEvent]:
        """The contract's ``count`` newest canonical print events, newest first."""
        key = (contract_id, count)
        cached = self._recent.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        items: list[RestEvent] = []
        offset = 0
        while len(items) < count:
            page_limit = min(REST_MAX_LIMIT, count - len(items))
            page = msgspec.json.decode(await self._get(
                f"/extended/v1/contract/{quote(contract_id)}/events",
                {"limit": page_limit, "offset": offset}), type=EventsPage)
            items.extend(page.results)
            if len(page.results) < page_limit:
                break
            offset += len(page.results)
        prints = print_events(items, contract_id)
        tx_ids = list(dict.fromkeys(item.tx_id for item in prints))
        txs = dict(zip(tx_ids, await asyncio.gather(*(self._tx(t) for t in tx_ids)),
                       strict=True))
        hashes = list(dict.fromkeys(tx.block_hash for tx in txs.values()))
        blocks = dict(zip(hashes, await asyncio.gather(*(self._block(h) for h in hashes)),
                          strict=True))
        now_ms = int(time.time() * 1000)
        events = []
        for item in prints:
            tx = txs[item.tx_id]
            event = event_from_rest(item, tx, blocks[tx.block_hash], now_ms)
            if event is not None:
                events.append(event)
        if len(self._recent) > 1024:
            self._recent.clear()
        self._recent[key] = (now, events)
        return events

    async def _get(self, path: str, params: dict[str, int] | None = None) -> bytes:
        async with self._limit:
            self.requests += 1
            response = await self._client.get(self.base_url + path, params=params)
        response.raise_for_status()
        return response.content

    async def _tx(self, tx_id: str) -> TxInfo:
        tx = self._txs.get(tx_id)
        if tx is None:
            tx = msgspec.json.decode(await self._get(f"/extended/v1/tx/{quote(tx_id)}"),
                                     type=TxInfo)
            self._txs.put(tx_id, tx)
        return tx

    async def _block(self, block_hash: str) -> BlockInfo:
        block = self._blocks.get(block_hash)
        if block is None:
            block = msgspec.json.decode(
                await self._get(f"/extended/v1/block/{quote(block_hash)}"), type=BlockInfo)
            self._blocks.put(block_hash, block)
        return block
