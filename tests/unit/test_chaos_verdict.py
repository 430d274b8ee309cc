"""The chaos verdict: every client has every event or was told of its gap."""

from __future__ import annotations

from tests.chaos.verdict import Item, check


def ev(epoch: str, offset: int) -> Item:
    return Item("event", epoch, offset)


def test_contiguous_events_pass() -> None:
    assert check([ev("E", 1), ev("E", 2), ev("E", 3)], ("E", 3)).ok


def test_a_jump_without_a_notice_is_a_silent_gap() -> None:
    verdict = check([ev("E", 1), ev("E", 5)], ("E", 5))
    assert not verdict.ok and verdict.silent_gaps == 1 and verdict.silently_skipped == 3


def test_a_jump_after_a_notice_is_told() -> None:
    items = [ev("E", 1), Item("gap", "E", 4), ev("E", 5), ev("E", 6)]
    verdict = check(items, ("E", 6))
    assert verdict.ok and verdict.notices == 1


def test_a_new_epoch_needs_a_notice() -> None:
    assert not check([ev("E", 7), ev("F", 1)], ("F", 1)).ok
    assert check([ev("E", 7), Item("gap", "F", 0), ev("F", 1)], ("F", 1)).ok
    # Told while no history existed (the notice keeps the old position), then a new epoch.
    assert check([ev("E", 7), Item("gap", "E", 7), ev("F", 1)], ("F", 1)).ok
    assert not check([ev("E", 7), Item("gap", "E", 7), ev("F", 3)], ("F", 3)).ok


def test_not_caught_up_or_duplicated_fails() -> None:
    assert not check([ev("E", 1), ev("E", 2)], ("E", 3)).ok
    assert not check([ev("E", 1), ev("E", 2), ev("E", 2)], ("E", 2)).ok
