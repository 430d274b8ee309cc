"""An in-process bus and store: the Redis backend's behaviour without Redis, for unit tests.

A real backend, not a mock (broadcaster's "the memory backend is a real backend"):
:class:`MemoryBroker` keeps what Redis keeps for the ingester and the gateways — per contract
an epoch and offset, a capped history of ``e``/``r`` entries, stats, dedup markers and the
reverted-id set — and runs pub/sub between :class:`MemoryPublisher` and every
:class:`MemorySubscriber`. The writes do what ``publish.lua`` and ``revert.lua`` do, in the
same order, and the reads what :class:`~adstack_bus.Store` does; one contract test
(``tests/integration/test_bus_contract.py``) runs against both backends so they cannot drift.

Pub/sub is asynchronous like Redis: a publish queues the frame for each subscriber whose
channel is confirmed, and the subscriber's :meth:`MemorySubscriber.run` task hands it to its
handler, in order. :meth:`MemoryBroker.cut_links` / :meth:`MemoryBroker.restore_links` drop
and bring back every pub/sub link (``on_disconnect``, then ``on_reconnect`` once the channels
are confirmed again; what was published meanwhile is lost, as with Redis); :meth:`flush` is a
Redis that restarted empty.

Not modelled: TTLs, fencing tokens (:class:`~adstack_bus.NotLeader`), Redis Cluster, the
ingester's chain store and lease. Not safe to share across event loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from adstack_bus import keys
from adstack_bus.errors import BusUnavailable
from adstack_bus.feed import ChainFeed
from adstack_bus.publisher import Publishable, PublishResult, Revertible
from adstack_bus.store import HistoryPage, Position
from adstack_bus.subscriber import DisconnectHandler, MessageHandler, ReconnectHandler
from adstack_protocol import wire

log = logging.getLogger(__name__)

# -- state --------------------------------------------------------------------------------

@dataclass(slots=True)
class _Entry:
    offset: int
    kind: str
    """``e`` event, ``r`` revert notice."""
    data: bytes


@dataclass(slots=True)
class _Contract:
    """What Redis holds under one contract's hash tag."""

    epoch: str | None = None
    offset: int = 0
    history: deque[_Entry] = field(default_factory=deque)
    seen: dict[str, str] = field(default_factory=dict)
    """Dedup markers: event id → ``<offset>:<type>``."""
    reverted: set[str] = field(default_factory=set)
    total: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    last: int | None = None

    def start_epoch(self, new_epoch: Callable[[], str]) -> str:
        if self.epoch is None:
            self.epoch = new_epoch()
            self.offset = 0
            self.history.clear()
        return self.epoch

    def append(self, entry: _Entry, cap: int) -> None:
        self.history.append(entry)
        while len(self.history) > cap:
            self.history.popleft()


class MemoryBroker:
    """One in-process "Redis": the data of every contract and the pub/sub links."""

    def __init__(self, *, new_epoch: Callable[[], str] | None = None,
                 read_turns: int = 1) -> None:
        self._new_epoch = new_epoch or (lambda: secrets.token_hex(6))
        self.read_turns = read_turns
        """Event-loop iterations a store read takes (its round trip): other tasks, such as
        the subscriber delivering live messages, run meanwhile."""
        self.contracts: dict[str, _Contract] = {}
        self.contract_ids: set[str] = set()
        self._subscribers: list[MemorySubscriber] = []
        self.links_up = True
        """False between :meth:`cut_links` and :meth:`restore_links`."""
        self.available = True
        """False: every store read and publish raises :class:`BusUnavailable`."""

    def _contract(self, contract_id: str) -> _Contract:
        state = self.contracts.get(contract_id)
        if state is None:
            state = self.contracts[contract_id] = _Contract()
        return state

    def _check(self, what: str) -> None:
        if not self.available:
            raise BusUnavailable(f"{what} failed: memory backend made unavailable")

    # -- writes (publish.lua, revert.lua) -----------------------------------------------

    def publish_heads(self, contract_id: str, items: Sequence[tuple[str, str, bytes]], *,
                      history_limit: int, now_ms: int) -> list[int]:
        """``publish.lua`` for one contract: ``items`` are (id, type, head); returns each
        one's new offset, 0 for a duplicate."""
        self._check("publish")
        state = self._contract(contract_id)
        epoch = state.start_epoch(self._new_epoch)
        channel = keys.event_channel(contract_id)
        out: list[int] = []
        published = 0
        for event_id, etype, head in items:
            if event_id in state.seen:
                out.append(0)
                continue
            state.offset += 1
            data = wire.event_data(head, state.offset, epoch)
            state.append(_Entry(state.offset, "e", data), history_limit)
            state.seen[event_id] = f"{state.offset}:{etype}"
            state.reverted.discard(event_id)
            self.publish(channel, wire.event_frame(data))
            state.by_type[etype] = state.by_type.get(etype, 0) + 1
            out.append(state.offset)
            published += 1
        if published:
            state.total += published
            state.last = now_ms
        self.contract_ids.add(contract_id)
        return out

    def revert_ids(self, contract_id: str, head: bytes, ids: Sequence[str], *,
                   history_limit: int, now_ms: int) -> tuple[int, int]:
        """``revert.lua`` for one notice: returns (offset, ids withdrawn), (0, 0) if none
        was published."""
        self._check("revert")
        state = self._contract(contract_id)
        withdrawn: list[str] = []
        for event_id in ids:
            marker = state.seen.pop(event_id, None)
            if marker is None:
                continue
            etype = marker.partition(":")[2] or "print"
            state.reverted.add(event_id)
            state.total -= 1
            state.by_type[etype] = state.by_type.get(etype, 0) - 1
            withdrawn.append(event_id)
        if not withdrawn:
            return 0, 0
        epoch = state.start_epoch(self._new_epoch)
        state.offset += 1
        data = wire.revert_data(head, withdrawn, state.offset, epoch)
        state.append(_Entry(state.offset, "r", data), history_limit)
        state.last = now_ms
        self.publish(keys.event_channel(contract_id), wire.revert_frame(data))
        return state.offset, len(withdrawn)

    def publish(self, channel: str, payload: bytes) -> int:
        """PUBLISH: queue ``payload`` for every subscriber with ``channel`` confirmed;
        returns how many."""
        receivers = 0
        for subscriber in self._subscribers:
            if subscriber.accepts(channel):
                subscriber.enqueue(channel, payload)
                receivers += 1
        return receivers

    def flush(self) -> None:
        """FLUSHALL: a Redis that restarted empty (the next publish starts a new epoch)."""
        self.contracts.clear()
        self.contract_ids.clear()

    # -- pub/sub links ------------------------------------------------------------------

    def cut_links(self) -> None:
        """Every subscriber loses its connection (what was queued for it is lost)."""
        self.links_up = False
        for subscriber in list(self._subscribers):
            subscriber.lose()

    def restore_links(self) -> None:
        """Every subscriber reconnects and resubscribes; its reconnect handler then runs."""
        self.links_up = True
        for subscriber in list(self._subscribers):
            subscriber.regain()

    def attach(self, subscriber: MemorySubscriber) -> None:
        self._subscribers.append(subscriber)

    def detach(self, subscriber: MemorySubscriber) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(subscriber)

    # -- views --------------------------------------------------------------------------

    def store(self) -> MemoryStore:
        return MemoryStore(self)

    def publisher(self, *, history_limit: int = 100, **_options: Any) -> MemoryPublisher:
        return MemoryPublisher(self, history_limit=history_limit)

    def subscriber(self, on_message: MessageHandler, *,
                   on_reconnect: ReconnectHandler | None = None,
                   on_disconnect: DisconnectHandler | None = None) -> MemorySubscriber:
        return MemorySubscriber(self, on_message, on_reconnect=on_reconnect,
                                on_disconnect=on_disconnect)


class MemoryPublisher:
    """:class:`~adstack_bus.Publisher`'s interface over a :class:`MemoryBroker`."""

    def __init__(self, broker: MemoryBroker, *, history_limit: int = 100) -> None:
        self._broker = broker
        self.history_limit = history_limit
        self.fence: int | None = None
        """Accepted for interface parity; the memory backend does not fence."""

    async def publish_events(self, events: Sequence[Publishable]) -> PublishResult:
        by_contract: dict[str, list[Publishable]] = {}
        for event in events:
            by_contract.setdefault(event.contractId, []).append(event)
        now_ms = int(time.time() * 1000)
        result = PublishResult()
        for contract_id, batch in by_contract.items():
            offsets = self._broker.publish_heads(
                contract_id, [(e.id, e.type, wire.event_head(e)) for e in batch],
                history_limit=self.history_limit, now_ms=now_ms)
            for event, offset in zip(batch, offsets, strict=True):
                if offset:
                    result.published += 1
                    result.offsets[event.id] = offset
                else:
                    result.duplicates += 1
        return result

    async def revert_events(self, notices: Sequence[Revertible]) -> dict[str, int]:
        now_ms = int(time.time() * 1000)
        withdrawn: dict[str, int] = {}
        for notice in notices:
            if not notice.ids:
                continue
            _offset, count = self._broker.revert_ids(
                notice.contractId, wire.revert_head(notice), notice.ids,
                history_limit=self.history_limit, now_ms=now_ms)
            if count:
                withdrawn[notice.contractId] = withdrawn.get(notice.contractId, 0) + count
        return withdrawn

    async def publish_feed(self, channel: str, payload: bytes) -> None:
        self._broker._check("publish")
        self._broker.publish(channel, payload)

    async def ping(self) -> bool:
        return self._broker.available


class MemoryStore:
    """:class:`~adstack_bus.Store`'s reads over a :class:`MemoryBroker`."""

    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker

    async def _state(self, contract_id: str, what: str) -> _Contract | None:
        # A read is a round trip: other tasks run meanwhile (live messages arrive during a
        # subscribe's position read, as they do with Redis).
        for _ in range(self._broker.read_turns):
            await asyncio.sleep(0)
        self._broker._check(what)
        return self._broker.contracts.get(contract_id)

    async def recent(self, contract_id: str, limit: int) -> list[bytes]:
        state = await self._state(contract_id, "history read")
        if state is None:
            return []
        out: list[bytes] = []
        seen: set[str] = set()
        # The same window as the Redis store: a little more than asked, newest first.
        window = list(state.history)[-(limit * 2 + 10):]
        for entry in reversed(window):
            if entry.kind != "e":
                continue
            event_id = _id_decoder.decode(entry.data).id
            if event_id in state.reverted or event_id in seen:
                continue
            seen.add(event_id)
            out.append(entry.data)
            if len(out) >= limit:
                break
        return out

    async def since(self, contract_id: str, offset: int) -> HistoryPage:
        state = await self._state(contract_id, "history read")
        page = HistoryPage(events=[], offsets=[], kinds=[])
        for entry in state.history if state is not None else ():
            if entry.offset > offset:
                page.events.append(entry.data)
                page.offsets.append(entry.offset)
                page.kinds.append(entry.kind)
        return page

    async def first_offset(self, contract_id: str) -> int | None:
        state = await self._state(contract_id, "history read")
        return state.history[0].offset if state is not None and state.history else None

    async def position(self, contract_id: str) -> Position | None:
        state = await self._state(contract_id, "position read")
        if state is None or state.epoch is None:
            return None
        return Position(epoch=state.epoch, offset=state.offset)

    async def stats(self, contract_id: str) -> dict[str, Any]:
        state = await self._state(contract_id, "stats read")
        if state is None:
            return {"contractId": contract_id, "total": 0, "byType": {}, "lastUpdated": None}
        return {"contractId": contract_id, "total": state.total,
                "byType": {t: n for t, n in state.by_type.items() if n > 0},
                "lastUpdated": state.last}

    async def chain_feed(self) -> ChainFeed:
        await self._state("", "chain feed read")
        return ChainFeed(leader=None, heard_at=None, heard_by=None)

    async def ping(self) -> bool:
        return self._broker.available


class MemorySubscriber:
    """:class:`~adstack_bus.ChannelSubscriber` over a :class:`MemoryBroker`: call
    :meth:`run` in a task, then (un)subscribe freely."""

    def __init__(self, broker: MemoryBroker, on_message: MessageHandler, *,
                 on_reconnect: ReconnectHandler | None = None,
                 on_disconnect: DisconnectHandler | None = None) -> None:
        self._broker = broker
        self._on_message = on_message
        self._on_reconnect = on_reconnect
        self._on_disconnect = on_disconnect
        self._channels: set[str] = set()
        self._active: set[str] = set()
        """Channels confirmed on the current link."""
        self._queue: deque[tuple[str, bytes]] = deque()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = False
        self._ever_connected = False
        self._closed = False
        self.connected = asyncio.Event()
        """Set while the link is up and every channel is confirmed."""
        self.reconnects = 0
        broker.attach(self)

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._channels)

    async def subscribe(self, channel: str, *, timeout: float = 5.0) -> bool:
        """Add ``channel``; True once it is confirmed, False if the link is down (it is
        kept and confirmed on reconnect)."""
        self._channels.add(channel)
        try:
            await asyncio.wait_for(self.connected.wait(), timeout)
        except TimeoutError:
            return False
        if channel not in self._channels:
            return False  # unsubscribed meanwhile
        self._active.add(channel)
        return True

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        self._active.discard(channel)

    def accepts(self, channel: str) -> bool:
        return channel in self._active and self.connected.is_set()

    def enqueue(self, channel: str, payload: bytes) -> None:
        self._queue.append((channel, payload))
        self._wake.set()

    def lose(self) -> None:
        """The link dropped: report it with the channels it carried."""
        self._queue.clear()
        self._active.clear()
        if self.connected.is_set():
            self.connected.clear()
            if self._on_disconnect is not None and not self._closed:
                self._on_disconnect(self.channels)

    def regain(self) -> None:
        """The link is back: every channel confirmed, then the reconnect handler."""
        if not self._running or self._closed or self.connected.is_set():
            return
        self._active = set(self._channels)
        self.connected.set()
        if not self._ever_connected:
            self._ever_connected = True
            return
        self.reconnects += 1
        if self._on_reconnect is not None:
            task = asyncio.ensure_future(self._reconnected(self.channels))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _reconnected(self, channels: frozenset[str]) -> None:
        assert self._on_reconnect is not None, "only spawned with a handler"
        try:
            await self._on_reconnect(channels)
        except Exception:
            log.exception("reconnect handler failed")

    async def settle(self) -> None:
        """Wait for the reconnect handlers started so far (tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def run(self) -> None:
        """Deliver queued messages until :meth:`close`."""
        self._running = True
        if self._broker.links_up:
            self.regain()
        handler = self._on_message
        try:
            while not self._closed:
                await self._wake.wait()
                self._wake.clear()
                while self._queue and not self._closed:
                    channel, payload = self._queue.popleft()
                    if channel not in self._active:
                        continue
                    try:
                        handler(channel, payload)
                    except Exception:
                        log.exception("message handler failed for %s", channel)
        finally:
            self._running = False

    async def close(self) -> None:
        self._closed = True
        self.connected.clear()
        self._wake.set()
        self._broker.detach(self)
        for task in list(self._tasks):
            task.cancel()


class _IdOnly(msgspec.Struct):
    id: str = ""


_id_decoder = msgspec.json.Decoder(_IdOnly)
