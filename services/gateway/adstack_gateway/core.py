"""The session core: what the gateway does for each client command, for every transport."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

import msgspec

from adstack_auth import AuthError, Claims, TokenVerifier, can_subscribe
from adstack_bus import BusUnavailable, Store
from adstack_gateway.hub import Hub, history_message, route
from adstack_gateway.protocol import (
    Feed,
    GetHistory,
    GetStats,
    Ping,
    ProtocolError,
    Refresh,
    Subscribe,
    Unsubscribe,
    parse_command,
)
from adstack_gateway.routing import Outgoing
from adstack_gateway.session import Session, Subscription
from adstack_gateway.settings import GatewaySettings
from adstack_protocol import ErrorCode, ServerEvent
from adstack_runtime import bind_log_context

log = logging.getLogger(__name__)


def new_session_id() -> str:
    return secrets.token_urlsafe(12)


class Gateway:
    """Handles commands for sessions; owns the hub and the store."""

    def __init__(self, settings: GatewaySettings, store: Store, hub: Hub,
                 verifier: TokenVerifier | None) -> None:
        self.settings = settings
        self.store = store
        self.hub = hub
        self.verifier = verifier
        self.sessions: set[Session] = set()
        self.started = time.time()

    # -- connection lifecycle ------------------------------------------------------------

    def authenticate(self, token: str | None) -> Claims:
        """Claims for a connecting client.

        Raises:
            AuthError: the token is missing or invalid (and auth is on).
        """
        if self.verifier is None:
            # SKIP_AUTH (development only): everybody is anonymous, tokens are ignored.
            return Claims.anonymous()
        return self.verifier.verify(token)

    def open(self, session: Session) -> None:
        bind_log_context(conn=session.id)  # for the rest of this connection's task
        self.sessions.add(session)
        session.start()
        self.reply(session, ServerEvent.CONNECTED, {
            "message": "Connected to AdStack real-time gateway",
            "socketId": session.id,
            "userId": session.claims.user_id,
            "timestamp": int(time.time() * 1000),
            "limits": {
                "maxSubscriptions": self.settings.max_subscriptions,
                "maxFrameBytes": self.settings.max_frame_bytes,
                "historyLimit": self.settings.history_limit,
            },
        })

    async def close(self, session: Session) -> None:
        self.sessions.discard(session)
        await self.hub.drop_session(session)
        await session.stop()

    # -- commands ------------------------------------------------------------------------

    def reply(self, session: Session, event: str, data: Any, request_id: Any = None) -> None:
        session.offer(Outgoing(event, data=data, request_id=request_id))

    def error(self, session: Session, code: ErrorCode, message: str,
              request_id: Any = None) -> None:
        self.reply(session, ServerEvent.ERROR, {"message": message, "code": code.value},
                   request_id)

    async def handle(self, session: Session, event: str, data: Any,
                     request_id: Any = None) -> None:
        """Run one client command; every outcome is a reply or an ``error`` frame."""
        try:
            command = parse_command(event, data, request_id)
            if isinstance(command, Subscribe):
                await self._subscribe(session, command, request_id)
            elif isinstance(command, Unsubscribe):
                await self._unsubscribe(session, command, request_id)
            elif isinstance(command, GetHistory):
                await self._history(session, command, request_id)
            elif isinstance(command, GetStats):
                await self._stats(session, command, request_id)
            elif isinstance(command, Feed):
                await self._feed(session, command, request_id)
            elif isinstance(command, Refresh):
                self._refresh(session, command, request_id)
            elif isinstance(command, Ping):
                self.reply(session, ServerEvent.PONG, {"timestamp": int(time.time() * 1000)},
                           request_id)
        except ProtocolError as exc:
            self.error(session, exc.code, exc.message, request_id)

    async def _subscribe(self, session: Session, cmd: Subscribe, request_id: Any) -> None:
        contract = cmd.contract_id
        existing = session.subscriptions.get(contract)
        if existing is not None:
            # Re-subscribing replaces the event-type filter.
            existing.event_types = cmd.event_types
            self.reply(session, ServerEvent.SUBSCRIBED, self._subscribed_body(
                contract, cmd, existing, recovered=None), request_id)
            return
        if len(session.subscriptions) >= self.settings.max_subscriptions:
            raise ProtocolError(
                ErrorCode.MAX_SUBSCRIPTIONS,
                f"maximum of {self.settings.max_subscriptions} subscriptions per connection",
                request_id)
        if not can_subscribe(session.claims, contract):
            raise ProtocolError(ErrorCode.FORBIDDEN,
                                "your token does not allow this contract", request_id)
        sub = Subscription(cmd.event_types)
        if cmd.since is not None:
            sub.buffer = []
        session.subscriptions[contract] = sub
        confirmed = await self.hub.add(session, contract, sub)
        recovered: bool | None = None
        replay: list[Outgoing] = []
        if cmd.since is not None:
            recovered, replay = await self._recover(contract, cmd, sub, confirmed)
        else:
            position = await self._position(contract)
            if position is not None:
                sub.epoch, sub.last_offset = position
        self.reply(session, ServerEvent.SUBSCRIBED,
                   self._subscribed_body(contract, cmd, sub, recovered), request_id)
        if sub.buffer is not None:
            buffered, sub.buffer = sub.buffer, None
            for message in (*replay, *buffered):
                route(session, sub, message)

    async def _position(self, contract: str) -> tuple[str, int] | None:
        try:
            position = await self.store.position(contract)
        except BusUnavailable:
            return None
        return None if position is None else (position.epoch, position.offset)

    async def _recover(self, contract: str, cmd: Subscribe, sub: Subscription,
                       confirmed: bool) -> tuple[bool, list[Outgoing]]:
        """Read what the client missed since ``cmd.since``; all of it, or say it cannot."""
        since = cmd.since
        assert since is not None, "only called for a subscribe with since"
        try:
            position = await self.store.position(contract)
            if position is None:
                # No history at all: nothing was published in this epoch we can replay.
                sub.epoch, sub.last_offset = since.epoch, since.offset
                return (confirmed and since.offset == 0), []
            sub.epoch = position.epoch
            if position.epoch != since.epoch or since.offset > position.offset:
                sub.last_offset = position.offset
                return False, []
            sub.last_offset = since.offset
            if since.offset == position.offset:
                return confirmed, []
            page = await self.store.since(contract, since.offset)
        except BusUnavailable:
            return False, []
        if not page.offsets or page.offsets[0] != since.offset + 1:
            # History no longer covers the gap: never a silent partial replay.
            sub.last_offset = position.offset
            return False, []
        replay = [history_message(data, kind, offset, position.epoch)
                  for data, offset, kind in zip(page.events, page.offsets, page.kinds,
                                                strict=True)]
        return confirmed, replay

    def _subscribed_body(self, contract: str, cmd: Subscribe, sub: Subscription,
                         recovered: bool | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "contractId": contract,
            "eventTypes": sorted(cmd.event_types) if cmd.event_types else [],
            "timestamp": int(time.time() * 1000),
            "epoch": sub.epoch,
            "offset": sub.last_offset,
        }
        if recovered is not None:
            body["recovered"] = recovered
        return body

    async def _unsubscribe(self, session: Session, cmd: Unsubscribe, request_id: Any) -> None:
        if cmd.contract_id not in session.subscriptions:
            raise ProtocolError(ErrorCode.NOT_SUBSCRIBED,
                                "not subscribed to this contract", request_id)
        del session.subscriptions[cmd.contract_id]
        await self.hub.remove(session, cmd.contract_id)
        self.reply(session, ServerEvent.UNSUBSCRIBED, {
            "contractId": cmd.contract_id, "timestamp": int(time.time() * 1000)}, request_id)

    async def _history(self, session: Session, cmd: GetHistory, request_id: Any) -> None:
        limit = min(cmd.limit, self.settings.history_limit)
        try:
            events = await self.store.recent(cmd.contract_id, limit)
        except BusUnavailable as exc:
            raise ProtocolError(ErrorCode.HISTORY_ERROR, "history is unavailable; retry",
                                request_id) from exc
        # Stored event objects are spliced in as they are: no decode / re-encode.
        body = (b'{"contractId":"' + cmd.contract_id.encode() + b'","events":['
                + b",".join(events) + b'],"count":' + str(len(events)).encode()
                + b',"limit":' + str(limit).encode() + b"}")
        raw = b'{"event":"history","data":' + body
        if request_id is not None:
            raw += b',"requestId":' + _json_scalar(request_id)
        session.offer(Outgoing(ServerEvent.HISTORY, raw=raw + b"}", request_id=request_id))

    async def _stats(self, session: Session, cmd: GetStats, request_id: Any) -> None:
        try:
            stats = await self.store.stats(cmd.contract_id)
        except BusUnavailable as exc:
            raise ProtocolError(ErrorCode.STATS_ERROR, "stats are unavailable; retry",
                                request_id) from exc
        self.reply(session, ServerEvent.STATS, stats, request_id)

    async def _feed(self, session: Session, cmd: Feed, request_id: Any) -> None:
        if cmd.on:
            session.feeds.add(cmd.feed)
        else:
            session.feeds.discard(cmd.feed)
        await self.hub.set_feed(session, cmd.feed, cmd.on)
        event = ServerEvent.SUBSCRIBED if cmd.on else ServerEvent.UNSUBSCRIBED
        self.reply(session, event, {"feed": cmd.feed, "timestamp": int(time.time() * 1000)},
                   request_id)

    def _refresh(self, session: Session, cmd: Refresh, request_id: Any) -> None:
        if self.verifier is None:
            self.reply(session, ServerEvent.REFRESHED, {"expiresAt": None}, request_id)
            return
        try:
            claims = self.verifier.verify(cmd.token)
        except AuthError as exc:
            raise ProtocolError(ErrorCode.INVALID_TOKEN, exc.message, request_id) from exc
        if claims.user_id != session.claims.user_id:
            raise ProtocolError(ErrorCode.INVALID_TOKEN, "token is for another user",
                                request_id)
        session.claims = claims
        self.reply(session, ServerEvent.REFRESHED, {"expiresAt": claims.expires_at},
                   request_id)


def _json_scalar(value: Any) -> bytes:
    return msgspec.json.encode(value)
