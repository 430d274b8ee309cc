"""The wire codec: builds, peeks into and slices every server → client frame. Pure.

A frame is ``{"event":"<name>","data":<object>}`` with an optional ``"requestId"`` after the
data. This module is the one place that knows that shape:

- building: a contract event (:func:`event_head` → :func:`event_data` → :func:`event_frame`),
  a revert (:func:`revert_head` → :func:`revert_data` → :func:`revert_frame`), a feed
  (:func:`feed_frame`), the ``history`` push after ``subscribed`` (:func:`history_push`) and
  the ``getHistory`` reply (:func:`history_reply`), which splice stored event objects in as
  they are, a stored object as a frame again (:func:`data_frame`), any reply
  (:func:`frame`) and an ``error`` (:func:`error_data`, :func:`error_frame`);
- the ``data`` of every reply and notice the gateway builds per client (encoded by
  :func:`frame`): ``connected`` (:func:`connected_data`), ``subscribed`` and the gap notice
  ``subscribed {recovered: false}`` (:func:`subscribed_data`, :func:`gap_notice_data`),
  ``unsubscribed`` (:func:`unsubscribed_data`, also when a refreshed token forbids a
  contract), a feed's ``subscribed`` / ``unsubscribed`` (:func:`feed_ack_data`),
  ``refreshed`` (:func:`refreshed_data`), ``pong`` (:func:`pong_data`), ``stats``
  (:func:`stats_data`, with the original server's ``stats`` object), Socket.IO's
  ``closing`` (:func:`closing_data`) and ``global_event`` (:func:`global_event_data`, also
  the items of :func:`global_events_frame`);
- peeking: the routing header of a frame (:func:`peek_frame`: event name, and the data's
  type, offset, epoch, publishedAt and source) or of a stored event object
  (:func:`peek_data`, also its id and block height), without decoding the rest;
- slicing: the ``data`` bytes of a frame (:func:`slice_data`; :func:`slice_bare_data`
  without parsing for a frame known to have no ``requestId``), spliced as they are into a
  Socket.IO packet or an SSE record.

The Redis scripts ``publish.lua`` and ``revert.lua`` (libs/bus) complete the heads built
here with the offset and epoch and publish the frames themselves; the golden-frame tests
(tests/integration/test_golden_frames.py) pin their bytes to :func:`event_data` /
:func:`event_frame` / :func:`revert_data` / :func:`revert_frame`. See
docs/protocol-internals.md.

Not imported by ``adstack_protocol/__init__`` (it needs msgspec; the client SDK, which
packages adstack_protocol, depends on websockets only).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from adstack_protocol.names import ServerEvent

GLOBAL_EVENTS = "global_events"
"""Event name of the bus-only frame that lists one block's events (contract, type,
timestamp) for gateways with ``GLOBAL_EVENTS=true``; clients get ``global_event`` items."""

_encoder = msgspec.json.Encoder()
_EVENT_PREFIX = b'{"event":"event","data":'
_REVERTED_PREFIX = b'{"event":"event_reverted","data":'

# -- building ----------------------------------------------------------------------------


def object_head(value: Any) -> bytes:
    """``value``'s JSON object (a Struct or a dict) without its closing brace."""
    body = _encoder.encode(value)
    if not body.endswith(b"}"):
        raise TypeError("a frame head must encode to a JSON object")
    return body[:-1]


def event_head(event: Any) -> bytes:
    """A contract event's JSON object without its closing brace: what the publish script
    completes with ``,"offset":N,"epoch":"E"}`` (:func:`event_data`)."""
    return object_head(event)


def stored_object(value: Any) -> bytes:
    """An event object as history holds it, for one that never went through the publish
    script (a REST-backfilled event: no offset or epoch)."""
    return _encoder.encode(value)


def event_data(head: bytes, offset: int, epoch: str) -> bytes:
    """The stored and published event object: ``head`` completed with its position (what
    ``publish.lua`` writes to the history and wraps in :func:`event_frame`)."""
    return head + b',"offset":' + str(offset).encode() + b',"epoch":"' + epoch.encode() + b'"}'


def event_frame(data: bytes) -> bytes:
    """The ``event`` frame of a stored event object (as ``publish.lua`` publishes it)."""
    return _EVENT_PREFIX + data + b"}"


def revert_head(notice: Any) -> bytes:
    """A revert notice's JSON object without its ``ids``, position and closing brace: what
    the revert script completes with the ids it withdrew (:func:`revert_data`)."""
    fields = msgspec.structs.asdict(notice)
    fields.pop("ids", None)
    return object_head(fields)


def revert_data(head: bytes, ids: Sequence[str], offset: int, epoch: str) -> bytes:
    """The stored and published ``event_reverted`` object (ids are hex: quoted as is)."""
    quoted = b",".join(b'"' + i.encode() + b'"' for i in ids)
    return (head + b',"ids":[' + quoted + b'],"offset":' + str(offset).encode()
            + b',"epoch":"' + epoch.encode() + b'"}')


def revert_frame(data: bytes) -> bytes:
    """The ``event_reverted`` frame of a stored revert object (as ``revert.lua`` sends it)."""
    return _REVERTED_PREFIX + data + b"}"


def feed_frame(event: str, data: Any) -> bytes:
    """A feed frame (``block``, ``transaction``, the bus-only ``global_events``)."""
    return _encoder.encode({"event": event, "data": data})


def global_events_frame(items: Iterable[tuple[str, str, int]]) -> bytes:
    """The bus-only ``global_events`` frame of one block: (contract, type, timestamp)."""
    return feed_frame(GLOBAL_EVENTS, [global_event_data(contract, etype, timestamp)
                                      for contract, etype, timestamp in items])


def data_frame(event: str, data: bytes) -> bytes:
    """A stored ``data`` object (JSON bytes) as a frame of ``event``, spliced as is."""
    return b'{"event":"' + event.encode() + b'","data":' + data + b"}"


def history_push(contract_id: str, events: Sequence[bytes]) -> bytes:
    """The ``history`` frame pushed after ``subscribed``: ``{contractId, events, count}``
    (stored event objects, newest first, spliced in as they are)."""
    return (b'{"event":"history","data":{"contractId":"' + contract_id.encode()
            + b'","events":[' + b",".join(events) + b'],"count":'
            + str(len(events)).encode() + b"}}")


def history_reply(contract_id: str, events: Sequence[bytes], *, limit: int, backfilled: int,
                  request_id: Any = None) -> bytes:
    """The ``getHistory`` reply: ``{contractId, events, count, limit, backfilled}`` and the
    request id (stored event objects spliced in as they are: no decode / re-encode)."""
    raw = (b'{"event":"history","data":{"contractId":"' + contract_id.encode()
           + b'","events":[' + b",".join(events) + b'],"count":' + str(len(events)).encode()
           + b',"limit":' + str(limit).encode()
           + b',"backfilled":' + str(backfilled).encode() + b"}")
    if request_id is not None:
        raw += b',"requestId":' + _encoder.encode(request_id)
    return raw + b"}"


def envelope(event: str, data: Any, request_id: Any = None) -> dict[str, Any]:
    """A frame as an object: ``{"event", "data"}``, with ``requestId`` when given (what a
    Socket.IO acknowledgement carries)."""
    if request_id is None:
        return {"event": event, "data": data}
    return {"event": event, "data": data, "requestId": request_id}


def frame(event: str, data: Any, request_id: Any = None) -> bytes:
    """Any reply or notice: ``{"event", "data"}``, with ``requestId`` when given."""
    return _encoder.encode(envelope(event, data, request_id))


def error_data(code: str, message: str) -> dict[str, Any]:
    """The ``data`` of an ``error`` frame."""
    return {"message": message, "code": code}


def error_frame(code: str, message: str, request_id: Any = None) -> bytes:
    """An ``error`` frame (``code``: an :class:`~adstack_protocol.ErrorCode` value)."""
    return frame(ServerEvent.ERROR, error_data(code, message), request_id)


def _now_ms(now_ms: int | None) -> int:
    """A reply's ``timestamp``: ``now_ms``, else the clock (milliseconds since the epoch)."""
    return int(time.time() * 1000) if now_ms is None else now_ms


CONNECTED_MESSAGE = "Connected to AdStack real-time gateway"


def connected_data(socket_id: str, user_id: str, *, max_subscriptions: int,
                   max_frame_bytes: int, history_limit: int, rate_per_second: float,
                   rate_burst: int, now_ms: int | None = None) -> dict[str, Any]:
    """``connected``, the first frame of every connection: who the client is and the
    limits it is held to."""
    return {
        "message": CONNECTED_MESSAGE,
        "socketId": socket_id,
        "userId": user_id,
        "timestamp": _now_ms(now_ms),
        "limits": {
            "maxSubscriptions": max_subscriptions,
            "maxFrameBytes": max_frame_bytes,
            "historyLimit": history_limit,
            "ratePerSecond": rate_per_second,
            "rateBurst": rate_burst,
        },
    }


def subscribed_data(contract_id: str, event_types: Iterable[str] | None, *, epoch: str,
                    offset: int, recovered: bool | None = None, reason: str | None = None,
                    now_ms: int | None = None) -> dict[str, Any]:
    """``subscribed`` for a contract: the filter (sorted), and the position (epoch, offset)
    the subscription starts after; ``recovered`` for a ``subscribe`` with ``since`` (and
    every gap notice), ``reason`` when it is a gap notice (:func:`gap_notice_data`)."""
    body: dict[str, Any] = {
        "contractId": contract_id,
        "eventTypes": sorted(event_types) if event_types else [],
        "timestamp": _now_ms(now_ms),
        "epoch": epoch,
        "offset": offset,
    }
    if recovered is not None:
        body["recovered"] = recovered
    if reason is not None:
        body["reason"] = reason
    return body


def gap_notice_data(contract_id: str, event_types: Iterable[str] | None, *, epoch: str,
                    offset: int, reason: str, now_ms: int | None = None) -> dict[str, Any]:
    """``subscribed {recovered: false}`` for a subscription that resumes after a gap: the
    body a ``subscribe`` with ``since`` gets, with the offset the replay starts after."""
    return subscribed_data(contract_id, event_types, epoch=epoch, offset=offset,
                           recovered=False, reason=reason, now_ms=now_ms)


FORBIDDEN = "forbidden"
"""The ``reason`` of an ``unsubscribed`` the server sends itself: a refreshed token no
longer allows the contract."""


def unsubscribed_data(contract_id: str, *, reason: str | None = None,
                      now_ms: int | None = None) -> dict[str, Any]:
    """``unsubscribed``: the reply to ``unsubscribe`` (no reason), or the notice that the
    server ended a subscription (``reason``: :data:`FORBIDDEN`)."""
    if reason is None:
        return {"contractId": contract_id, "timestamp": _now_ms(now_ms)}
    return {"contractId": contract_id, "reason": reason, "timestamp": _now_ms(now_ms)}


def feed_ack_data(feed: str, now_ms: int | None = None) -> dict[str, Any]:
    """The reply to ``subscribeBlocks`` / ``unsubscribeBlocks`` and the transaction feed's
    pair (sent as ``subscribed`` / ``unsubscribed``): the feed's name."""
    return {"feed": feed, "timestamp": _now_ms(now_ms)}


def refreshed_data(expires_at: float | None) -> dict[str, Any]:
    """``refreshed``: when the new token expires (None: no ``exp``, or auth is off)."""
    return {"expiresAt": expires_at}


def pong_data(now_ms: int | None = None) -> dict[str, Any]:
    """``pong``, the reply to ``ping``."""
    return {"timestamp": _now_ms(now_ms)}


def stats_data(contract_id: str, *, total: int, by_type: dict[str, int],
               last_updated: int | None) -> dict[str, Any]:
    """``stats`` of a contract: our shape, and the original server's under ``stats``
    (``totalEvents``, ``eventsByType``, ``lastUpdated``), which its clients read."""
    return {
        "contractId": contract_id, "total": total, "byType": by_type,
        "lastUpdated": last_updated,
        "stats": {"totalEvents": total, "eventsByType": by_type, "lastUpdated": last_updated},
    }


def closing_data(code: int, reason: str) -> dict[str, Any]:
    """``closing``, the last frame a Socket.IO client gets before the server closes it: the
    close code and reason a WebSocket close would carry."""
    return {"code": int(code), "reason": reason}


def global_event_data(contract_id: str, event_type: str, timestamp: int) -> dict[str, Any]:
    """One ``global_event`` (GLOBAL_EVENTS=true): a contract event, named but not sent."""
    return {"contractId": contract_id, "type": event_type, "timestamp": timestamp}


# -- peeking -----------------------------------------------------------------------------


class DataPeek(msgspec.Struct):
    """The routing fields of a frame's ``data`` (absent ones are empty / 0)."""

    type: str = ""
    offset: int = 0
    epoch: str = ""
    source: str = ""
    publishedAt: int = 0


class FramePeek(msgspec.Struct):
    """A frame's event name and the routing fields of its ``data``."""

    event: str
    data: DataPeek = msgspec.field(default_factory=DataPeek)


class StoredPeek(msgspec.Struct):
    """The fields of a stored event (or revert) object that routing and merging read."""

    id: str = ""
    type: str = ""
    offset: int = 0
    epoch: str = ""
    source: str = ""
    blockHeight: int = 0


class GlobalItem(msgspec.Struct):
    """One event of a ``global_events`` frame."""

    contractId: str
    type: str
    timestamp: int


class GlobalEvents(msgspec.Struct):
    """A ``global_events`` frame (its items; the event name is not checked)."""

    data: list[GlobalItem]


class _DataSlice(msgspec.Struct):
    data: msgspec.Raw = msgspec.Raw(b"null")


_frame_peek = msgspec.json.Decoder(FramePeek)
FRAME_PEEK = _frame_peek
"""The decoder behind :func:`peek_frame`, for a hot path that calls ``.decode`` itself."""
_stored_peek = msgspec.json.Decoder(StoredPeek)
STORED_PEEK = _stored_peek
"""The decoder behind :func:`peek_data` (``STORED_PEEK.decode(data)``)."""
GLOBAL_EVENTS_PEEK = msgspec.json.Decoder(GlobalEvents)
"""Reads a ``global_events`` frame (``GLOBAL_EVENTS_PEEK.decode(raw).data``)."""
_data_slice = msgspec.json.Decoder(_DataSlice)
_any = msgspec.json.Decoder()

DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError)
"""What :func:`peek_frame` / :func:`peek_data` / :func:`slice_data` raise on a bad input."""


def peek_frame(raw: bytes | str) -> FramePeek:
    """The routing header of a published frame, in one pass, without building the rest.

    Raises:
        msgspec.DecodeError / ValidationError: not a frame. UnicodeDecodeError: not UTF-8.
    """
    return _frame_peek.decode(raw)


def peek_data(data: bytes) -> StoredPeek:
    """The routing fields of a stored event object (history entry)."""
    return _stored_peek.decode(data)


def slice_data(raw: bytes | str) -> bytes:
    """The ``data`` bytes of a frame, exactly as they are in it (``null`` if absent)."""
    return bytes(_data_slice.decode(raw).data)


def slice_bare_data(text: str, event: str) -> str:
    """The ``data`` of a frame of ``event`` that has no ``requestId`` (every published
    frame, and every reply to a command without one), without parsing: the text between
    ``{"event":"<event>","data":`` and the closing brace. A frame of another shape is
    parsed (:func:`slice_data`)."""
    prefix = '{"event":"' + event + '","data":'
    if text.startswith(prefix) and text.endswith("}"):
        return text[len(prefix):-1]
    return slice_data(text).decode()


def decode_data(raw: bytes | str) -> Any:
    """The decoded ``data`` of a frame."""
    return _any.decode(raw)["data"]
