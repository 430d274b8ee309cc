"""Pure checks of what a Socket.IO client sends, before python-socketio acts on it. No I/O.

python-socketio trusts the shape of the packets it decodes. Without these checks a
hostile client could:

- send a binary event announcing millions of attachments: the server keeps every binary
  frame that follows, and its memory grows without bound;
- send an event packet whose data is not ``[name, …]`` (``42{}``, ``42[]``, ``42[null]``),
  bad JSON, a ``CONNECT_ERROR`` or an unknown packet type: each raised inside the library,
  was logged as an error with a traceback, and the packet vanished without an answer.

:func:`packet_problem` names what is wrong with such a message; the transport shell then
closes the connection with ``BAD_REQUEST`` (4501), as the native protocol does for a
binary frame. :func:`command_arguments` turns an accepted event's arguments into the
``(data, requestId)`` every command takes.
"""

from __future__ import annotations

from typing import Any

from engineio import packet as eio_packet
from engineio import payload as eio_payload
from socketio import packet as sio_packet

BINARY = "binary packets are not supported"
MALFORMED = "malformed Socket.IO packet"
BAD_EVENT = "an event packet must be [name, ...arguments] with a string name"
UNEXPECTED_ACK = "unexpected acknowledgement (the server never asks for one)"

_ACCEPTED = (sio_packet.CONNECT, sio_packet.DISCONNECT)


def packet_problem(message: str | bytes) -> str | None:
    """Why an Engine.IO message from a client is refused; None if it may be handled.

    The gateway speaks JSON only, so binary messages and binary packets are refused. It
    never asks clients for acknowledgements, so ``ACK`` packets are refused too.
    """
    if not isinstance(message, str):
        return BINARY
    try:
        packet = sio_packet.Packet(encoded_packet=message)
    except Exception:
        # Whatever the library's parser chokes on: ValueError (bad type digit, bad JSON,
        # an id or attachment count too long), RecursionError (deep nesting)…
        return MALFORMED
    kind = packet.packet_type
    if kind in (sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK):
        return BINARY
    if kind == sio_packet.EVENT:
        data = packet.data
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            return BAD_EVENT
        return None
    if kind == sio_packet.ACK:
        return UNEXPECTED_ACK
    if kind in _ACCEPTED:
        return None
    return MALFORMED  # CONNECT_ERROR (server → client only) or an unknown type


def command_arguments(args: tuple[Any, ...] | list[Any]) -> tuple[Any, Any]:
    """``(data, request_id)`` of a Socket.IO event's arguments (after its name).

    Socket.IO events have no envelope, so a request id travels inside ``data`` as
    ``requestId`` and is taken out here; a request id that is not a string or an integer
    is ignored. Several arguments are passed on as one list (a command refuses it).
    """
    if len(args) > 1:
        return list(args), None
    data = args[0] if args else None
    request_id = None
    if isinstance(data, dict) and "requestId" in data:
        data = dict(data)
        request_id = data.pop("requestId")
        if not isinstance(request_id, str | int) or isinstance(request_id, bool):
            request_id = None
    return data, request_id


EIO_GARBAGE = "not an Engine.IO packet"
NOT_UTF8 = "not UTF-8 text"
_EIO_TYPES = frozenset("0123456")
"""Engine.IO v4 packet types: open, close, ping, pong, message, upgrade, noop."""


def eio_text_problem(text: str) -> str | None:
    """Why a text WebSocket frame is not an Engine.IO packet; None if it is one.

    python-engineio decodes frames outside any ``try``: an empty frame, a frame that does
    not start with a packet type (``x``) or one whose JSON nests too deep raised out of its
    WebSocket handler, and the server logged a traceback per frame.
    """
    if text[:1] not in _EIO_TYPES and not text.startswith("b"):
        return EIO_GARBAGE
    try:
        eio_packet.Packet(encoded_packet=text)
    except Exception:
        return EIO_GARBAGE
    return None


def eio_payload_problem(body: bytes) -> str | None:
    """Why a polling POST body is not an Engine.IO v4 payload; None if it is one.

    A payload is UTF-8 text: packets separated by the record separator (0x1E), each
    starting with its type digit (``b`` + base64 for a binary one).
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return NOT_UTF8
    try:
        packets = eio_payload.Payload(encoded_payload=text).packets
    except Exception:
        return EIO_GARBAGE
    if any(p.packet_type not in range(7) for p in packets):
        return EIO_GARBAGE
    return None
