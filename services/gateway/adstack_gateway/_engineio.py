"""Adapter for python-engineio's and python-socketio's server internals: the only module of
the gateway that touches them (``eio.py`` and ``sio.py`` use the names defined here).

Relies on, in python-engineio (checked with 4.15.1 from uv.lock; fence
``python-engineio>=4.11,<4.16``):

- ``AsyncServer``: its ``sockets`` dict (Engine.IO sid → socket), its ``handlers`` dict
  (event → handler; :meth:`EngineServer.wrap_handler` wraps the one python-socketio
  registered), ``reason.SERVER_DISCONNECT``/``TRANSPORT_ERROR``, the private driver table
  ``_async`` (its ``"websocket"`` class is swapped for :class:`_CheckedWebSocket`) and the
  private ``_handle_connect(environ, transport, jsonp_index)`` (overridden to refuse a
  handshake before a session exists; a refusal is its ``{"status", "headers",
  "response"}`` dict);
- ``async_socket.AsyncSocket``: ``queue`` (an ``asyncio.Queue`` of packets: ``qsize``,
  ``join``, ``put_nowait``; ``None`` makes the WebSocket writer flush, then close),
  ``upgraded``, ``closing``, ``closed`` and ``close(wait=, abort=, reason=)``;
- ``packet.Packet(packet.NOOP)``, which ends a pending long-poll;
- ``async_drivers.asgi.WebSocket``: built as ``(handler, server)``; ``__call__(environ)``
  and ``wait()`` (an ``OSError`` from ``wait`` is the connection going away).

In python-socketio (checked with 5.18.1 from uv.lock; fence
``python-socketio>=5.12,<5.19``):

- ``AsyncServer._engineio_server_class()`` (overridden to build :class:`EngineServer`'s
  subclass), ``eio``, ``reason.CLIENT_DISCONNECT``;
- its ``manager``: ``is_connected(sid, namespace)``, ``sid_from_eio_sid(eio_sid,
  namespace)`` and ``eio_sid_from_sid(sid, namespace)``. The connect handler runs before
  python-socketio sends its CONNECT packet and offers no callback for "sent", so
  :meth:`SocketServer.wait_joined` polls ``is_connected`` (a short busy-wait).

:func:`require_shape` checks these names at import. The guard tests are tests/e2e/gateway,
tests/e2e/security/test_engineio_abuse.py, tests/e2e/compat (the JS socket.io-client suite),
tests/integration/test_direct_write.py and tests/unit/test_third_party_internals.py.

Why: event frames go straight to an upgraded WebSocket once Engine.IO's queue is empty
(direct writes, as on ``/ws``); a slow Socket.IO client is held back by Engine.IO's queue
depth so the session's byte-bounded outbox judges it; a polling client's pending GET is
released when it leaves (else it waits out the ping timeout); a transport is dropped without
a CLOSE packet so clients reconnect by themselves; unauthenticated peers are bounded before
the library allocates anything for them (``eio.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import engineio
import socketio
from engineio import packet as eio_packet
from engineio.async_drivers.asgi import WebSocket as AsgiWebSocket
from engineio.async_socket import AsyncSocket
from socketio.base_manager import BaseManager

from adstack_runtime.internals import require_shape

ENGINEIO_FENCE = "python-engineio>=4.11,<4.16"
"""The dependency line of pyproject.toml that keeps other python-engineio releases out."""
SOCKETIO_FENCE = "python-socketio>=5.12,<5.19"
"""The dependency line of pyproject.toml that keeps other python-socketio releases out."""

SHAPES = (
    require_shape(engineio.AsyncServer, fence=ENGINEIO_FENCE,
                  methods=("_handle_connect", "handle_request", "send", "on"),
                  attributes=("sockets", "handlers", "_async", "reason"),
                  parameters={"_handle_connect": ("environ", "transport", "jsonp_index")}),
    require_shape(engineio.AsyncServer.reason, fence=ENGINEIO_FENCE,
                  attributes=("SERVER_DISCONNECT", "TRANSPORT_ERROR", "CLIENT_DISCONNECT")),
    require_shape(AsyncSocket, fence=ENGINEIO_FENCE, methods=("close",),
                  attributes=("sid", "queue", "upgraded", "closing", "closed"),
                  parameters={"close": ("wait", "abort", "reason")}),
    require_shape(AsgiWebSocket, fence=ENGINEIO_FENCE, methods=("__call__", "wait"),
                  parameters={"__init__": ("handler", "server")}),
    require_shape(socketio.AsyncServer, fence=SOCKETIO_FENCE,
                  methods=("_engineio_server_class", "disconnect", "on"),
                  attributes=("eio", "manager", "reason")),
    require_shape(BaseManager, fence=SOCKETIO_FENCE,
                  methods=("is_connected", "sid_from_eio_sid", "eio_sid_from_sid")),
)
"""What this adapter relies on, checked at import (re-checked by the guard tests)."""

_NOOP = eio_packet.NOOP
"""Engine.IO's NOOP packet type (an import error if a release drops it)."""

NAMESPACE = "/"
"""The one Socket.IO namespace the gateway serves."""

Handler = Callable[..., Any]


class _CheckedWebSocket(AsgiWebSocket):  # type: ignore[misc]
    """The ASGI WebSocket wrapper python-engineio reads frames from, asking its server
    (:meth:`EngineServer.frame_problem`) about each text frame first: a frame with a
    problem ends the connection (the library treats ``OSError`` from ``wait`` as the
    connection going away)."""

    def __init__(self, handler: Handler, server: EngineServer) -> None:
        super().__init__(handler, server)
        self.engine = server
        self.scope: Any = None

    async def __call__(self, environ: dict[str, Any]) -> Any:
        self.scope = environ.get("asgi.scope")
        return await super().__call__(environ)

    async def wait(self) -> Any:
        data = await super().wait()
        if isinstance(data, str):
            problem = self.engine.frame_problem(data, self.scope)
            if problem is not None:
                raise OSError(problem)
        return data


class EngineServer(engineio.AsyncServer):  # type: ignore[misc]
    """``engineio.AsyncServer`` with two hooks instead of private overrides
    (:meth:`frame_problem`, :meth:`handshake_refusal`) and the socket operations the
    gateway needs, each by Engine.IO sid."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The driver's module-level dict: copied, not changed.
        drivers: dict[str, Any] = vars(self)["_async"]
        self.__dict__["_async"] = {**drivers, "websocket": _CheckedWebSocket}

    # -- hooks (a subclass overrides them) ---------------------------------------------

    def frame_problem(self, text: str, scope: Any) -> str | None:
        """Why a text WebSocket frame must end its connection; None to let it through."""
        return None

    def handshake_refusal(self, environ: dict[str, Any]
                          ) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """``(status line, headers, body)`` to answer a handshake with instead of opening
        a session; None to go on. Nothing may be awaited between this and the connect
        handler."""
        return None

    async def _handle_connect(self, environ: dict[str, Any], transport: str,
                              jsonp_index: int | None = None) -> Any:
        refusal = self.handshake_refusal(environ)
        if refusal is not None:
            status, headers, body = refusal
            return {"status": status, "headers": headers, "response": body}
        return await super()._handle_connect(environ, transport, jsonp_index)

    # -- sockets -----------------------------------------------------------------------

    def has_session(self, eio_sid: str) -> bool:
        """True while Engine.IO has a session for ``eio_sid``."""
        return eio_sid in self.sockets

    def wrap_handler(self, event: str, wrap: Callable[[Handler], Handler]) -> None:
        """Replace the handler registered for ``event`` with ``wrap(that handler)``."""
        self.on(event, wrap(self.handlers[event]))

    async def send_bounded(self, eio_sid: str, packet: str, max_queued: int) -> None:
        """Queue a message; then, if ``max_queued`` packets or more wait in the session's
        queue, wait until the client has taken all of them."""
        await self.send(eio_sid, packet)
        socket = self.sockets.get(eio_sid)
        if socket is not None and socket.queue.qsize() >= max_queued:
            await socket.queue.join()

    def upgraded(self, eio_sid: str) -> bool | None:
        """Whether the session runs on its upgraded WebSocket; None if it is gone."""
        socket = self.sockets.get(eio_sid)
        return None if socket is None else bool(socket.upgraded)

    async def drained(self, eio_sid: str, timeout: float) -> bool:
        """True once the session's queue is empty and every packet taken from it written
        (its writer pops and writes in one step); False if that takes over ``timeout``
        seconds or the session is gone."""
        socket = self.sockets.get(eio_sid)
        if socket is None:
            return False
        try:
            await asyncio.wait_for(socket.queue.join(), timeout)
        except TimeoutError:
            return False
        return bool(socket.queue.qsize() == 0)

    def release_poll(self, eio_sid: str) -> None:
        """End a long-poll still waiting for packets (a NOOP packet answers it).

        python-engineio keeps a polling client's pending GET open after the client sent
        CLOSE, until the poll times out (ping interval + timeout); the client waits for it.
        """
        socket = self.sockets.get(eio_sid)
        if socket is not None and not socket.upgraded:
            socket.queue.put_nowait(eio_packet.Packet(_NOOP))

    async def drop_transport(self, eio_sid: str) -> None:
        """Drop the transport after the queued packets, without a CLOSE packet: to every
        Socket.IO client that is a lost transport, which it answers by reconnecting."""
        socket = self.sockets.get(eio_sid)
        if socket is None:
            return
        if socket.upgraded:
            socket.queue.put_nowait(None)  # the WebSocket writer flushes, then closes
        await socket.close(wait=False, abort=True, reason=self.reason.SERVER_DISCONNECT)

    async def hang_up(self, eio_sid: str) -> None:
        """Close a session now with a CLOSE packet (a waiting long-poll returns it; a
        WebSocket's writer sends it, then closes) and forget it at once."""
        socket = self.sockets.get(eio_sid)
        if socket is None:
            return
        if not socket.closing and not socket.closed:
            await socket.close(wait=False, abort=False, reason=self.reason.SERVER_DISCONNECT)
        self.sockets.pop(eio_sid, None)
        if socket.upgraded:
            socket.queue.put_nowait(None)  # the writer sends the CLOSE, then closes

    async def end_broken(self, eio_sid: str) -> None:
        """Close a session whose client broke the transport (``TRANSPORT_ERROR``) and
        forget it."""
        socket = self.sockets.get(eio_sid)
        if socket is not None:
            await socket.close(wait=False, abort=False, reason=self.reason.TRANSPORT_ERROR)
            self.sockets.pop(socket.sid, None)


class SocketServer(socketio.AsyncServer):  # type: ignore[misc]
    """``socketio.AsyncServer`` on :attr:`engine_class`, with the namespace look-ups the
    gateway needs (always the default namespace)."""

    engine_class: type[EngineServer] = EngineServer
    eio: EngineServer

    def _engineio_server_class(self) -> type[EngineServer]:
        return self.engine_class

    def namespace_sid(self, eio_sid: str) -> str | None:
        """The Socket.IO sid of an Engine.IO session in the namespace; None if not in it."""
        sid = self.manager.sid_from_eio_sid(eio_sid, NAMESPACE)
        return None if sid is None else str(sid)

    def engine_sid(self, sid: str) -> str:
        """The Engine.IO sid under a Socket.IO sid."""
        return str(self.manager.eio_sid_from_sid(sid, NAMESPACE))

    async def wait_joined(self, sid: str) -> bool:
        """Wait (about 5 s at most) until python-socketio counts ``sid`` as connected, that
        is has sent its CONNECT packet; False if it never does."""
        for attempt in range(500):
            if self.manager.is_connected(sid, NAMESPACE):
                return True
            await asyncio.sleep(0 if attempt < 20 else 0.01)
        return False

    def left_by_itself(self, reason: Any) -> bool:
        """True if a disconnect ``reason`` says the client left (it sent CLOSE)."""
        return bool(reason == self.reason.CLIENT_DISCONNECT)
