"""The channel → sessions index, and delivery of bus messages to sessions.

Each gateway subscribes in Redis only to the channels its own sessions need
(reference-counted). :meth:`Hub.deliver` runs once per bus message, decodes its routing
header once, and offers the same :class:`Outgoing` to every matching session without
awaiting any of them; the hub's :class:`Flusher` then writes each session's frames of the
iteration at once. Metrics are per message, never per client: one counter increment with
the number of clients reached, and one relay-latency sample taken after the flush.
"""

from __future__ import annotations

import asyncio
import logging
import time

import msgspec

from adstack_auth import can_subscribe
from adstack_bus import BusUnavailable, ChannelSubscriber, HistoryStore, keys
from adstack_gateway.metrics import (
    observe_relay_since,
    record_bus_malformed,
    record_delivery,
    record_resume_gap,
)
from adstack_gateway.outgoing import Outgoing, history_message
from adstack_gateway.recovery import read_missed
from adstack_gateway.rules import DELIVER, GAP, Subscription, admit
from adstack_gateway.session import Flusher, Session
from adstack_protocol import ServerEvent, wire

log = logging.getLogger(__name__)

FEED_CHANNELS = {ServerEvent.BLOCK.value: keys.BLOCK_CHANNEL,
                 ServerEvent.TRANSACTION.value: keys.TRANSACTION_CHANNEL}


class Hub:
    """Routes bus messages to local sessions. One per gateway process."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self.subscriber: ChannelSubscriber | None = None
        self._contracts: dict[str, dict[Session, Subscription]] = {}
        self._channel_contract: dict[str, str] = {}
        self._feeds: dict[str, set[Session]] = {name: set() for name in FEED_CHANNELS}
        self._feed_by_channel = {channel: name for name, channel in FEED_CHANNELS.items()}
        self._global: set[Session] = set()
        """Sessions that get ``global_event`` (GLOBAL_EVENTS=true: every session)."""
        self.positions: dict[str, tuple[str, int]] = {}
        self._held: dict[str, list[Outgoing]] = {}
        """Per contract: live messages held while the bus reconnects (see bus_lost)."""
        self._losses: dict[str, int] = {}
        """Per contract: how many times its link was lost (a reposition started before the
        latest loss is stale)."""
        """Last (epoch, offset) seen live per contract: what a reconnect re-reads after."""
        self.delivered = 0
        self.bad_messages = 0
        self.flusher = Flusher()
        """Writes the direct-path sessions' frames once per event-loop iteration."""
        self._stamps: list[int] = []
        """``publishedAt`` of the events routed this iteration (timed after the flush)."""

    def bind(self, subscriber: ChannelSubscriber) -> None:
        self.subscriber = subscriber

    # -- subscriptions -------------------------------------------------------------------

    async def add(self, session: Session, contract_id: str, sub: Subscription) -> bool:
        """Register ``sub``; subscribe the channel in Redis if it is the first local user.

        Returns True once the Redis subscription is confirmed (events from now on arrive).
        """
        sessions = self._contracts.get(contract_id)
        first = sessions is None
        if sessions is None:
            sessions = {}
            self._contracts[contract_id] = sessions
            channel = keys.event_channel(contract_id)
            self._channel_contract[channel] = contract_id
        sessions[session] = sub
        assert self.subscriber is not None, "hub used before bind()"
        confirmed = await self.subscriber.subscribe(keys.event_channel(contract_id))
        if first:
            log.debug("subscribed channel of %s", contract_id)
        return confirmed

    async def remove(self, session: Session, contract_id: str) -> None:
        """Drop the session's subscription; unsubscribe in Redis if it was the last."""
        sessions = self._contracts.get(contract_id)
        if sessions is None or session not in sessions:
            return
        del sessions[session]
        if not sessions:
            del self._contracts[contract_id]
            channel = keys.event_channel(contract_id)
            self._channel_contract.pop(channel, None)
            self.positions.pop(contract_id, None)
            self._held.pop(contract_id, None)
            self._losses.pop(contract_id, None)
            if self.subscriber is not None:
                await self.subscriber.unsubscribe(channel)

    async def set_feed(self, session: Session, feed: str, on: bool) -> None:
        members = self._feeds[feed]
        channel = FEED_CHANNELS[feed]
        if on:
            members.add(session)
            if self.subscriber is not None:
                await self.subscriber.subscribe(channel)
        else:
            members.discard(session)
            if not members and self.subscriber is not None:
                await self.subscriber.unsubscribe(channel)

    async def subscribe_global(self) -> bool:
        """GLOBAL_EVENTS=true: subscribe the ``global_events`` channel for good (before the
        gateway serves, so a client's first ``global_event`` follows its ``connected``)."""
        assert self.subscriber is not None, "hub used before bind()"
        return await self.subscriber.subscribe(keys.GLOBAL_CHANNEL)

    def add_global(self, session: Session) -> None:
        """Send ``session`` every ``global_event`` its token allows (until it closes)."""
        self._global.add(session)

    async def drop_session(self, session: Session) -> None:
        """Remove everything a closed session held."""
        self._global.discard(session)
        for contract_id in list(session.subscriptions):
            await self.remove(session, contract_id)
        session.subscriptions.clear()
        for feed in list(session.feeds):
            await self.set_feed(session, feed, False)
        session.feeds.clear()

    def local_channels(self) -> int:
        return len(self._contracts)

    # -- delivery ------------------------------------------------------------------------

    def deliver(self, channel: str, raw: bytes) -> None:
        """Route one bus message to the matching local sessions (never awaits)."""
        if channel == keys.GLOBAL_CHANNEL:
            self._route_global(raw)
            return
        try:
            message = Outgoing.from_wire(raw)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
            self.bad_messages += 1
            record_bus_malformed()
            log.warning("dropped a malformed bus message on %s", channel)
            return
        feed = self._feed_by_channel.get(channel)
        if feed is not None:
            members = self._feeds[feed]
            for session in members:
                session.offer(message)
            self._count(message, len(members))
            return
        contract_id = self._channel_contract.get(channel)
        if contract_id is None:
            return
        held = self._held.get(contract_id)
        if held is not None:
            held.append(message)
            return
        self._route_contract(contract_id, message)

    def _route_global(self, raw: bytes) -> None:
        """One block's ``global_events`` → a ``global_event`` per event, to every session
        whose token's ``contracts`` claim allows the event's contract."""
        try:
            batch = _global_decoder.decode(raw).data
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
            self.bad_messages += 1
            record_bus_malformed()
            log.warning("dropped a malformed global_events message")
            return
        for item in batch:
            message = Outgoing(ServerEvent.GLOBAL_EVENT, data=wire.global_event_data(
                item.contractId, item.type, item.timestamp))
            for session in self._global:
                if can_subscribe(session.claims, item.contractId):
                    session.offer(message)

    def bus_lost(self, channels: frozenset[str]) -> None:
        """A Redis subscription carrying ``channels`` dropped: hold their live messages
        until :meth:`reposition` (with Redis Cluster, one shard's; the others flow on).

        Messages that arrive after the resubscribe must not overtake the ones missed while
        disconnected (the per-session offset check would then drop the missed ones).
        """
        for channel in channels:
            contract_id = self._channel_contract.get(channel)
            if contract_id is not None:
                self._held.setdefault(contract_id, [])
                self._losses[contract_id] = self._losses.get(contract_id, 0) + 1

    async def reposition(self, channels: frozenset[str]) -> None:
        """After a bus reconnect: re-read from history what each channel missed, in order,
        then release the live messages held meanwhile.

        If the link drops again before a contract is done, its re-read is abandoned and its
        messages stay held: the next reconnect's reposition takes over (two re-reads of one
        contract never interleave).
        """
        for channel in channels:
            contract_id = self._channel_contract.get(channel)
            if contract_id is None:
                continue
            losses = self._losses.get(contract_id, 0)
            done = False
            for attempt in range(20):
                if self._losses.get(contract_id, 0) != losses:
                    break
                try:
                    done = await self._replay_missed(contract_id, losses)
                    break
                except BusUnavailable:
                    # Redis may answer pub/sub before it answers reads: keep holding.
                    await asyncio.sleep(min(1.0, 0.05 * 2**attempt))
            else:
                done = True
                log.warning("could not re-read history of %s after reconnect; its "
                            "subscribers are told of the gap when live messages resume",
                            contract_id)
            if not done or self._losses.get(contract_id, 0) != losses:
                continue  # lost again meanwhile: the next reposition re-reads it
            held = self._held.pop(contract_id, [])
            for message in held:
                self._route_contract(contract_id, message)

    async def _replay_missed(self, contract_id: str, losses: int) -> bool:
        """Re-read what the contract's subscribers missed while the link was down.

        Each subscriber whose continuity cannot be proven (:func:`continuity.resume`: the
        history no longer holds the offset after its last one, or the epoch changed) is
        told so first — the ``subscribed {recovered: false}`` notice a ``since`` subscribe
        gets, with the offset the replay starts after — then every retained event follows.

        Returns False, having changed nothing, if the link was lost again meanwhile.
        """
        sessions = self._contracts.get(contract_id)
        if not sessions:
            return True
        # Buffered subscriptions are in the middle of their own `since` recovery.
        missed, page = await read_missed(
            self.store, contract_id,
            [(sub.epoch, sub.last_offset) for sub in sessions.values() if sub.buffer is None])
        if self._losses.get(contract_id, 0) != losses:
            return False
        sessions = self._contracts.get(contract_id, {})
        resuming = [(session, sub) for session, sub in sessions.items() if sub.buffer is None]
        epoch, first = missed.epoch, missed.first
        gaps = 0
        for session, sub in resuming:
            verdict = missed.decide(sub.epoch, sub.last_offset)
            if verdict.continuous:
                continue
            gaps += 1
            sub.epoch, sub.last_offset = verdict.epoch, verdict.after
            session.offer(gap_notice(contract_id, sub, verdict.outcome))
        if gaps:
            record_resume_gap(gaps)
            log.warning("bus reconnect: %d subscribers of %s told recovered:false (%s)", gaps,
                        contract_id, "no history" if epoch is None else
                        f"epoch {epoch}, history from {first}")
        for data, entry_offset, kind in zip(page.events, page.offsets, page.kinds, strict=True):
            self._route_contract(contract_id, history_message(data, kind, entry_offset,
                                                              epoch or ""))
        if page.offsets:
            log.info("recovered %d missed messages of %s after reconnect", len(page.offsets),
                     contract_id)
        return True

    def _route_contract(self, contract_id: str, message: Outgoing) -> None:
        if message.offset:
            self.positions[contract_id] = (message.epoch, message.offset)
        count = 0
        deliver = DELIVER
        for session, sub in self._contracts.get(contract_id, {}).items():
            # The per-client rule (rules.admit) inline: one call, no allocation per client.
            outcome = admit(sub, message)
            if outcome == deliver:
                session.offer(message)
                count += 1
            elif outcome == GAP and _after_gap(session, sub, message, contract_id):
                count += 1
        self._count(message, count)

    def _count(self, message: Outgoing, clients: int) -> None:
        """Metrics for one message offered to ``clients`` sessions (never per client)."""
        if not clients:
            return
        self.delivered += clients
        record_delivery(clients, frame=message.event, event_type=message.event_type,
                        source=message.source)
        if message.published_at:
            if not self._stamps:
                self.flusher.after_flush(self._observe_latency)
            self._stamps.append(message.published_at)

    def _observe_latency(self) -> None:
        """Relay latency of this iteration's events, once the flush has written them."""
        now = time.time()
        for stamp in self._stamps:
            observe_relay_since(stamp, now)
        self._stamps.clear()


_global_decoder = wire.GLOBAL_EVENTS_PEEK
"""The wire codec's reading of a ``global_events`` frame."""


def gap_notice(contract_id: str, sub: Subscription, reason: str) -> Outgoing:
    """``subscribed {recovered: false}`` for a subscription that resumes after a gap: the
    same body a ``subscribe`` with ``since`` gets, with the offset the replay starts after.
    """
    return Outgoing(ServerEvent.SUBSCRIBED, data=wire.gap_notice_data(
        contract_id, sub.event_types, epoch=sub.epoch, offset=sub.last_offset, reason=reason))


def route(session: Session, sub: Subscription, message: Outgoing, contract_id: str) -> bool:
    """Offer ``message`` to one subscription as :func:`adstack_gateway.rules.admit` decides:
    buffer while recovering, drop duplicates, tell of a gap first, filter by event type.

    Returns True if it was offered to the session now.
    """
    outcome = admit(sub, message)
    if outcome == DELIVER:
        session.offer(message)
        return True
    return outcome == GAP and _after_gap(session, sub, message, contract_id)


def _after_gap(session: Session, sub: Subscription, message: Outgoing,
               contract_id: str) -> bool:
    """Tell the client of the gap ``admit`` found before ``message``, then offer the message
    (its subscription now stands right before it). True if the message was offered."""
    session.offer(gap_notice(contract_id, sub, "gap"))
    record_resume_gap(1)
    if admit(sub, message) == DELIVER:
        session.offer(message)
        return True
    return False
