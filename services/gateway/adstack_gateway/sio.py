"""Socket.IO v4 on ``/socket.io/`` (websocket and HTTP long-polling): a thin transport shell.

Browser code written for the original Node server keeps working::

    const socket = io(url, {auth: {token}});
    socket.emit("subscribe", {contractId, eventTypes});
    socket.on("event", (event) => …);

Every command goes to :meth:`Gateway.handle`, exactly like a native frame. Differences
that Socket.IO imposes:

- the token comes from ``auth.token`` (also accepted: ``Authorization: Bearer`` and a
  ``token`` query parameter); a refused handshake (token, Origin, per-IP limit, draining)
  is one ``connect_error`` whose ``message`` is the reason and whose ``data`` is
  ``{"code": <close code>}``, on every transport: socket.io-client then closes its Engine.IO
  session itself and does not retry (the gateway closes it after ``HANDSHAKE_TIMEOUT``);
- a request id travels inside ``data`` (``requestId``) and comes back inside the reply's
  ``data``; when the client asks for an acknowledgement, the ack carries the reply frame
  ``{"event", "data", "requestId"?}``;
- Socket.IO has no close codes, so before the server ends a connection it emits
  ``closing {code, reason}``. For codes that mean "reconnect" (4000–4499) the Engine.IO
  transport is dropped and clients reconnect by themselves; for terminal codes the
  Socket.IO session is disconnected and they do not.

The pieces: :class:`SioTransport` writes to one client; :class:`EngineConnections` keeps
the Engine.IO connections that are not sessions (pending-handshake caps, per-IP slots, the
join deadline, hanging up); :class:`SioHandlers` holds the Socket.IO handlers (connect =
authentication and handshake, disconnect, commands, the packet check); :func:`create_sio`
builds the server and wires them. python-engineio's and python-socketio's internals are
reached only through :mod:`adstack_gateway._engineio`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import socketio

from adstack_gateway import metrics as m
from adstack_gateway._engineio import NAMESPACE, Handler
from adstack_gateway._uvicorn_ws import GatewayWebSocketProtocol, direct_socket, socket_of
from adstack_gateway.eio import GatewaySocketIO, LibraryLog, peer_of, report_violation
from adstack_gateway.limits import PendingHandshakes
from adstack_gateway.node import Gateway, Refused
from adstack_gateway.outgoing import Outgoing
from adstack_gateway.protocol import handshake_token
from adstack_gateway.session import Session
from adstack_gateway.settings import GatewaySettings
from adstack_gateway.siopacket import command_arguments, packet_problem
from adstack_protocol import Disconnect, ServerEvent, close_is_terminal, wire

log = logging.getLogger(__name__)

HANG_UP_GRACE = 1.0
"""Seconds a WebSocket closed by the server (not in the namespace in time, or broke the
protocol before joining) has to take its CLOSE; then its connection is dropped."""
QUEUE_PACKETS = 32
"""Packets queued in Engine.IO before a send waits for the client to take them: this keeps
the session's byte-bounded outbox (and its SLOW close) in charge of a slow client."""


class SioTransport:
    """Writes pre-encoded Socket.IO packets to one client's Engine.IO socket.

    ``websocket`` is the client's WebSocket connection when Engine.IO runs on one from the
    start (not upgraded from polling): the session then moves to direct frame writes once
    Engine.IO's queue is empty (see :meth:`direct_ready`).
    """

    def __init__(self, server: GatewaySocketIO, sid: str, eio_sid: str,
                 websocket: GatewayWebSocketProtocol | None = None,
                 upgrades: dict[str, Any] | None = None) -> None:
        self.server = server
        self.sid = sid
        self.eio_sid = eio_sid
        self.websocket = websocket
        self.upgrades = upgrades
        """Engine.IO sid → scope of its upgrade WebSocket (polling clients that upgrade)."""
        self._ready = False

    async def _wait_ready(self) -> None:
        # The connect handler runs before Socket.IO sends its CONNECT packet; nothing may
        # reach the client ahead of it. It is sent right after the handler returns.
        if not await self.server.wait_joined(self.sid):
            raise ConnectionError("Socket.IO session never completed its connect")
        self._ready = True

    async def send(self, message: Outgoing) -> None:
        if not self._ready:
            await self._wait_ready()
        await self.server.eio.send_bounded(self.eio_sid, message.sio_packet, QUEUE_PACKETS)

    async def direct_ready(self) -> GatewayWebSocketProtocol | None:
        """The WebSocket for direct frames, once Engine.IO has written all it queued.

        Engine.IO's writer pops its queue and writes what it popped in the same step, so
        once the queue is joined and the connection is not paused, nothing of Engine.IO's
        is left to go out before our next frame.
        """
        if not self._ready:
            return None
        eio = self.server.eio
        upgraded = eio.upgraded(self.eio_sid)
        if upgraded is None:
            return None
        websocket = self.websocket
        if websocket is None and self.upgrades is not None and upgraded:
            # Started on long-polling and upgraded: the upgrade WebSocket carries it now.
            scope = self.upgrades.get(self.eio_sid)
            websocket = self.websocket = None if scope is None else direct_socket(scope)
        if websocket is None:
            return None
        if not await eio.drained(self.eio_sid, 1.0):
            return None  # not now: tried again after the next queued frame
        if websocket.writable.is_set() and websocket.frames_open():
            return websocket
        return None

    def release_poll(self) -> None:
        """End a long-poll still waiting for packets (the client has gone)."""
        self.server.eio.release_poll(self.eio_sid)

    async def close(self, code: int, reason: str) -> None:
        closing = Outgoing(ServerEvent.CLOSING, data=wire.closing_data(code, reason))
        eio = self.server.eio
        await eio.send(self.eio_sid, closing.sio_packet)
        if close_is_terminal(code):
            # A Socket.IO disconnect: clients do not reconnect by themselves.
            await self.server.disconnect(self.sid, namespace=NAMESPACE)
            return
        # Drop the Engine.IO transport after the queued packets (``closing`` last) without
        # a CLOSE packet: to every Socket.IO client that is a lost transport, which it
        # answers by reconnecting (with a CLOSE packet the Python client would not).
        await eio.drop_transport(self.eio_sid)


def _token(environ: dict[str, Any], auth: Any) -> str | None:
    if isinstance(auth, dict) and isinstance(auth.get("token"), str) and auth["token"]:
        return str(auth["token"])
    values = parse_qs(str(environ.get("QUERY_STRING", ""))).get("token")
    return handshake_token(str(environ.get("HTTP_AUTHORIZATION", "")),
                           values[0] if values else None)


def upgrade_sid(scope: dict[str, Any]) -> str | None:
    """The Engine.IO sid a ``/socket.io/`` WebSocket upgrades, if it is an upgrade."""
    if not scope.get("path", "").startswith("/socket.io"):
        return None
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("sid")
    return values[0] if values else None


def _remote(environ: dict[str, Any]) -> str:
    client = environ.get("asgi.scope", {}).get("client")
    return str(client[0]) if client else ""


@dataclass(slots=True)
class _EioConnection:
    """What the gateway keeps about one Engine.IO connection."""

    ip: str
    scope: dict[str, Any] | None
    reserved: bool
    """It holds one of its IP's ``MAX_CONNECTIONS_PER_IP`` slots (handed to its session)."""
    pending: bool = True
    """Counted in the pending-handshake caps (not in the namespace yet)."""
    expiry: asyncio.TimerHandle | None = None


class EngineConnections:
    """The Engine.IO connections, from their handshake until they are closed.

    An Engine.IO connection that is not in the namespace is not a session: it counts in the
    pending-handshake caps and holds one of its IP's MAX_CONNECTIONS_PER_IP slots (if one is
    free), and gets ``handshake_timeout`` seconds to join; then it is closed.
    """

    def __init__(self, gateway: Gateway, sio: GatewaySocketIO,
                 upgrades: dict[str, Any] | None) -> None:
        self.gateway = gateway
        self.sio = sio
        self.upgrades = upgrades
        self.pending = sio.eio.pending
        self.records: dict[str, _EioConnection] = {}
        """Engine.IO sid → its bookkeeping, from its handshake until it is closed."""
        self.tasks: set[asyncio.Task[None]] = set()

    def install(self) -> None:
        """Wrap python-socketio's Engine.IO connect and disconnect handlers."""
        self.sio.eio.wrap_handler("connect", self._joining)
        self.sio.eio.wrap_handler("disconnect", self._leaving)

    def _joining(self, join_namespace: Handler) -> Handler:
        async def eio_connect(eio_sid: str, environ: dict[str, Any]) -> Any:
            scope = environ.get("asgi.scope")
            ip = peer_of(scope)
            if not self.pending.try_add(ip):
                return False  # GatewayEngineIO checked just before; never expected
            record = _EioConnection(ip, scope if isinstance(scope, dict) else None,
                                    reserved=self.gateway.connections.try_add(ip))
            self.records[eio_sid] = record
            self.expire_later(eio_sid, record)
            return await join_namespace(eio_sid, environ)

        return eio_connect

    def _leaving(self, leave_engine: Handler) -> Handler:
        async def eio_disconnect(eio_sid: str, reason: Any = None) -> Any:
            self.forget(eio_sid)
            return await leave_engine(eio_sid, reason)

        return eio_disconnect

    def release_slot(self, record: _EioConnection) -> None:
        if record.reserved:
            record.reserved = False
            self.gateway.connections.remove(record.ip)

    def leave_pending(self, record: _EioConnection) -> None:
        self.release_slot(record)
        if record.pending:
            record.pending = False
            self.pending.remove(record.ip)

    async def hang_up(self, eio_sid: str) -> None:
        """Close an Engine.IO connection now, without waiting for the client.

        A CLOSE packet is queued (a waiting long-poll returns it; a WebSocket's writer sends
        it, then closes) and the session is forgotten at once. A WebSocket peer that does
        not read gets :data:`HANG_UP_GRACE` seconds, then its connection is dropped.
        """
        record = self.records.get(eio_sid)
        await self.sio.eio.hang_up(eio_sid)
        self.forget(eio_sid)
        upgrades = self.upgrades
        protocol = socket_of(upgrades.get(eio_sid) if upgrades else None) or socket_of(
            record.scope if record is not None else None)
        if protocol is not None:
            asyncio.get_running_loop().call_later(HANG_UP_GRACE, protocol.abort)

    def forget(self, eio_sid: str) -> None:
        record = self.records.pop(eio_sid, None)
        if record is not None:
            self.leave_pending(record)
            if record.expiry is not None:
                record.expiry.cancel()
                record.expiry = None

    def expire_later(self, eio_sid: str, record: _EioConnection) -> None:
        if record.expiry is not None:
            record.expiry.cancel()
        record.expiry = asyncio.get_running_loop().call_later(
            self.gateway.settings.handshake_timeout, self.expire_handshake, eio_sid)

    def expire_handshake(self, eio_sid: str) -> None:
        record = self.records.get(eio_sid)
        if record is not None:
            record.expiry = None
        eio = self.sio.eio
        if eio.has_session(eio_sid) and self.sio.namespace_sid(eio_sid) is None:
            m.record_violation("join_timeout")
            log.debug("Engine.IO connection %s is not in the namespace; closed", eio_sid)
            task = asyncio.create_task(self.hang_up(eio_sid))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        elif not eio.has_session(eio_sid):
            self.forget(eio_sid)


class SioHandlers:
    """The Socket.IO handlers: connect (authentication and handshake), disconnect, every
    command, and the check of each packet before python-socketio acts on it."""

    def __init__(self, gateway: Gateway, sio: GatewaySocketIO, engine: EngineConnections,
                 upgrades: dict[str, Any] | None) -> None:
        self.gateway = gateway
        self.settings = gateway.settings
        self.sio = sio
        self.engine = engine
        self.upgrades = upgrades
        self.sessions: dict[str, Session] = {}

    def install(self) -> None:
        sio = self.sio
        sio.on("connect", self.connect)
        sio.on("disconnect", self.disconnect)
        sio.on("*", self.command)
        # Every Socket.IO packet is checked before python-socketio acts on it (see
        # siopacket): a binary or malformed packet closes the connection with BAD_REQUEST.
        sio.eio.wrap_handler("message", self._checking)

    def _transport(self, sid: str, eio_sid: str, environ: dict[str, Any]) -> SioTransport:
        direct = self.settings.ws_direct_write
        scope = environ.get("asgi.scope")
        websocket = (direct_socket(scope) if direct and isinstance(scope, dict)
                     and scope.get("type") == "websocket" else None)
        return SioTransport(self.sio, sid, eio_sid, websocket,
                            self.upgrades if direct else None)

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        gateway, engine = self.gateway, self.engine
        eio_sid = self.sio.engine_sid(sid)
        try:
            claims = await gateway.handshake(_token(environ, auth), environ.get("HTTP_ORIGIN"))
            transport = self._transport(sid, eio_sid, environ)
            record = engine.records.get(eio_sid)
            if record is not None:
                # The IP slot its handshake held goes to the session (no await between
                # giving it back and new_session taking it).
                engine.release_slot(record)
            session = gateway.new_session(claims, transport, remote=_remote(environ),
                                          kind="sio")
            if record is not None:
                engine.leave_pending(record)
        except Refused as exc:
            # A CONNECT_ERROR {message, data: {code}}: socket.io-client reports it as
            # connect_error and does not reconnect by itself; it closes the Engine.IO
            # connection, which otherwise stays pending until the handshake timeout. (Closing
            # it here raced the CONNECT_ERROR: a polling client that was upgrading saw a
            # 400 "xhr poll error" instead and retried forever.)
            log.debug("Socket.IO handshake refused (%d): %s", exc.code, exc.reason)
            raise socketio.exceptions.ConnectionRefusedError(
                exc.reason, {"code": int(exc.code)}) from None
        self.sessions[sid] = session
        gateway.open(session)
        return True

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        session = self.sessions.pop(sid, None)
        if session is not None:
            assert isinstance(session.transport, SioTransport), "created by connect()"
            if self.sio.left_by_itself(reason):
                session.transport.release_poll()
            # The Engine.IO connection may stay open after leaving the namespace (a client
            # sending "41", or a terminal close): it no longer counts against the per-IP
            # limit, so it gets the same time as a new one to (re)join, then it is closed.
            record = self.engine.records.get(session.transport.eio_sid)
            if record is not None:
                self.engine.expire_later(session.transport.eio_sid, record)
            await self.gateway.close(session)

    async def command(self, event: str, sid: str, *args: Any) -> Any:
        session = self.sessions.get(sid)
        if session is None or session.closed:
            return None  # closing: what arrives now is ignored
        data, request_id = command_arguments(args)
        reply = await self.gateway.handle(session, event, data, request_id)
        return None if reply is None else reply.envelope()

    def _checking(self, handle_packet: Handler) -> Handler:
        async def eio_message(eio_sid: str, message: Any) -> Any:
            problem = packet_problem(message)
            if problem is None:
                return await handle_packet(eio_sid, message)
            await self._refuse_packet(eio_sid, problem)
            return None

        return eio_message

    async def _refuse_packet(self, eio_sid: str, problem: str) -> None:
        sid = self.sio.namespace_sid(eio_sid)
        session = self.sessions.get(sid) if sid is not None else None
        # Log once per connection: what a refused client keeps sending is dropped quietly.
        if session is not None:
            if not session.closed:
                log.info("Socket.IO connection %s closed: %s", eio_sid, problem)
                session.close_soon(Disconnect.BAD_PACKET.with_reason(problem))
        elif self.sio.eio.has_session(eio_sid):
            record = self.engine.records.get(eio_sid)
            report_violation("sio_malformed", problem, record.ip if record else "")
            await self.engine.hang_up(eio_sid)  # not (or no longer) in the namespace


def _new_server(settings: GatewaySettings) -> GatewaySocketIO:
    GatewayWebSocketProtocol.outbox_max_bytes = settings.outbox_max_bytes
    sio = GatewaySocketIO(
        async_mode="asgi",
        # Every Origin passes the Engine.IO layer (which would answer a refused one with a
        # bare HTTP 400 the client reports as a network error and retries): the gateway
        # refuses it at the namespace, with a CONNECT_ERROR carrying FORBIDDEN_ORIGIN.
        cors_allowed_origins="*",
        max_http_buffer_size=settings.max_frame_bytes,
        ping_interval=settings.ping_interval,
        ping_timeout=settings.ping_timeout,
        # One command at a time per client, in order, like the native protocol.
        async_handlers=False,
        logger=False,
        engineio_logger=LibraryLog(logging.getLogger("adstack_gateway.engineio"), {}),
    )
    sio.eio.pending = PendingHandshakes(settings.max_pending_handshakes_per_ip,
                                        settings.max_pending_handshakes)
    return sio


def create_sio(gateway: Gateway, upgrades: dict[str, Any] | None = None
               ) -> GatewaySocketIO:
    """The Socket.IO server for ``gateway`` (mount it with ``socketio.ASGIApp``).

    ``upgrades`` maps an Engine.IO sid to the scope of the WebSocket it upgrades to (the app
    fills it), so upgraded sessions can take direct frames too.
    """
    sio = _new_server(gateway.settings)
    engine = EngineConnections(gateway, sio, upgrades)
    SioHandlers(gateway, sio, engine, upgrades).install()
    engine.install()
    return sio
