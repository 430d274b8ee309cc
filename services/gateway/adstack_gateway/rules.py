"""The per-client rules, sans I/O: what one client may do and what it gets, as decisions.

:class:`ClientRules` is one client's state — its token's claims, its subscription table, its
feeds, its command rate limit — and the rules over it: whether a command is admitted, what a
``subscribe`` / ``unsubscribe`` / ``refresh`` changes. :func:`admit` is the delivery rule for
one live message and one :class:`Subscription` (buffer while recovering, drop duplicates, a
jump in offsets is a gap the client hears of first, the event-type filter); it returns an
outcome and never writes. Nothing here awaits, reads a clock or touches a socket: the node
(:mod:`adstack_gateway.node`) and the hub carry the decisions out, and the session
(:mod:`adstack_gateway.session`) is the only writer.

The delivery rule runs once per client per message on the hot path: it allocates nothing
and returns a plain int.
"""

from __future__ import annotations

from typing import Final

from adstack_auth import Claims, can_subscribe
from adstack_gateway.limits import CommandLimiter, Verdict
from adstack_gateway.outgoing import Outgoing, matches
from adstack_gateway.protocol import ProtocolError
from adstack_protocol import ErrorCode, ServerEvent

_EVENT: Final = ServerEvent.EVENT.value
"""A contract event's frame name (a plain str: compared once per client per message)."""

HELD: Final = 0
"""The subscription is recovering: the message waits in its buffer."""
DUPLICATE: Final = 1
"""At or below the offset already delivered: dropped."""
FILTERED: Final = 2
"""In order, but not an event type this subscription asked for."""
DELIVER: Final = 3
"""Send it to the client."""
GAP: Final = 4
"""Offsets were skipped (or the epoch changed): the subscription now stands right before
the message; tell the client (``gap_notice``), then :func:`admit` the message again."""


class Subscription:
    """A client's subscription to one contract."""

    __slots__ = ("buffer", "epoch", "event_types", "last_offset")

    def __init__(self, event_types: frozenset[str] | None) -> None:
        self.event_types = event_types
        self.last_offset = 0
        """Highest offset delivered; anything at or below is a duplicate and dropped."""
        self.epoch = ""
        self.buffer: list[Outgoing] | None = None
        """While recovering from history, live messages wait here."""


def admit(sub: Subscription, message: Outgoing) -> int:
    """Decide what happens to one live message for one subscription (and advance it).

    Returns :data:`HELD`, :data:`DUPLICATE`, :data:`FILTERED`, :data:`DELIVER` or
    :data:`GAP` (then nothing was delivered yet: the caller tells the client and calls
    again, which then delivers or filters the message).
    """
    if sub.buffer is not None:
        sub.buffer.append(message)
        return HELD
    if message.offset:
        if message.epoch == sub.epoch and message.offset <= sub.last_offset:
            return DUPLICATE
        if sub.epoch and (message.offset != sub.last_offset + 1 or message.epoch != sub.epoch):
            # Never a silent jump: whatever let offsets go missing (a history re-read that
            # failed, an unconfirmed channel), the subscriber hears of it before the event.
            sub.epoch, sub.last_offset = message.epoch, message.offset - 1
            return GAP
        sub.last_offset = message.offset
        sub.epoch = message.epoch
    if message.event != _EVENT or matches(sub.event_types, message.event_type):
        return DELIVER
    return FILTERED


class ClientRules:
    """One client's state and the rules of its commands (no I/O)."""

    __slots__ = ("claims", "feeds", "limiter", "max_subscriptions", "subscriptions")

    def __init__(self, claims: Claims, *, limiter: CommandLimiter | None = None,
                 max_subscriptions: int | None = None) -> None:
        self.claims = claims
        self.limiter = limiter
        self.max_subscriptions = max_subscriptions
        """None: no limit (the node passes ``MAX_SUBSCRIPTIONS_PER_CLIENT``)."""
        self.subscriptions: dict[str, Subscription] = {}
        self.feeds: set[str] = set()

    def admit_command(self, now: float) -> Verdict:
        """The rate limit's verdict on one more command at ``now`` (monotonic seconds)."""
        return Verdict.ALLOW if self.limiter is None else self.limiter.check(now)

    def allow(self, contract: str) -> None:
        """The token's ``contracts`` claim bounds every read, not only subscriptions.

        Raises:
            ProtocolError: FORBIDDEN.
        """
        if not can_subscribe(self.claims, contract):
            raise ProtocolError(ErrorCode.FORBIDDEN, "your token does not allow this contract")

    def subscribe(self, contract: str, event_types: frozenset[str] | None) -> Subscription:
        """A new subscription, registered and recovering (its live messages are held until
        the node releases them).

        Raises:
            ProtocolError: MAX_SUBSCRIPTIONS, or FORBIDDEN.
        """
        limit = self.max_subscriptions
        if limit is not None and len(self.subscriptions) >= limit:
            raise ProtocolError(ErrorCode.MAX_SUBSCRIPTIONS,
                                f"maximum of {limit} subscriptions per connection")
        self.allow(contract)
        sub = Subscription(event_types)
        sub.buffer = []
        self.subscriptions[contract] = sub
        return sub

    def unsubscribe(self, contract: str) -> None:
        """Raises:
            ProtocolError: NOT_SUBSCRIBED.
        """
        if self.subscriptions.pop(contract, None) is None:
            raise ProtocolError(ErrorCode.NOT_SUBSCRIBED, "not subscribed to this contract")

    def set_feed(self, feed: str, on: bool) -> None:
        if on:
            self.feeds.add(feed)
        else:
            self.feeds.discard(feed)

    def refresh(self, claims: Claims) -> list[str]:
        """Take a refreshed token's claims; returns the contracts it no longer allows, whose
        subscriptions are dropped.

        Raises:
            ProtocolError: INVALID_TOKEN if the token is for another user.
        """
        if claims.user_id != self.claims.user_id:
            raise ProtocolError(ErrorCode.INVALID_TOKEN, "token is for another user")
        self.claims = claims
        dropped = [c for c in self.subscriptions if not can_subscribe(claims, c)]
        for contract in dropped:
            del self.subscriptions[contract]
        return dropped
