"""Delivery never jumps offsets silently: a subscription hears of the gap first."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from adstack_auth import Claims
from adstack_gateway.hub import route
from adstack_gateway.outgoing import Outgoing
from adstack_gateway.session import Session, Subscription

C = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"


class Recorder:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def send(self, message: Outgoing) -> None:
        self.frames.append(json.loads(message.text))

    async def close(self, code: int, reason: str) -> None:
        pass


def event(epoch: str, offset: int) -> Outgoing:
    return Outgoing("event", data={"contractId": C, "offset": offset, "epoch": epoch},
                    offset=offset, epoch=epoch, event_type="t")


async def delivered(recorder: Recorder, count: int) -> list[tuple[Any, ...]]:
    for _ in range(100):
        if len(recorder.frames) >= count:
            break
        await asyncio.sleep(0.01)
    out: list[tuple[Any, ...]] = []
    for frame in recorder.frames:
        data = frame["data"]
        if frame["event"] == "subscribed":
            out.append(("told", data["epoch"], data["offset"], data["recovered"],
                        data["reason"]))
        else:
            out.append((data["epoch"], data["offset"]))
    return out


async def test_a_jump_or_a_new_epoch_is_told_before_the_event() -> None:
    recorder = Recorder()
    session = Session("s1", Claims.anonymous(), recorder)
    sub = Subscription(None)
    sub.epoch, sub.last_offset = "E", 5
    for message in (event("E", 6), event("E", 6), event("E", 9), event("E", 10),
                    event("F", 1), event("F", 2)):
        route(session, sub, message, C)
    assert await delivered(recorder, 7) == [
        ("E", 6),
        ("told", "E", 8, False, "gap"), ("E", 9), ("E", 10),
        ("told", "F", 0, False, "gap"), ("F", 1), ("F", 2),
    ]
    await session.stop()


async def test_a_subscription_that_saw_nothing_takes_any_epoch_from_its_start() -> None:
    recorder = Recorder()
    session = Session("s2", Claims.anonymous(), recorder)
    sub = Subscription(None)
    for message in (event("F", 1), event("F", 2)):
        route(session, sub, message, C)
    assert await delivered(recorder, 2) == [("F", 1), ("F", 2)]
    await session.stop()
