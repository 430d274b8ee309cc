"""Pure: what each client command decides, as values the node (:mod:`adstack_gateway.node`)
carries out. No I/O, no clock: the node passes ``now`` and the store's answers.

- ``subscribe``: :func:`plan_subscribe` says what kind of subscribe it is (a re-subscribe that
  replaces the filter and is answered at once, a ``since`` recovery, or a position read then
  a history push of N), or refuses it (``ProtocolError``: MAX_SUBSCRIPTIONS, FORBIDDEN);
  :func:`select_recent` picks the pushed history from the stored entries;
  :func:`recover_since` turns the recovery read into the outcome and the replay.
- ``getHistory``: :func:`history_limit` and :func:`needs_backfill`.
- ``refresh``: :func:`plan_refresh` (same user, the new expiry, the contracts to drop).

``unsubscribe`` and the feeds are one-line rules of :class:`~adstack_gateway.rules.ClientRules`
(``unsubscribe``, ``set_feed``); the replies are built by the wire codec
(:mod:`adstack_protocol.wire`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from adstack_auth import Claims
from adstack_gateway.continuity import RECOVERED, Missed
from adstack_gateway.limits import expiry_delay
from adstack_gateway.outgoing import Outgoing, history_message
from adstack_gateway.protocol import Since, Subscribe
from adstack_gateway.rules import ClientRules, Subscription
from adstack_protocol import wire

RESUBSCRIBE: Final = "resubscribe"
"""Already subscribed: the filter was replaced; reply at once (same position)."""
RECOVER: Final = "recover"
"""``since`` given: read what the client missed (:func:`recover_since`), then reply."""
POSITION: Final = "position"
"""A fresh subscribe: read the contract's position, then push up to ``push`` stored events."""

NOT_CONFIRMED: Final = "not_confirmed"
"""The history proves continuity, but the channel subscription was not confirmed."""
UNAVAILABLE: Final = "unavailable"
"""The store failed during the recovery read."""

_READ_SPARE: Final = 10
"""Extra entries read for an unfiltered history push: newer entries than the position may
be read too (they are skipped: they arrive live)."""

_peek = wire.STORED_PEEK.decode


@dataclass(frozen=True, slots=True)
class SubscribePlan:
    """What a ``subscribe`` comes to (when not refused)."""

    action: str
    """:data:`RESUBSCRIBE`, :data:`RECOVER` or :data:`POSITION`."""
    sub: Subscription
    """The subscription (a new one is registered and recovering: it holds live messages)."""
    push: int = 0
    """:data:`POSITION`: how many stored events to push after ``subscribed`` (0: none)."""
    read: int = 0
    """:data:`POSITION`: how many of the newest stored entries to read for the push."""


def plan_subscribe(rules: ClientRules, cmd: Subscribe, *, subscribe_history: int,
                   history_limit: int) -> SubscribePlan:
    """Decide a ``subscribe`` (and register a new subscription in ``rules``).

    Raises:
        ProtocolError: MAX_SUBSCRIPTIONS, or FORBIDDEN (nothing registered).
    """
    existing = rules.subscriptions.get(cmd.contract_id)
    if existing is not None:
        existing.event_types = cmd.event_types  # re-subscribing replaces the filter
        return SubscribePlan(RESUBSCRIBE, existing)
    sub = rules.subscribe(cmd.contract_id, cmd.event_types)
    if cmd.since is not None:
        return SubscribePlan(RECOVER, sub)
    push = max(0, subscribe_history)
    if not push:
        return SubscribePlan(POSITION, sub)
    # A filter may skip many entries: read the whole capped history then.
    read = push + _READ_SPARE if cmd.event_types is None else history_limit
    return SubscribePlan(POSITION, sub, push, read)


def select_recent(entries: Sequence[bytes], sub: Subscription, wanted: int) -> list[bytes]:
    """The history push: of ``entries`` (stored event objects, newest first), those at or
    before the subscription's position (same epoch) that pass its filter, newest first, at
    most ``wanted``."""
    out: list[bytes] = []
    if wanted <= 0:
        return out
    epoch, last, types = sub.epoch, sub.last_offset, sub.event_types
    for data in entries:
        peek = _peek(data)
        if peek.epoch != epoch or peek.offset > last:
            continue
        if types is not None and peek.type not in types:
            continue
        out.append(data)
        if len(out) >= wanted:
            break
    return out


class Page(Protocol):
    """What a history read returned (:class:`adstack_bus.HistoryPage`), oldest first."""

    @property
    def events(self) -> Sequence[bytes]:
        """The stored objects."""

    @property
    def offsets(self) -> Sequence[int]:
        """Their offsets."""

    @property
    def kinds(self) -> Sequence[str]:
        """``e`` for an event, ``r`` for a revert notice."""


@dataclass(frozen=True, slots=True)
class Recovery:
    """What a ``subscribe`` with ``since`` came to."""

    outcome: str
    """``recovered``, or why not (see ``adstack_gateway.metrics.RECOVERY_OUTCOMES``)."""
    replay: Sequence[Outgoing]
    """The messages to deliver after ``subscribed``, oldest first."""

    @property
    def recovered(self) -> bool:
        return self.outcome == RECOVERED


UNRECOVERED: Final = Recovery(UNAVAILABLE, ())
"""The recovery read failed: ``recovered: false``, nothing replayed."""


def recover_since(sub: Subscription, since: Since, missed: Missed, page: Page,
                  confirmed: bool) -> Recovery:
    """Decide a ``since`` recovery from its read (:func:`adstack_gateway.recovery.read_missed`)
    and place the subscription where the replay starts after.

    The same rule as the hub's bus reconnect (:meth:`Missed.decide`): all of the gap, or
    ``recovered: false`` and every event the history still holds after it.
    """
    verdict = missed.decide(since.epoch, since.offset)
    sub.epoch, sub.last_offset = verdict.epoch, verdict.after
    replay = [history_message(data, kind, offset, verdict.epoch)
              for data, offset, kind in zip(page.events, page.offsets, page.kinds, strict=True)
              if offset > verdict.after]
    if not verdict.continuous:
        return Recovery(verdict.outcome, replay)
    return Recovery(RECOVERED if confirmed else NOT_CONFIRMED, replay)


def history_limit(requested: int, cap: int) -> int:
    """How many events a ``getHistory`` returns at most: its ``limit``, capped by
    ``EVENT_HISTORY_LIMIT``."""
    return min(requested, cap)


def needs_backfill(found: int, limit: int) -> bool:
    """Complete a ``getHistory`` from the Stacks API (when configured): Redis held fewer
    events than asked for."""
    return found < limit


@dataclass(frozen=True, slots=True)
class Refreshed:
    """What a ``refresh`` with a valid token for the same user comes to."""

    expires_at: float | None
    """The new token's ``exp`` (the ``refreshed`` reply)."""
    expire_in: float | None
    """Seconds until the session must end (None: never)."""
    dropped: list[str]
    """The contracts the new token no longer allows: their subscriptions are gone; the
    node unsubscribes their channels and tells the client (``unsubscribed``, forbidden)."""


def plan_refresh(rules: ClientRules, claims: Claims, *, leeway: float,
                 now: float) -> Refreshed:
    """Take a refreshed token's ``claims`` at ``now`` (UNIX seconds).

    Raises:
        ProtocolError: INVALID_TOKEN, the token is for another user (nothing changed).
    """
    dropped = rules.refresh(claims)
    return Refreshed(claims.expires_at, expiry_delay(claims.expires_at, leeway, now), dropped)
