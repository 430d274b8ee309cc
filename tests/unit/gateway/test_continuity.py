"""The one continuity rule both resume paths use (``since`` and the bus reconnect)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adstack_gateway.continuity import Resume, read_after, resume


@pytest.mark.parametrize(("last", "current", "first", "expected"), [
    # Nothing published since: continuous, nothing to read.
    (("E", 10), ("E", 10), None, Resume("recovered", "E", 10)),
    # The next offset is still there: continuous.
    (("E", 10), ("E", 15), 11, Resume("recovered", "E", 10)),
    (("E", 10), ("E", 15), 3, Resume("recovered", "E", 10)),
    # Trimmed past it: a gap, and the replay starts after the offset before the oldest kept.
    (("E", 10), ("E", 2000), 1001, Resume("history_gap", "E", 1000)),
    (("E", 10), ("E", 15), 12, Resume("history_gap", "E", 11)),
    # Offsets after ours exist but the history holds none of them.
    (("E", 10), ("E", 15), None, Resume("history_gap", "E", 15)),
    # A new epoch (Redis restarted empty, or the history expired): all of it is new.
    (("E", 10), ("F", 223), 1, Resume("epoch_changed", "F", 0)),
    (("E", 10), ("F", 2000), 1001, Resume("epoch_changed", "F", 1000)),
    (("E", 10), ("F", 5), None, Resume("epoch_changed", "F", 5)),
    # The subscriber saw offsets this epoch never reached (Redis lost acknowledged writes).
    (("E", 10), ("E", 4), 1, Resume("ahead", "E", 0)),
    # No history at all: fine if it never saw an event, else a gap it is told about.
    (("", 0), (None, 0), None, Resume("recovered", "", 0)),
    (("E", 10), (None, 0), None, Resume("history_gap", "E", 10)),
    # A subscriber that never saw an event is in every epoch.
    (("", 0), ("F", 7), 1, Resume("recovered", "F", 0)),
    (("", 0), ("F", 2000), 1001, Resume("history_gap", "F", 1000)),
])
def test_resume(last: tuple[str, int], current: tuple[str | None, int], first: int | None,
                expected: Resume) -> None:
    assert resume(*last, *current, first) == expected


def test_read_after_starts_at_the_subscriber_or_at_the_beginning() -> None:
    assert read_after("E", 10, "E", 15) == 10
    assert read_after("E", 10, "F", 15) == 0
    assert read_after("E", 10, "E", 4) == 0
    assert read_after("", 0, "F", 4) == 0
    assert read_after("E", 10, None, 0) == 0


@given(last=st.integers(0, 3000), current=st.integers(0, 3000), retain=st.integers(1, 1000),
       same=st.booleans())
def test_never_a_silent_partial_replay(last: int, current: int, retain: int,
                                       same: bool) -> None:
    """Whatever the position, the subscriber either continues exactly (nothing between its
    offset and the first replayed one is missing) or is told it does not."""
    epoch = "E" if same else "F"
    oldest = max(1, current - retain + 1)
    after = read_after("E", last, epoch, current)
    first = oldest if max(after + 1, oldest) <= current else None
    if first is not None:
        first = max(first, after + 1)
    verdict = resume("E", last, epoch, current, first)
    replayed = list(range(verdict.after + 1, current + 1))
    if verdict.continuous:
        assert same and last <= current
        assert replayed == list(range(last + 1, current + 1))
        assert not replayed or replayed[0] >= oldest  # all of it is still in the history
    else:
        # Told, and given everything the history still holds after the gap.
        assert verdict.epoch == epoch
        assert not replayed or replayed[0] >= oldest
        assert verdict.after + 1 <= oldest or verdict.after == current
