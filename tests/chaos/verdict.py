""""Every client either has every event or was told of its gap", checked on what one
subscription received, in order.

A subscription's items are events ``(epoch, offset)`` and gap notices (the gateway's
``subscribed {recovered: false, epoch, offset}``: "the events up to this position that you
did not get are gone; everything after follows"). Walking them, each event must follow the
previous position by exactly one offset in the same epoch, unless a notice came between
(after a notice, a new epoch may also start at its offset 1: the gateway told the client
that the history it knew is gone); and the walk must end at the contract's final position.
A jump with no notice before it is a silent gap, whatever caused it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["event", "gap"]


@dataclass(frozen=True, slots=True)
class Item:
    kind: Kind
    epoch: str
    offset: int


@dataclass
class Verdict:
    events: int = 0
    duplicates: int = 0
    notices: int = 0
    silent_gaps: int = 0
    """Jumps (within an epoch, or to another epoch) that no notice announced."""
    silently_skipped: int = 0
    """Offsets skipped by those jumps (for a jump to another epoch: its offsets before the
    first one received; the old epoch's lost tail cannot be counted)."""
    reached: tuple[str, int] | None = None
    final: tuple[str, int] | None = None
    jumps: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.silent_gaps == 0 and self.duplicates == 0 and self.reached == self.final


def check(items: list[Item], final: tuple[str, int] | None,
          start: tuple[str, int] | None = None) -> Verdict:
    """Walk ``items`` from ``start`` (the position the subscription began after; None: the
    first event sets it) and compare with ``final``, the contract's position at the end."""
    verdict = Verdict(final=final)
    position = start
    told = False
    for item in items:
        if item.kind == "gap":
            verdict.notices += 1
            position = (item.epoch, item.offset)
            told = True
            continue
        if not item.offset:
            continue
        verdict.events += 1
        if position is None:
            position = (item.epoch, item.offset)
            continue
        epoch, offset = position
        if item.epoch == epoch and item.offset <= offset:
            verdict.duplicates += 1
            continue
        continuous = (item.offset == offset + 1 if item.epoch == epoch
                      else told and item.offset == 1)
        told = False
        if not continuous:
            verdict.silent_gaps += 1
            skipped = item.offset - offset - 1 if item.epoch == epoch else item.offset - 1
            verdict.silently_skipped += skipped
            if len(verdict.jumps) < 5:
                verdict.jumps.append(f"{epoch[:8]}:{offset} -> {item.epoch[:8]}:{item.offset}")
        position = (item.epoch, item.offset)
    verdict.reached = position
    return verdict
