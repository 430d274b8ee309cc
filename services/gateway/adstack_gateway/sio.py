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
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import engineio
import socketio

from adstack_gateway import metrics as m
from adstack_gateway.eio import GatewaySocketIO, LibraryLog, peer_of, report_violation
from adstack_gateway.limits import PendingHandshakes
from adstack_gateway.node import Gateway, Refused
from adstack_gateway.outgoing import Outgoing
from adstack_gateway.protocol import handshake_token
from adstack_gateway.session import Session
from adstack_gateway.siopacket import command_arguments, packet_problem
from adstack_gateway.wsproto import GatewayWebSocketProtocol, direct_socket, socket_of
from adstack_protocol import Disconnect, ServerEvent, close_is_terminal

log = logging.getLogger(__name__)

NAMESPACE = "/"
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

    def __init__(self, server: socketio.AsyncServer, sid: str, eio_sid: str,
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
        for attempt in range(500):
            if self.server.manager.is_connected(self.sid, NAMESPACE):
                self._ready = True
                return
            await asyncio.sleep(0 if attempt < 20 else 0.01)
        raise ConnectionError("Socket.IO session never completed its connect")

    async def send(self, message: Outgoing) -> None:
        if not self._ready:
            await self._wait_ready()
        eio = self.server.eio
        await eio.send(self.eio_sid, message.sio_packet)
        socket = eio.sockets.get(self.eio_sid)
        if socket is not None and socket.queue.qsize() >= QUEUE_PACKETS:
            await socket.queue.join()

    async def direct_ready(self) -> GatewayWebSocketProtocol | None:
        """The WebSocket for direct frames, once Engine.IO has written all it queued.

        Engine.IO's writer pops its queue and writes what it popped in the same step, so
        once the queue is joined and the connection is not paused, nothing of Engine.IO's
        is left to go out before our next frame.
        """
        if not self._ready:
            return None
        socket = self.server.eio.sockets.get(self.eio_sid)
        if socket is None:
            return None
        websocket = self.websocket
        if websocket is None and self.upgrades is not None and socket.upgraded:
            # Started on long-polling and upgraded: the upgrade WebSocket carries it now.
            scope = self.upgrades.get(self.eio_sid)
            websocket = self.websocket = None if scope is None else direct_socket(scope)
        if websocket is None:
            return None
        try:
            await asyncio.wait_for(socket.queue.join(), 1.0)
        except TimeoutError:
            return None  # not now: tried again after the next queued frame
        if (socket.queue.qsize() == 0 and websocket.writable.is_set()
                and websocket.frames_open()):
            return websocket
        return None

    def release_poll(self) -> None:
        """End a long-poll still waiting for packets (the client has gone).

        python-engineio keeps a polling client's pending GET open after the client sent
        CLOSE, until the poll times out (ping interval + timeout); the client waits for it.
        """
        socket = self.server.eio.sockets.get(self.eio_sid)
        if socket is not None and not socket.upgraded:
            socket.queue.put_nowait(engineio.packet.Packet(engineio.packet.NOOP))

    async def close(self, code: int, reason: str) -> None:
        closing = Outgoing(ServerEvent.CLOSING, data={"code": int(code), "reason": reason})
        eio = self.server.eio
        await eio.send(self.eio_sid, closing.sio_packet)
        if close_is_terminal(code):
            # A Socket.IO disconnect: clients do not reconnect by themselves.
            await self.server.disconnect(self.sid, namespace=NAMESPACE)
            return
        # Drop the Engine.IO transport after the queued packets (``closing`` last) without
        # a CLOSE packet: to every Socket.IO client that is a lost transport, which it
        # answers by reconnecting (with a CLOSE packet the Python client would not).
        socket = eio.sockets.get(self.eio_sid)
        if socket is None:
            return
        if socket.upgraded:
            socket.queue.put_nowait(None)  # the WebSocket writer flushes, then closes
        await socket.close(wait=False, abort=True, reason=eio.reason.SERVER_DISCONNECT)


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


def create_sio(gateway: Gateway, upgrades: dict[str, Any] | None = None
               ) -> GatewaySocketIO:
    """The Socket.IO server for ``gateway`` (mount it with ``socketio.ASGIApp``).

    ``upgrades`` maps an Engine.IO sid to the scope of the WebSocket it upgrades to (the app
    fills it), so upgraded sessions can take direct frames too.
    """
    settings = gateway.settings
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
    sio.eio.pending = pending = PendingHandshakes(settings.max_pending_handshakes_per_ip,
                                                  settings.max_pending_handshakes)
    sessions: dict[str, Session] = {}
    connections: dict[str, _EioConnection] = {}
    """Engine.IO sid → its bookkeeping, from its handshake until it is closed."""
    tasks: set[asyncio.Task[None]] = set()

    def release_slot(record: _EioConnection) -> None:
        if record.reserved:
            record.reserved = False
            gateway.connections.remove(record.ip)

    def leave_pending(record: _EioConnection) -> None:
        release_slot(record)
        if record.pending:
            record.pending = False
            pending.remove(record.ip)

    async def hang_up(eio_sid: str) -> None:
        """Close an Engine.IO connection now, without waiting for the client.

        A CLOSE packet is queued (a waiting long-poll returns it; a WebSocket's writer sends
        it, then closes) and the session is forgotten at once. A WebSocket peer that does
        not read gets :data:`HANG_UP_GRACE` seconds, then its connection is dropped.
        """
        socket = sio.eio.sockets.get(eio_sid)
        record = connections.get(eio_sid)
        if socket is not None:
            if not socket.closing and not socket.closed:
                await socket.close(wait=False, abort=False,
                                   reason=sio.eio.reason.SERVER_DISCONNECT)
            sio.eio.sockets.pop(eio_sid, None)
            if socket.upgraded:
                socket.queue.put_nowait(None)  # the writer sends the CLOSE, then closes
        forget(eio_sid)
        protocol = socket_of(upgrades.get(eio_sid) if upgrades else None) or socket_of(
            record.scope if record is not None else None)
        if protocol is not None:
            asyncio.get_running_loop().call_later(HANG_UP_GRACE, protocol.abort)

    def forget(eio_sid: str) -> None:
        record = connections.pop(eio_sid, None)
        if record is not None:
            leave_pending(record)
            if record.expiry is not None:
                record.expiry.cancel()
                record.expiry = None

    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        eio_sid = sio.manager.eio_sid_from_sid(sid, NAMESPACE)
        try:
            claims = await gateway.handshake(_token(environ, auth), environ.get("HTTP_ORIGIN"))
            scope = environ.get("asgi.scope")
            websocket = (direct_socket(scope) if settings.ws_direct_write and
                         isinstance(scope, dict) and scope.get("type") == "websocket" else None)
            transport = SioTransport(sio, sid, eio_sid, websocket,
                                     upgrades if settings.ws_direct_write else None)
            record = connections.get(eio_sid)
            if record is not None:
                # The IP slot its handshake held goes to the session (no await between
                # giving it back and new_session taking it).
                release_slot(record)
            session = gateway.new_session(claims, transport, remote=_remote(environ),
                                          kind="sio")
            if record is not None:
                leave_pending(record)
        except Refused as exc:
            # A CONNECT_ERROR {message, data: {code}}: socket.io-client reports it as
            # connect_error and does not reconnect by itself; it closes the Engine.IO
            # connection, which otherwise stays pending until the handshake timeout. (Closing
            # it here raced the CONNECT_ERROR: a polling client that was upgrading saw a
            # 400 "xhr poll error" instead and retried forever.)
            log.debug("Socket.IO handshake refused (%d): %s", exc.code, exc.reason)
            raise socketio.exceptions.ConnectionRefusedError(
                exc.reason, {"code": int(exc.code)}) from None
        sessions[sid] = session
        gateway.open(session)
        return True

    async def disconnect(sid: str, reason: Any = None) -> None:
        session = sessions.pop(sid, None)
        if session is not None:
            assert isinstance(session.transport, SioTransport), "created by connect()"
            if reason == sio.reason.CLIENT_DISCONNECT:
                session.transport.release_poll()
            # The Engine.IO connection may stay open after leaving the namespace (a client
            # sending "41", or a terminal close): it no longer counts against the per-IP
            # limit, so it gets the same time as a new one to (re)join, then it is closed.
            record = connections.get(session.transport.eio_sid)
            if record is not None:
                expire_later(session.transport.eio_sid, record)
            await gateway.close(session)

    async def command(event: str, sid: str, *args: Any) -> Any:
        session = sessions.get(sid)
        if session is None or session.closed:
            return None  # closing: what arrives now is ignored
        data, request_id = command_arguments(args)
        reply = await gateway.handle(session, event, data, request_id)
        return None if reply is None else reply.envelope()

    sio.on("connect", connect)
    sio.on("disconnect", disconnect)
    sio.on("*", command)

    # An Engine.IO connection that is not in the namespace is not a session: it counts in
    # the pending-handshake caps and holds one of its IP's MAX_CONNECTIONS_PER_IP slots (if
    # one is free), and gets ``handshake_timeout`` seconds to join; then it is closed.
    join_namespace = sio.eio.handlers["connect"]

    async def eio_connect(eio_sid: str, environ: dict[str, Any]) -> Any:
        scope = environ.get("asgi.scope")
        ip = peer_of(scope)
        if not pending.try_add(ip):
            return False  # GatewayEngineIO checked just before; never expected
        record = _EioConnection(ip, scope if isinstance(scope, dict) else None,
                                reserved=gateway.connections.try_add(ip))
        connections[eio_sid] = record
        expire_later(eio_sid, record)
        return await join_namespace(eio_sid, environ)

    def expire_later(eio_sid: str, record: _EioConnection) -> None:
        if record.expiry is not None:
            record.expiry.cancel()
        record.expiry = asyncio.get_running_loop().call_later(
            settings.handshake_timeout, expire_handshake, eio_sid)

    def expire_handshake(eio_sid: str) -> None:
        record = connections.get(eio_sid)
        if record is not None:
            record.expiry = None
        if (eio_sid in sio.eio.sockets
                and sio.manager.sid_from_eio_sid(eio_sid, NAMESPACE) is None):
            m.record_violation("join_timeout")
            log.debug("Engine.IO connection %s is not in the namespace; closed", eio_sid)
            task = asyncio.create_task(hang_up(eio_sid))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        elif eio_sid not in sio.eio.sockets:
            forget(eio_sid)

    sio.eio.on("connect", eio_connect)

    leave_engine = sio.eio.handlers["disconnect"]

    async def eio_disconnect(eio_sid: str, reason: Any = None) -> Any:
        forget(eio_sid)
        return await leave_engine(eio_sid, reason)

    sio.eio.on("disconnect", eio_disconnect)

    # Every Socket.IO packet is checked before python-socketio acts on it (see siopacket):
    # a binary or malformed packet closes the connection with BAD_REQUEST (4501).
    handle_packet = sio.eio.handlers["message"]

    async def eio_message(eio_sid: str, message: Any) -> Any:
        problem = packet_problem(message)
        if problem is None:
            return await handle_packet(eio_sid, message)
        sid = sio.manager.sid_from_eio_sid(eio_sid, NAMESPACE)
        session = sessions.get(sid) if sid is not None else None
        # Log once per connection: what a refused client keeps sending is dropped quietly.
        if session is not None:
            if not session.closed:
                log.info("Socket.IO connection %s closed: %s", eio_sid, problem)
                session.close_soon(Disconnect.BAD_PACKET.with_reason(problem))
        elif eio_sid in sio.eio.sockets:
            record = connections.get(eio_sid)
            report_violation("sio_malformed", problem, record.ip if record else "")
            await hang_up(eio_sid)  # not (or no longer) in the namespace
        return None

    sio.eio.on("message", eio_message)
    return sio
