"""Socket.IO v4 on ``/socket.io/`` (websocket and HTTP long-polling): a thin transport shell.

Browser code written for the original Node server keeps working::

    const socket = io(url, {auth: {token}});
    socket.emit("subscribe", {contractId, eventTypes});
    socket.on("event", (event) => …);

Every command goes to :meth:`Gateway.handle`, exactly like a native frame. Differences
that Socket.IO imposes:

- the token comes from ``auth.token`` (also accepted: ``Authorization: Bearer`` and a
  ``token`` query parameter); a refused handshake is a ``connect_error`` whose ``message``
  is the reason and whose ``data`` is ``{"code": <close code>}``;
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
from typing import Any
from urllib.parse import parse_qs

import engineio
import socketio

from adstack_gateway.core import Gateway, Refused
from adstack_gateway.protocol import handshake_token
from adstack_gateway.routing import Outgoing
from adstack_gateway.session import Session
from adstack_gateway.siopacket import command_arguments, packet_problem
from adstack_gateway.wsproto import GatewayWebSocketProtocol, direct_socket
from adstack_protocol import CloseCode, ServerEvent, close_is_terminal

log = logging.getLogger(__name__)

NAMESPACE = "/"
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


def create_sio(gateway: Gateway, upgrades: dict[str, Any] | None = None
               ) -> socketio.AsyncServer:
    """The Socket.IO server for ``gateway`` (mount it with ``socketio.ASGIApp``).

    ``upgrades`` maps an Engine.IO sid to the scope of the WebSocket it upgrades to (the app
    fills it), so upgraded sessions can take direct frames too.
    """
    settings = gateway.settings
    origins: str | list[str] = ("*" if "*" in settings.allowed_origins
                                else list(settings.allowed_origins))
    sio = socketio.AsyncServer(
        async_mode="asgi",
        cors_allowed_origins=origins,
        max_http_buffer_size=settings.max_frame_bytes,
        ping_interval=settings.ping_interval,
        ping_timeout=settings.ping_timeout,
        # One command at a time per client, in order, like the native protocol.
        async_handlers=False,
        logger=False,
        engineio_logger=False,
    )
    sessions: dict[str, Session] = {}
    tasks: set[asyncio.Task[None]] = set()

    async def hang_up(eio_sid: str) -> None:
        """Close an Engine.IO connection: a CLOSE packet, then its WebSocket is closed even
        if the client ignores the CLOSE (a hostile one would keep it open, and sending)."""
        socket = sio.eio.sockets.get(eio_sid)
        if socket is None:
            return
        await sio.eio.disconnect(eio_sid)
        if socket.upgraded:
            socket.queue.put_nowait(None)  # the writer sends the CLOSE, then closes

    async def drop_refused(sid: str, eio_sid: str) -> None:
        # A refused client must not keep an Engine.IO connection open (it would not count
        # against any limit). Close it once the CONNECT_ERROR is queued ahead of the close.
        for attempt in range(500):
            if sio.manager.eio_sid_from_sid(sid, NAMESPACE) is None:
                break
            await asyncio.sleep(0 if attempt < 20 else 0.01)
        await hang_up(eio_sid)

    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        try:
            claims = await gateway.handshake(_token(environ, auth), environ.get("HTTP_ORIGIN"))
            eio_sid = sio.manager.eio_sid_from_sid(sid, NAMESPACE)
            scope = environ.get("asgi.scope")
            websocket = (direct_socket(scope) if settings.ws_direct_write and
                         isinstance(scope, dict) and scope.get("type") == "websocket" else None)
            transport = SioTransport(sio, sid, eio_sid, websocket,
                                     upgrades if settings.ws_direct_write else None)
            session = gateway.new_session(claims, transport, remote=_remote(environ),
                                          kind="sio")
        except Refused as exc:
            task = asyncio.create_task(
                drop_refused(sid, sio.manager.eio_sid_from_sid(sid, NAMESPACE)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
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
            expire_later(session.transport.eio_sid)
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

    # An Engine.IO connection that is not in the namespace is not a session and counts
    # against no limit: it gets ``handshake_timeout`` seconds to join, then it is closed.
    join_namespace = sio.eio.handlers["connect"]

    async def eio_connect(eio_sid: str, environ: dict[str, Any]) -> Any:
        expire_later(eio_sid)
        return await join_namespace(eio_sid, environ)

    def expire_later(eio_sid: str) -> None:
        task = asyncio.create_task(expire_handshake(eio_sid))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def expire_handshake(eio_sid: str) -> None:
        await asyncio.sleep(settings.handshake_timeout)
        if (eio_sid in sio.eio.sockets
                and sio.manager.sid_from_eio_sid(eio_sid, NAMESPACE) is None):
            log.info("Engine.IO connection %s is not in the namespace; closed", eio_sid)
            await hang_up(eio_sid)

    sio.eio.on("connect", eio_connect)

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
                session.close_soon(CloseCode.BAD_REQUEST, problem)
        elif eio_sid in sio.eio.sockets:
            log.info("Engine.IO connection %s closed: %s", eio_sid, problem)
            await hang_up(eio_sid)  # not (or no longer) in the namespace
        return None

    sio.eio.on("message", eio_message)
    return sio
