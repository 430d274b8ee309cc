"""The Hiro API source: JSON-RPC WebSocket for new blocks, REST for their transactions.

On each connect it subscribes to ``block`` and first catches up from the checkpoint: it finds
where our canonical chain and the API's agree (walking down by height), then reads every
later canonical block, so blocks missed while disconnected (or while another replica led)
are backfilled and blocks that turned non-canonical are withdrawn. Each ``block``
notification then repeats the same catch-up up to that height. Connection failures are
retried for ever with exponential backoff and full jitter (tenacity); the backoff restarts
after a session that got as far as subscribing.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

import httpx
import msgspec
import websockets
from tenacity import AsyncRetrying, retry_if_exception_type, wait_random_exponential

from adstack_bus import BusUnavailable
from adstack_ingester import hiro
from adstack_ingester import metrics as m
from adstack_ingester.payloads import PAYLOAD_ERRORS
from adstack_ingester.pipeline import ContractFilter, DecodeFailure, TypeNames
from adstack_ingester.processor import BlockProcessor

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()


class HiroError(Exception):
    """The API answered something we cannot use (retried like a disconnect)."""


_RETRYABLE = (OSError, TimeoutError, httpx.HTTPError, websockets.WebSocketException, HiroError,
              BusUnavailable, *PAYLOAD_ERRORS)


class HiroSource:
    def __init__(
        self,
        processor: BlockProcessor,
        *,
        api_url: str,
        ws_url: str,
        allow: ContractFilter,
        type_names: TypeNames,
        api_key: str | None = None,
        backfill_max: int = 1000,
        max_backoff: float = 10.0,
        concurrency: int = 8,
    ) -> None:
        self.processor = processor
        self.api_url = api_url.rstrip("/")
        self.ws_url = ws_url
        self.allow = allow
        self.type_names = type_names
        self.backfill_max = backfill_max
        self.max_backoff = max_backoff
        self._headers = {"x-api-key": api_key} if api_key else {}
        self._limit = asyncio.Semaphore(concurrency)
        self._ids = itertools.count(1)
        self.connected = False
        self.connects = 0
        self.blocks_synced = 0
        self.decode_failures = 0
        self.last_error: str | None = None

    async def run(self) -> None:
        """Run until cancelled (the leader runs it; a standby does not)."""
        async with httpx.AsyncClient(base_url=self.api_url, headers=self._headers,
                                     timeout=httpx.Timeout(10.0)) as http:
            while True:
                retrying = AsyncRetrying(
                    retry=retry_if_exception_type(_RETRYABLE),
                    wait=wait_random_exponential(multiplier=0.2, max=self.max_backoff),
                    before_sleep=self._before_sleep,
                    reraise=True,
                )
                async for attempt in retrying:
                    with attempt:
                        await self._session(http)

    def _before_sleep(self, state: Any) -> None:
        exc = state.outcome.exception() if state.outcome else None
        self.last_error = f"{type(exc).__name__}: {exc}" if exc else None
        delay = state.next_action.sleep if state.next_action else 0.0
        log.warning("hiro source: %s; reconnecting in %.2fs (attempt %d)", self.last_error,
                    delay, state.attempt_number)

    async def _session(self, http: httpx.AsyncClient) -> None:
        async with websockets.connect(self.ws_url, open_timeout=10, ping_interval=20,
                                      ping_timeout=20, max_size=16 * 1024 * 1024) as ws:
            request_id = next(self._ids)
            await ws.send(_encoder.encode(hiro.RpcMessage(
                id=request_id, method="subscribe", params={"event": "block"})).decode())
            while True:
                reply = hiro.rpc_decoder.decode(await asyncio.wait_for(ws.recv(), 10))
                if reply.id == request_id:
                    break
            if reply.error is not None:
                raise HiroError(f"subscribe refused: {reply.error}")
            self.connected = True
            self.connects += 1
            log.info("hiro source: subscribed to blocks at %s", self.ws_url)
            try:
                await self.sync(http)
                async for raw in ws:
                    message = hiro.rpc_decoder.decode(raw)
                    if message.method != "block" or message.params is None:
                        continue
                    block = msgspec.convert(message.params, hiro.HiroBlock)
                    if not block.canonical:
                        log.info("hiro source: ignoring non-canonical block %d", block.height)
                        continue
                    await self.sync(http, target=block.height)
            finally:
                self.connected = False
        # The server closed the socket normally: reconnect (with backoff) all the same.
        raise HiroError("websocket closed by the server")

    # -- REST ------------------------------------------------------------------------

    async def _get(self, http: httpx.AsyncClient, path: str,
                   params: dict[str, Any] | None = None) -> bytes:
        async with self._limit:
            response = await http.get(path, params=params)
        if response.status_code != 200:
            raise HiroError(f"GET {path} → {response.status_code}")
        return response.content

    async def block_at(self, http: httpx.AsyncClient, height: int) -> hiro.HiroBlock:
        return hiro.block_decoder.decode(
            await self._get(http, f"/extended/v1/block/by_height/{height}"))

    async def latest_height(self, http: httpx.AsyncClient) -> int:
        page = hiro.block_list_decoder.decode(
            await self._get(http, "/extended/v1/block", {"limit": 1}))
        if not page.results:
            raise HiroError("the API has no blocks")
        return page.results[0].height

    async def transaction(self, http: httpx.AsyncClient, tx_id: str) -> hiro.HiroTx:
        """One transaction with all its events (pages of at most 100)."""
        tx = hiro.tx_decoder.decode(await self._get(
            http, f"/extended/v1/tx/{tx_id}",
            {"event_limit": hiro.EVENT_LIMIT_MAX, "event_offset": 0}))
        events = list(tx.events)
        while len(events) < tx.event_count:
            page = hiro.tx_decoder.decode(await self._get(
                http, f"/extended/v1/tx/{tx_id}",
                {"event_limit": hiro.EVENT_LIMIT_MAX, "event_offset": len(events)}))
            if not page.events:
                raise HiroError(f"tx {tx_id}: {len(events)} of {tx.event_count} events")
            events.extend(page.events)
        return msgspec.structs.replace(tx, events=events)

    # -- catch-up --------------------------------------------------------------------

    async def sync(self, http: httpx.AsyncClient, target: int | None = None) -> int:
        """Bring our chain up to the API's canonical chain at ``target`` (default: its tip).

        Returns the number of blocks processed.
        """
        state = await self.processor.ensure_loaded()
        if target is None:
            target = await self.latest_height(http)
        tip = state.tip
        if tip is None:
            # Nothing processed yet: start at the current block, not at genesis.
            start, parent = target, ""
        else:
            start, parent = await self._agreement(http, tip.height)
            start += 1
        if target - start + 1 > self.backfill_max:
            skipped_to = target - self.backfill_max + 1
            log.warning("hiro source: %d blocks behind; backfilling only from height %d",
                        target - start + 1, skipped_to)
            start, parent = skipped_to, ""
        done = 0
        for height in range(start, target + 1):
            block = await self.block_at(http, height)
            if not block.canonical:
                raise HiroError(f"block {height} is not canonical yet")
            if not parent:
                parent = state.canon.get(height - 1, "")
            await self._process(http, block, parent)
            parent = block.index_block_hash
            done += 1
        self.blocks_synced += done
        return done

    async def _agreement(self, http: httpx.AsyncClient, tip_height: int) -> tuple[int, str]:
        """(height, index hash) of the highest block on which we and the API agree."""
        state = await self.processor.ensure_loaded()
        floor = max(0, tip_height - state.window)
        height = tip_height
        while height > floor:
            ours = state.canon.get(height)
            if ours is None:
                height -= 1
                continue
            remote = await self.block_at(http, height)
            if remote.canonical and remote.index_block_hash == ours:
                return height, ours
            log.info("hiro source: our block %d %s is no longer canonical", height, ours[:12])
            height -= 1
        return floor, state.canon.get(floor, "")

    async def _process(self, http: httpx.AsyncClient, block: hiro.HiroBlock,
                       parent: str) -> None:
        txs = await asyncio.gather(*(self.transaction(http, t) for t in block.txs))
        failures: list[DecodeFailure] = []
        record = hiro.block_record(block, parent, list(txs), self.allow,
                                   now_ms=int(time.time() * 1000), failures=failures,
                                   type_names=self.type_names)
        for failure in failures:
            log.warning("hiro source: skipped undecodable print tx=%s index=%d: %s",
                        failure.txid, failure.event_index, failure.reason)
        self.decode_failures += len(failures)
        m.record_decode_failures(sum(f.event_index >= 0 for f in failures), source="hiro")
        outcome = await self.processor.process(record, reorg_to=True)
        log.info("hiro source: block %d %s: %d published, %d duplicates, %d reverted",
                 block.height, block.index_block_hash[:12], outcome.published,
                 outcome.duplicates, outcome.reverted)
