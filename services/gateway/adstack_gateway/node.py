"""The session core: what the gateway does for each client, whatever its transport.

Both transports (native ``/ws`` in :mod:`adstack_gateway.ws`, Socket.IO in
:mod:`adstack_gateway.sio`) only move frames: they call :meth:`Gateway.handshake`,
:meth:`Gateway.new_session`, :meth:`Gateway.open`, then :meth:`Gateway.receive_text` (native
frames) or :meth:`Gateway.handle` (already decoded Socket.IO events) per command, and
:meth:`Gateway.close` when the connection ends. Every command is carried out here, once.

The node is the executor: what a command decides is pure (:class:`~adstack_gateway.rules.
ClientRules` and :mod:`adstack_gateway.commands`: refusals, the subscribe plan, the history
push, the recovery outcome, the refresh), the shape of every reply is the wire codec's
(:mod:`adstack_protocol.wire`), and what is left here are the awaits (store, hub, token
verification), the order of the replies, and the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar

from adstack_auth import AuthError, Claims, TokenVerifier
from adstack_bus import BusUnavailable, HistoryStore
from adstack_gateway import metrics as m
from adstack_gateway.backfill import RestHistory
from adstack_gateway.commands import (
    RECOVER,
    RESUBSCRIBE,
    UNRECOVERED,
    Recovery,
    SubscribePlan,
    history_limit,
    needs_backfill,
    plan_refresh,
    plan_subscribe,
    recover_since,
    select_recent,
)
from adstack_gateway.hub import Hub, route
from adstack_gateway.limits import (
    CommandLimiter,
    ConnectionCounter,
    Verdict,
    drain_offsets,
    expiry_delay,
)
from adstack_gateway.outgoing import Outgoing
from adstack_gateway.protocol import (
    Feed,
    GetHistory,
    GetStats,
    Ping,
    ProtocolError,
    Refresh,
    Subscribe,
    Unsubscribe,
    bound_request_id,
    parse_command,
    parse_frame,
)
from adstack_gateway.recovery import read_missed
from adstack_gateway.rules import Subscription
from adstack_gateway.session import Session, Transport
from adstack_gateway.settings import GatewaySettings
from adstack_protocol import Disconnect, ErrorCode, ServerEvent, wire
from adstack_runtime import bind_log_context

log = logging.getLogger(__name__)


def new_session_id() -> str:
    return secrets.token_urlsafe(12)


def client_socket_id(session: Session) -> str:
    """The id the client knows its connection by: Socket.IO's namespace socket id (what
    socket.io-client reports as ``socket.id``), else the session id."""
    sid = getattr(session.transport, "sid", None)
    return sid if isinstance(sid, str) and sid else session.id


def history_push(contract: str, events: list[bytes]) -> Outgoing:
    """The ``history`` frame pushed after ``subscribed``: ``{contractId, events, count}``
    (newest first; stored event objects spliced in as they are)."""
    return Outgoing(ServerEvent.HISTORY, raw=wire.history_push(contract, events))


def origin_allowed(origin: str | None, allowed: tuple[str, ...]) -> bool:
    """Browsers always send Origin; non-browser clients may omit it (allowed)."""
    if origin is None or "*" in allowed:
        return True
    return origin.rstrip("/") in {o.rstrip("/") for o in allowed}


class Refused(Exception):
    """A connection attempt was refused: close it as ``disconnect`` says (``code`` and
    ``reason`` are its close code and reason text)."""

    def __init__(self, disconnect: Disconnect) -> None:
        super().__init__(disconnect.reason)
        self.disconnect = disconnect
        self.code = disconnect.code
        self.reason = disconnect.reason


class _Call:
    """One command being handled: where its replies go, and the first reply it got."""

    __slots__ = ("reply", "request_id", "session")

    def __init__(self, session: Session, request_id: Any) -> None:
        self.session = session
        self.request_id = request_id
        self.reply: Outgoing | None = None


class Gateway:
    """Handles connections and commands; owns the hub, the store and the limits."""

    def __init__(self, settings: GatewaySettings, store: HistoryStore, hub: Hub,
                 verifier: TokenVerifier | None, backfill: RestHistory | None = None) -> None:
        self.settings = settings
        self.store = store
        self.hub = hub
        self.verifier = verifier
        self.backfill = backfill
        self.sessions: set[Session] = set()
        self.connections = ConnectionCounter(settings.max_connections_per_ip)
        self.draining = False
        self._emptied: asyncio.Event | None = None
        """Set when the last session closes during a drain."""
        self.started = time.time()

    # -- connection lifecycle ------------------------------------------------------------

    async def authenticate(self, token: str | None) -> Claims:
        """Claims for ``token``.

        Raises:
            AuthError: the token is missing or invalid (and auth is on).
        """
        if self.verifier is None:
            # SKIP_AUTH (development only): everybody is anonymous, tokens are ignored.
            return Claims.anonymous()
        if self.verifier.may_block:
            # Keys from a remote JWKS: a (rare, cached) fetch must not stall the loop.
            return await asyncio.to_thread(self.verifier.verify, token)
        return self.verifier.verify(token)

    async def handshake(self, token: str | None, origin: str | None) -> Claims:
        """Check a connection attempt: draining, ``Origin``, token.

        Raises:
            Refused: with the close code and reason to give the client.
        """
        if self.draining:
            raise Refused(Disconnect.SHUTDOWN)
        if not origin_allowed(origin, self.settings.allowed_origins):
            m.record_auth_failure("forbidden_origin")
            raise Refused(Disconnect.FORBIDDEN_ORIGIN)
        try:
            return await self.authenticate(token)
        except AuthError as exc:
            m.record_auth_failure(exc.reason)
            raise Refused(Disconnect.AUTH_FAILED.detailed(exc.message)) from exc

    def new_session(self, claims: Claims, transport: Transport, *, remote: str,
                    kind: str) -> Session:
        """Create and register a session; counts against its IP's connection limit.

        The caller must later call :meth:`open`, and :meth:`close` when the connection ends.

        Raises:
            Refused: TOO_MANY_CONNECTIONS from ``remote``.
        """
        settings = self.settings
        if not self.connections.try_add(remote):
            m.record_rate_limited("connections_per_ip")
            raise Refused(Disconnect.TOO_MANY_CONNECTIONS)
        session = Session(
            new_session_id(), claims, transport, outbox_max_bytes=settings.outbox_max_bytes,
            remote=remote, kind=kind, flusher=self.hub.flusher,
            max_subscriptions=settings.max_subscriptions,
            limiter=CommandLimiter(settings.rate_limit_per_second, settings.rate_limit_burst,
                                   settings.rate_limit_close_after, time.monotonic()))
        session.registered = True
        self.sessions.add(session)
        return session

    def open(self, session: Session) -> None:
        """Start the session: its writer, its token-expiry timer, the ``connected`` frame."""
        bind_log_context(conn=session.id)  # for the rest of this connection's task
        m.record_connection(m.transport_of(session.kind))
        session.start()
        if self.verifier is not None:
            session.expire_in(expiry_delay(session.claims.expires_at,
                                           self.settings.jwt.leeway, time.time()))
        settings = self.settings
        session.offer(Outgoing(ServerEvent.CONNECTED, data=wire.connected_data(
            client_socket_id(session), session.claims.user_id,
            max_subscriptions=settings.max_subscriptions,
            max_frame_bytes=settings.max_frame_bytes, history_limit=settings.history_limit,
            rate_per_second=settings.rate_limit_per_second,
            rate_burst=settings.rate_limit_burst)))
        if self.settings.global_events:
            self.hub.add_global(session)

    async def close(self, session: Session) -> None:
        """Forget a session whose connection ended. Idempotent.

        The per-IP count and the session set are released first and synchronously, so a
        failure or cancellation in the awaits after cannot leave the session counted."""
        if session.registered:
            session.registered = False
            self.connections.remove(session.remote)
            m.record_disconnect(session.close_code, m.transport_of(session.kind))
        self.sessions.discard(session)
        if self._emptied is not None and not self.sessions:
            self._emptied.set()
        try:
            await self.hub.drop_session(session)
        finally:
            await session.stop()  # whatever the hub's unsubscribes did

    async def drain(self, window: float) -> None:
        """Refuse new connections and close every session with SHUTDOWN over ``window``.

        Returns when all sessions are gone, or at 90% of the window (the rest is for the
        server's own shutdown).
        """
        self.draining = True
        m.set_draining(True)
        self._emptied = asyncio.Event()
        if not self.sessions:
            self._emptied.set()
        loop = asyncio.get_running_loop()
        start = loop.time()
        sessions = sorted(self.sessions, key=lambda s: s.id)
        log.info("draining %d sessions over %.1fs", len(sessions), window)
        for session, offset in zip(sessions, drain_offsets(len(sessions), window),
                                   strict=True):
            delay = start + offset - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            session.close_soon(Disconnect.SHUTDOWN)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._emptied.wait(),
                                   max(0.0, start + window * 0.9 - loop.time()))

    # -- commands ------------------------------------------------------------------------
    # Each command: its decision is pure (rules.ClientRules, commands), its reply's shape is
    # the wire codec's (adstack_protocol.wire); what is here only carries them out.

    def _reply(self, call: _Call, event: str, data: Any) -> None:
        self._send(call, Outgoing(event, data=data, request_id=call.request_id))

    def _send(self, call: _Call, message: Outgoing) -> None:
        if call.reply is None:
            call.reply = message
        call.session.offer(message)

    def _error(self, call: _Call, code: ErrorCode, message: str) -> None:
        m.record_protocol_error(code)
        self._reply(call, ServerEvent.ERROR, wire.error_data(code.value, message))

    def _admit(self, call: _Call) -> bool:
        """Apply the command rate limit; False if the command must be dropped."""
        session = call.session
        verdict = session.rules.admit_command(time.monotonic())
        if verdict is Verdict.ALLOW:
            return True
        m.record_rate_limited("commands")
        if verdict is Verdict.CLOSE:
            log.info("session %s closed: kept exceeding the rate limit", session.id)
            session.close_soon(Disconnect.RATE_LIMITED)
        else:
            self._error(call, ErrorCode.RATE_LIMITED, "too many commands; slow down")
        return False

    async def receive_text(self, session: Session, text: str) -> None:
        """Handle one native JSON frame."""
        try:
            event, data, request_id = parse_frame(text)
        except ProtocolError as exc:
            call = _Call(session, None)
            if self._admit(call):
                self._error(call, exc.code, exc.message)
            return
        await self.handle(session, event, data, request_id)

    async def handle(self, session: Session, event: str, data: Any,
                     request_id: Any = None) -> Outgoing | None:
        """Run one client command; every outcome is a reply or an ``error`` frame.

        Returns the reply (for a Socket.IO acknowledgement), or None if the connection
        is being closed instead.
        """
        m.record_command(event)
        call = _Call(session, bound_request_id(request_id))
        if not self._admit(call):
            return call.reply
        try:
            command = parse_command(event, data, request_id)
            await self._run[type(command)](self, call, command)
        except ProtocolError as exc:
            self._error(call, exc.code, exc.message)
        return call.reply

    async def _subscribe(self, call: _Call, cmd: Subscribe) -> None:
        session = call.session
        contract = cmd.contract_id
        settings = self.settings
        plan = plan_subscribe(session.rules, cmd, subscribe_history=settings.subscribe_history,
                              history_limit=settings.history_limit)
        sub = plan.sub
        if plan.action == RESUBSCRIBE:
            self._reply(call, ServerEvent.SUBSCRIBED, _subscribed(cmd, sub, None))
            return
        # The order a client sees: ``subscribed`` (with the offset it starts after), then
        # the pushed history or the recovery replay, then only events after that offset. Live
        # messages that arrive while the channel is subscribed and the position read wait
        # in the new subscription's buffer, and are released (duplicates and anything at or
        # below the reply's offset dropped by route()) after the reply.
        confirmed = await self.hub.add(session, contract, sub)
        recovered: bool | None = None
        replay: Sequence[Outgoing] = ()
        history: list[bytes] = []
        if plan.action == RECOVER:
            recovery = await self._recover(contract, cmd, sub, confirmed)
            m.record_recovery(recovery.outcome)
            recovered, replay = recovery.recovered, recovery.replay
        else:
            history = await self._position_and_recent(contract, plan)
        self._reply(call, ServerEvent.SUBSCRIBED, _subscribed(cmd, sub, recovered))
        if session.subscriptions.get(contract) is not sub:
            return  # unsubscribed (or the session closed) meanwhile: nothing to release
        if history:
            session.offer(history_push(contract, history))
        self._release(session, contract, sub, replay)

    @staticmethod
    def _release(session: Session, contract: str, sub: Subscription,
                 replay: Sequence[Outgoing]) -> None:
        """End the subscription's recovery: route the replay, then the live messages held
        meanwhile, through the delivery rule (duplicates and gaps as for live ones)."""
        if sub.buffer is None:
            return
        buffered, sub.buffer = sub.buffer, None
        for message in (*replay, *buffered):
            if route(session, sub, message, contract):
                # Replayed or held back during recovery: a delivery like a live one
                # (no relay-latency sample: it was not relayed as it was published).
                m.record_delivery(1, frame=message.event, event_type=message.event_type,
                                  source=message.source)

    async def _position_and_recent(self, contract: str, plan: SubscribePlan) -> list[bytes]:
        """Place a fresh subscription at the contract's position (the history is what was
        there then; everything after it arrives live, held meanwhile, each event once), then
        read the history to push. Empty (and position 0) if Redis fails."""
        try:
            position = await self.store.position(contract)
        except BusUnavailable:
            return []
        if position is None:
            return []
        sub = plan.sub
        sub.epoch, sub.last_offset = position.epoch, position.offset
        if not plan.read:
            return []
        try:
            entries = await self.store.recent(contract, plan.read)
        except BusUnavailable:
            log.debug("no history pushed for %s: the store is unavailable", contract)
            return []
        return select_recent(entries, sub, plan.push)

    async def _recover(self, contract: str, cmd: Subscribe, sub: Subscription,
                       confirmed: bool) -> Recovery:
        """Read what the client missed since ``cmd.since``; all of it, or say it cannot."""
        since = cmd.since
        assert since is not None, "only called for a subscribe with since"
        try:
            missed, page = await read_missed(self.store, contract, [(since.epoch, since.offset)])
        except BusUnavailable:
            return UNRECOVERED
        return recover_since(sub, since, missed, page, confirmed)

    async def _unsubscribe(self, call: _Call, cmd: Unsubscribe) -> None:
        session = call.session
        session.rules.unsubscribe(cmd.contract_id)
        await self.hub.remove(session, cmd.contract_id)
        self._reply(call, ServerEvent.UNSUBSCRIBED, wire.unsubscribed_data(cmd.contract_id))

    async def _history(self, call: _Call, cmd: GetHistory) -> None:
        call.session.rules.allow(cmd.contract_id)  # the token bounds every read
        limit = history_limit(cmd.limit, self.settings.history_limit)
        try:
            events = await self.store.recent(cmd.contract_id, limit)
        except BusUnavailable as exc:
            raise ProtocolError(ErrorCode.HISTORY_ERROR, "history is unavailable; retry") from exc
        backfilled = 0
        if self.backfill is not None and needs_backfill(len(events), limit):
            events, backfilled = await self.backfill.complete(cmd.contract_id, events, limit)
        # Stored event objects are spliced in as they are: no decode / re-encode.
        raw = wire.history_reply(cmd.contract_id, events, limit=limit, backfilled=backfilled,
                                 request_id=call.request_id)
        self._send(call, Outgoing(ServerEvent.HISTORY, raw=raw, request_id=call.request_id))

    async def _stats(self, call: _Call, cmd: GetStats) -> None:
        call.session.rules.allow(cmd.contract_id)  # the token bounds every read
        try:
            stats = await self.store.stats(cmd.contract_id)
        except BusUnavailable as exc:
            raise ProtocolError(ErrorCode.STATS_ERROR, "stats are unavailable; retry") from exc
        self._reply(call, ServerEvent.STATS, wire.stats_data(
            stats["contractId"], total=stats["total"], by_type=stats["byType"],
            last_updated=stats["lastUpdated"]))

    async def _feed(self, call: _Call, cmd: Feed) -> None:
        session = call.session
        session.rules.set_feed(cmd.feed, cmd.on)
        await self.hub.set_feed(session, cmd.feed, cmd.on)
        event = ServerEvent.SUBSCRIBED if cmd.on else ServerEvent.UNSUBSCRIBED
        self._reply(call, event, wire.feed_ack_data(cmd.feed))

    async def _refresh(self, call: _Call, cmd: Refresh) -> None:
        session = call.session
        if self.verifier is None:
            self._reply(call, ServerEvent.REFRESHED, wire.refreshed_data(None))
            return
        try:
            claims = await self.authenticate(cmd.token)
        except AuthError as exc:
            m.record_auth_failure(exc.reason)
            raise ProtocolError(ErrorCode.INVALID_TOKEN, exc.message) from exc
        if claims.user_id != session.claims.user_id:
            m.record_auth_failure("wrong_user")
        # ProtocolError for another user; a narrower token ends what it no longer allows.
        outcome = plan_refresh(session.rules, claims, leeway=self.settings.jwt.leeway,
                               now=time.time())
        session.expire_in(outcome.expire_in)
        self._reply(call, ServerEvent.REFRESHED, wire.refreshed_data(outcome.expires_at))
        for contract in outcome.dropped:
            await self.hub.remove(session, contract)
            session.offer(Outgoing(ServerEvent.UNSUBSCRIBED, data=wire.unsubscribed_data(
                contract, reason=wire.FORBIDDEN)))

    async def _ping(self, call: _Call, cmd: Ping) -> None:
        self._reply(call, ServerEvent.PONG, wire.pong_data())

    _run: ClassVar[dict[type, Callable[[Gateway, _Call, Any], Awaitable[None]]]] = {
        Subscribe: _subscribe, Unsubscribe: _unsubscribe, GetHistory: _history,
        GetStats: _stats, Feed: _feed, Refresh: _refresh, Ping: _ping,
    }
    """Each parsed command's handler."""


def _subscribed(cmd: Subscribe, sub: Subscription, recovered: bool | None) -> dict[str, Any]:
    """The ``subscribed`` reply's data: the filter, and the position it starts after."""
    return wire.subscribed_data(cmd.contract_id, cmd.event_types, epoch=sub.epoch,
                                offset=sub.last_offset, recovered=recovered)
