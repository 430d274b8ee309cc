"""The channel → sessions index, and delivery of bus messages to sessions.

Each gateway subscribes in Redis only to the channels its own sessions need
(reference-counted). :meth:`Hub.deliver` runs once per bus message, decodes its routing
header once, and offers the same :class:`Outgoing` to every matching session without
awaiting any of them.
"""

from __future__ import annotations

import logging

import msgspec

from adstack_bus import BusUnavailable, Store, Subscriber, keys
from adstack_gateway.routing import Outgoing, matches
from adstack_gateway.session import Session, Subscription

log = logging.getLogger(__name__)

FEED_CHANNELS = {"block": keys.BLOCK_CHANNEL, "transaction": keys.TRANSACTION_CHANNEL}


class Hub:
    """Routes bus messages to local sessions. One per gateway process."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.subscriber: Subscriber | None = None
        self._contracts: dict[str, dict[Session, Subscription]] = {}
        self._channel_contract: dict[str, str] = {}
        self._feeds: dict[str, set[Session]] = {name: set() for name in FEED_CHANNELS}
        self._feed_by_channel = {channel: name for name, channel in FEED_CHANNELS.items()}
        self.positions: dict[str, tuple[str, int]] = {}
        """Last (epoch, offset) seen live per contract: what a reconnect re-reads after."""
        self.delivered = 0
        self.bad_messages = 0

    def bind(self, subscriber: Subscriber) -> None:
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

    async def drop_session(self, session: Session) -> None:
        """Remove everything a closed session held."""
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
        try:
            message = Outgoing.from_wire(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self.bad_messages += 1
            log.warning("dropped a malformed bus message on %s", channel)
            return
        feed = self._feed_by_channel.get(channel)
        if feed is not None:
            for session in self._feeds[feed]:
                session.offer(message)
            return
        contract_id = self._channel_contract.get(channel)
        if contract_id is None:
            return
        if message.offset:
            self.positions[contract_id] = (message.epoch, message.offset)
        sessions = self._contracts.get(contract_id)
        if sessions:
            for session, sub in sessions.items():
                route(session, sub, message)

    async def reposition(self, channels: frozenset[str]) -> None:
        """After a bus reconnect: re-read from history what each channel missed."""
        for channel in channels:
            contract_id = self._channel_contract.get(channel)
            position = self.positions.get(contract_id) if contract_id else None
            if contract_id is None or position is None:
                continue
            epoch, offset = position
            try:
                page = await self.store.since(contract_id, offset)
            except BusUnavailable:
                log.warning("could not re-read history of %s after reconnect", contract_id)
                continue
            replayed = 0
            for data, entry_offset, kind in zip(page.events, page.offsets, page.kinds,
                                                strict=True):
                message = history_message(data, kind, entry_offset, epoch)
                sessions = self._contracts.get(contract_id, {})
                for session, sub in sessions.items():
                    route(session, sub, message)
                self.positions[contract_id] = (epoch, entry_offset)
                replayed += 1
            if replayed:
                log.info("recovered %d missed messages of %s after reconnect", replayed,
                         contract_id)


class _HistoryPeek(msgspec.Struct):
    type: str = ""
    epoch: str = ""


_history_peek = msgspec.json.Decoder(_HistoryPeek)


def history_message(data: bytes, kind: str, offset: int, epoch: str = "") -> Outgoing:
    """A history entry as the message a live subscriber would have received."""
    peek = _history_peek.decode(data)
    event = "event" if kind == "e" else "event_reverted"
    return Outgoing.from_event_data(event, data, event_type=peek.type, offset=offset,
                                    epoch=peek.epoch or epoch)


def route(session: Session, sub: Subscription, message: Outgoing) -> None:
    """Offer ``message`` to one subscription: buffer while recovering, drop duplicates."""
    if sub.buffer is not None:
        sub.buffer.append(message)
        return
    if message.offset:
        if message.epoch == sub.epoch and message.offset <= sub.last_offset:
            return
        sub.last_offset = message.offset
        sub.epoch = message.epoch
    if message.event != "event" or matches(sub.event_types, message.event_type):
        session.offer(message)
