"""Can the gateway prove that a subscription continues without a hole? One rule, pure.

Both ways a subscription resumes use it: a client's ``subscribe`` with ``since``
(:meth:`adstack_gateway.node.Gateway._subscribe`) and the gateway's own resume after its
Redis pub/sub link came back (:meth:`adstack_gateway.hub.Hub.reposition`). Both read the
history the same way too (:func:`adstack_gateway.recovery.read_missed`): :func:`read_point`
says where to read from for a set of subscribers, :class:`Missed` what the read found, and
:meth:`Missed.decide` the verdict for each subscriber.

Continuity is proven only when, in the same epoch, the history still holds the offset right
after the last one delivered (or nothing was published since). Otherwise the answer is a
gap: the subscriber is told ``recovered: false`` with the position the replay starts
*after* (the offset before the oldest one the history still holds), and then gets every
retained event after it — never a partial replay presented as whole, and never less than
what is still recoverable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

RECOVERED = "recovered"
EPOCH_CHANGED = "epoch_changed"
AHEAD = "ahead"
HISTORY_GAP = "history_gap"


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a resumed subscription continues."""

    outcome: str
    """``recovered``, or why continuity cannot be proven: ``epoch_changed``, ``ahead`` (the
    subscriber saw offsets this epoch never reached), ``history_gap`` (trimmed away)."""
    epoch: str
    """The epoch the subscription continues in."""
    after: int
    """Replay every history entry with an offset above this one (and tell the subscriber
    it starts after it)."""

    @property
    def continuous(self) -> bool:
        return self.outcome == RECOVERED


def same_epoch(last_epoch: str, last_offset: int, current_epoch: str) -> bool:
    """True if a subscriber at (``last_epoch``, ``last_offset``) is in ``current_epoch``.

    A subscriber that never saw an event (no epoch, offset 0) is in every epoch: any epoch's
    offsets from 1 are new to it.
    """
    return last_epoch == current_epoch or (not last_epoch and last_offset == 0)


def read_after(last_epoch: str, last_offset: int, current_epoch: str | None,
               current_offset: int) -> int:
    """The offset to read the history after, for a subscriber at (epoch, offset)."""
    if current_epoch is None:
        return current_offset
    if same_epoch(last_epoch, last_offset, current_epoch) and last_offset <= current_offset:
        return last_offset
    return 0


def resume(last_epoch: str, last_offset: int, current_epoch: str | None, current_offset: int,
           first: int | None) -> Resume:
    """Decide continuity for a subscriber whose last delivered event is
    (``last_epoch``, ``last_offset``).

    ``current_epoch`` / ``current_offset`` is the contract's position (``None`` epoch: no
    history at all). ``first`` is the oldest offset the history holds at or after what was
    read (see :func:`read_after`: the read must start at or before the subscriber's offset),
    or None if the read returned nothing. History entries are contiguous, so ``first``
    alone says whether the offset after ``last_offset`` is still there.
    """
    if current_epoch is None:
        # No history at all: continuous only if the subscriber never saw an event. Else the
        # history is gone (Redis lost its data, or it expired) and with it what we would
        # have to prove; the next epoch's events start at 1 and are all new to it.
        return Resume(RECOVERED if last_offset == 0 else HISTORY_GAP, last_epoch, last_offset)
    if same_epoch(last_epoch, last_offset, current_epoch) and last_offset <= current_offset:
        if last_offset == current_offset or (first is not None and first <= last_offset + 1):
            return Resume(RECOVERED, current_epoch, last_offset)
        return Resume(HISTORY_GAP, current_epoch,
                      current_offset if first is None else first - 1)
    outcome = AHEAD if same_epoch(last_epoch, last_offset, current_epoch) else EPOCH_CHANGED
    return Resume(outcome, current_epoch, current_offset if first is None else first - 1)


def read_point(positions: Iterable[tuple[str, int]], current_epoch: str | None,
               current_offset: int) -> int | None:
    """The offset to read the history after so that every subscriber at one of
    ``positions`` (epoch, last offset) can be decided, or None if there is nothing to read
    (no history, or nothing after the oldest position)."""
    after = min((read_after(epoch, offset, current_epoch, current_offset)
                 for epoch, offset in positions), default=current_offset)
    if current_epoch is None or after >= current_offset:
        return None
    return after


@dataclass(frozen=True, slots=True)
class Missed:
    """What one history read found: the contract's position and the oldest offset read."""

    epoch: str | None
    """The contract's epoch (None: no history at all)."""
    current: int
    """Its newest offset (at least the newest one read)."""
    first: int | None
    """The oldest offset read, None if the read returned nothing."""

    @classmethod
    def of(cls, epoch: str | None, current: int, offsets: list[int]) -> Missed:
        """The result of a read that returned ``offsets`` (oldest first)."""
        if not offsets:
            return cls(epoch, current, None)
        return cls(epoch, max(current, offsets[-1]), offsets[0])

    def decide(self, last_epoch: str, last_offset: int) -> Resume:
        """:func:`resume` for a subscriber whose last delivered event is (epoch, offset)."""
        return resume(last_epoch, last_offset, self.epoch, self.current, self.first)
