"""Pre-built server frames (parsed back by websockets' own frame parser) and the
protocol's small inbox and flow flag."""

from __future__ import annotations

import asyncio

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from adstack_gateway._uvicorn_ws import _Flag, _Inbox
from adstack_gateway.outgoing import Outgoing, text_frame


def parse(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("incomplete frame")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 200_000])
def test_text_frame_is_a_final_unmasked_text_frame(size: int) -> None:
    payload = b"x" * size
    frame = parse(text_frame(payload))
    assert frame.opcode is Opcode.TEXT and frame.fin
    assert frame.data == payload


def test_outgoing_frame_carries_the_frame_as_published_and_is_built_once() -> None:
    raw = b'{"event":"event","data":{"type":"t","offset":3,"epoch":"e","publishedAt":12}}'
    message = Outgoing.from_wire(raw)
    assert message.published_at == 12 and message.offset == 3
    assert parse(message.ws_frame).data == raw
    assert message.ws_frame is message.ws_frame
    reply = Outgoing("pong", data={"timestamp": 1}, request_id="r1")
    assert parse(reply.ws_frame).data.decode() == reply.text


def test_a_bus_message_that_is_not_utf8_is_refused() -> None:
    # Valid JSON around the peeked fields, invalid UTF-8 in one the peek skips.
    with pytest.raises(UnicodeDecodeError):
        Outgoing.from_wire(b'{"event":"event","data":{"type":"t","x":"\xff"}}')


async def test_inbox_hands_items_over_in_order_and_wakes_its_reader() -> None:
    inbox = _Inbox()
    assert inbox.empty()
    reader = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert await reader == 1
    assert inbox.qsize() == 1 and await inbox.get() == 2 and inbox.empty()
    cancelled = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    cancelled.cancel()
    inbox.put_nowait(3)  # a cancelled reader loses nothing
    assert await inbox.get() == 3


async def test_flag_blocks_writers_until_set() -> None:
    flag = _Flag(True)
    assert await flag.wait()
    flag.clear()
    waiters = [asyncio.ensure_future(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters) and not flag.is_set()
    flag.set()
    assert await asyncio.gather(*waiters) == [True, True, True]
