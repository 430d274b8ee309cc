"""Pure routing helpers: one server → client message (:class:`Outgoing`, its frames built
once for all clients; :func:`history_message` for a history entry), and which subscription
it matches. No I/O.

The frame bytes themselves are built, peeked at and sliced by the wire codec
(:mod:`adstack_protocol.wire`); this module caches them per transport.
"""

from __future__ import annotations

from typing import Any

import msgspec

from adstack_protocol import ServerEvent, wire

_encoder = msgspec.json.Encoder()
_peek_frame = wire.FRAME_PEEK.decode
""":func:`adstack_protocol.wire.peek_frame` without the wrapper's call (once per bus message)."""


class Outgoing:
    """One server → client message, encoded at most once however many clients get it.

    ``text`` is the native-protocol JSON frame; ``sio_packet`` is the same message as a
    Socket.IO event packet; ``data`` is the decoded payload. Each is computed lazily, once,
    and cached, so a message relayed to thousands of clients is encoded once per transport.
    """

    __slots__ = ("_data", "_frame", "_raw", "_sio", "_sio_frame", "_text", "epoch", "event",
                 "event_type", "offset", "published_at", "request_id", "source", "sse")

    def __init__(self, event: str, *, raw: bytes | None = None, data: Any = None,
                 request_id: Any = None, event_type: str = "", offset: int = 0,
                 epoch: str = "", source: str = "", published_at: int = 0) -> None:
        self.event = event
        self._raw = raw
        self._text: str | None = None
        self._sio: str | None = None
        self._frame: bytes | None = None
        self._sio_frame: bytes | None = None
        self._data = data
        self.request_id = request_id
        self.event_type = event_type
        self.offset = offset
        self.epoch = epoch
        self.source = source
        self.sse: bytes | None = None
        """The SSE record, built once by :func:`adstack_gateway.sse.format_sse`."""
        self.published_at = published_at
        """``publishedAt`` of an event (ms since the epoch), 0 if none: relay latency."""

    @classmethod
    def from_wire(cls, raw: bytes) -> Outgoing:
        """Wrap a frame as published (``{"event": …, "data": {…}}``).

        Raises:
            msgspec.DecodeError / ValidationError: not a frame.
            UnicodeDecodeError: not UTF-8.
        """
        peek = _peek_frame(raw)
        data = peek.data
        message = cls(peek.event, raw=raw, event_type=data.type, offset=data.offset,
                      epoch=data.epoch, source=data.source, published_at=data.publishedAt)
        message._text = raw.decode()  # all of it valid UTF-8, not only the fields peeked at
        return message

    @classmethod
    def from_event_data(cls, event: str, data_json: bytes, *, event_type: str = "",
                        offset: int = 0, epoch: str = "", source: str = "") -> Outgoing:
        """Wrap a stored ``data`` object (from history) as a frame of ``event``."""
        return cls(event, raw=wire.data_frame(event, data_json), event_type=event_type,
                   offset=offset, epoch=epoch, source=source)

    @property
    def text(self) -> str:
        if self._text is None:
            if self._raw is not None:
                self._text = self._raw.decode()
            else:
                self._text = wire.frame(self.event, self._data, self.request_id).decode()
        return self._text

    @property
    def ws_frame(self) -> bytes:
        """The native frame as a complete server-to-client WebSocket text frame (RFC 6455:
        FIN, unmasked), built once and written as is to every native connection."""
        if self._frame is None:
            text = self.text  # validates UTF-8 once
            self._frame = text_frame(self._raw if self._raw is not None else text.encode())
        return self._frame

    @property
    def sio_frame(self) -> bytes:
        """The Socket.IO event packet as an Engine.IO message (``4`` + packet) in a complete
        WebSocket text frame, built once for every Socket.IO-over-WebSocket client."""
        if self._sio_frame is None:
            self._sio_frame = text_frame(("4" + self.sio_packet).encode())
        return self._sio_frame

    @property
    def data(self) -> Any:
        if self._data is None and self._raw is not None:
            self._data = wire.decode_data(self._raw)
        return self._data

    @property
    def sio_packet(self) -> str:
        """The Socket.IO (protocol v5) EVENT packet for the default namespace.

        ``2["<event>",<data>]``: the event's ``data`` bytes are spliced in as they are. A
        Socket.IO event has no envelope, so a request id travels inside ``data``.
        """
        if self._sio is None:
            if self._raw is not None and self.request_id is None:
                data_json = wire.slice_data(self._raw)
            else:
                data = self.data
                if self.request_id is not None and isinstance(data, dict):
                    data = {**data, "requestId": self.request_id}
                data_json = _encoder.encode(data)
            self._sio = "2[" + _encoder.encode(self.event).decode() + "," + data_json.decode() + "]"
        return self._sio

    def envelope(self) -> dict[str, Any]:
        """The native frame as an object (what a Socket.IO acknowledgement carries)."""
        return wire.envelope(self.event, self.data, self.request_id)


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final WebSocket text frame carrying ``payload`` (UTF-8)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 1 << 16:
        head = b"\x81\x7e" + n.to_bytes(2, "big")
    else:
        head = b"\x81\x7f" + n.to_bytes(8, "big")
    return head + payload


def matches(event_types: frozenset[str] | None, event_type: str) -> bool:
    """Exact filtering: no filter takes every type; otherwise the type must be listed."""
    return event_types is None or event_type in event_types


def history_message(data: bytes, kind: str, offset: int, epoch: str = "") -> Outgoing:
    """A history entry (``kind`` ``e``: an event, else a revert) as the message a live
    subscriber would have received."""
    peek = wire.peek_data(data)
    event = ServerEvent.EVENT if kind == "e" else ServerEvent.EVENT_REVERTED
    return Outgoing.from_event_data(event, data, event_type=peek.type, offset=offset,
                                    epoch=peek.epoch or epoch, source=peek.source)
