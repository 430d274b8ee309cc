"""The one history read both resume paths make, and where it starts (pure part)."""

from __future__ import annotations

from adstack_bus.memory import MemoryBroker
from adstack_gateway.continuity import Missed, Resume, read_point
from adstack_gateway.recovery import read_missed
from tests.unit.gateway.rig import C1, event


def test_read_point_covers_the_oldest_subscriber_of_the_epoch() -> None:
    assert read_point([("E", 7), ("E", 3), ("E", 9)], "E", 10) == 3
    # Another epoch, or a fresh subscriber: everything the history holds.
    assert read_point([("E", 7), ("D", 40)], "E", 10) == 0
    assert read_point([("", 0)], "E", 10) == 0
    # Nothing to read: no history, everyone up to date, or nobody resuming.
    assert read_point([("E", 7)], None, 0) is None
    assert read_point([("E", 10)], "E", 10) is None
    assert read_point([], "E", 10) is None


def test_missed_keeps_the_newest_offset_read_and_the_oldest() -> None:
    assert Missed.of("E", 10, []) == Missed("E", 10, None)
    assert Missed.of("E", 10, [4, 5, 12]) == Missed("E", 12, 4)
    missed = Missed.of("E", 10, [4, 5, 6, 7, 8, 9, 10])
    assert missed.decide("E", 5) == Resume("recovered", "E", 5)
    assert missed.decide("E", 1) == Resume("history_gap", "E", 3)
    assert missed.decide("D", 5) == Resume("epoch_changed", "E", 3)


async def test_read_missed_reads_after_the_oldest_position_only_when_needed() -> None:
    broker = MemoryBroker(new_epoch=lambda: "E")
    store = broker.store()
    missed, page = await read_missed(store, C1, [("", 0)])
    assert (missed, page.offsets) == (Missed(None, 0, None), [])
    await broker.publisher(history_limit=4).publish_events([event(n) for n in range(1, 7)])
    missed, page = await read_missed(store, C1, [("E", 5), ("E", 2)])
    assert (missed, page.offsets, page.kinds) == (Missed("E", 6, 3), [3, 4, 5, 6], ["e"] * 4)
    missed, page = await read_missed(store, C1, [("E", 6)])
    assert (missed, page.offsets) == (Missed("E", 6, None), [])
