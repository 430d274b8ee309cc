"""Outgoing over the wire codec: one peek per bus frame, and the Socket.IO packet and SSE
record carry the frame's data bytes exactly, even when the data holds ``"data":``."""

from __future__ import annotations

import json

from adstack_gateway.outgoing import Outgoing
from adstack_gateway.sse import format_sse
from adstack_protocol import ServerEvent, wire

DATA = (b'{"id":"x","type":"t","text":"a \\"data\\": b } \xc3\xa9 \xf0\x9f\x9a\x80",'
        b'"data":{"data":1},"offset":5,"epoch":"ep","source":"hiro","publishedAt":9}')


def test_a_bus_frame_is_peeked_once_and_relayed_as_is() -> None:
    frame = wire.event_frame(DATA)
    message = Outgoing.from_wire(frame)
    assert (message.event, message.event_type, message.offset, message.epoch, message.source,
            message.published_at) == ("event", "t", 5, "ep", "hiro", 9)
    assert message.text.encode() == frame
    assert message.sio_packet == '2["event",' + DATA.decode() + "]"
    assert format_sse(message) == b"event: event\nid: ep:5\ndata: " + DATA + b"\n\n"
    assert format_sse(message) is format_sse(message), "built once"


def test_a_reply_with_a_request_id_keeps_it_out_of_the_sse_data() -> None:
    message = Outgoing(ServerEvent.STATS, data={"data": '"data":'}, request_id="r1")
    assert json.loads(message.text) == {"event": "stats", "data": {"data": '"data":'},
                                        "requestId": "r1"}
    assert format_sse(message) == b'event: stats\ndata: {"data":"\\"data\\":"}\n\n'
