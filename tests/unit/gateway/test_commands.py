"""Each command's decision as a plain function over values: no event loop, no store, no
session (adstack_gateway.commands; the node only carries these out)."""

from __future__ import annotations

from typing import get_args

import msgspec
import pytest

from adstack_auth import Claims
from adstack_bus import HistoryPage
from adstack_gateway.commands import (
    POSITION,
    RECOVER,
    RESUBSCRIBE,
    history_limit,
    needs_backfill,
    plan_refresh,
    plan_subscribe,
    recover_since,
    select_recent,
)
from adstack_gateway.continuity import Missed
from adstack_gateway.node import Gateway
from adstack_gateway.protocol import Command, ProtocolError, Since, Subscribe
from adstack_gateway.rules import ClientRules, Subscription
from adstack_protocol import ErrorCode, wire
from tests.unit.gateway.rig import C1, C2, event


def subscribe(contract: str = C1, types: frozenset[str] | None = None,
              since: Since | None = None) -> Subscribe:
    return Subscribe(contract_id=contract, event_types=types, since=since)


def stored(n: int, epoch: str = "E", etype: str = "campaign_created") -> bytes:
    """The stored event object of event ``n`` at offset ``n``."""
    return wire.event_data(wire.event_head(event(n, etype=etype)), n, epoch)


def offsets(entries: list[bytes]) -> list[int]:
    return [wire.peek_data(e).offset for e in entries]


def at(epoch: str, offset: int, types: frozenset[str] | None = None) -> Subscription:
    sub = Subscription(types)
    sub.epoch, sub.last_offset = epoch, offset
    return sub


def test_a_fresh_subscribe_reads_the_position_then_pushes_n() -> None:
    rules = ClientRules(Claims(user_id="u"))
    plan = plan_subscribe(rules, subscribe(), subscribe_history=5, history_limit=100)
    assert (plan.action, plan.push, plan.read) == (POSITION, 5, 15)
    assert rules.subscriptions == {C1: plan.sub} and plan.sub.buffer == []
    # A filter may skip many entries: the whole capped history is read.
    filtered = plan_subscribe(rules, subscribe(C2, frozenset({"a"})), subscribe_history=5,
                              history_limit=100)
    assert (filtered.action, filtered.push, filtered.read) == (POSITION, 5, 100)
    # No push configured: the position only.
    rules = ClientRules(Claims(user_id="u"))
    plan = plan_subscribe(rules, subscribe(), subscribe_history=0, history_limit=100)
    assert (plan.action, plan.push, plan.read) == (POSITION, 0, 0)


def test_a_subscribe_with_since_is_a_recovery_and_pushes_nothing() -> None:
    rules = ClientRules(Claims(user_id="u"))
    plan = plan_subscribe(rules, subscribe(since=Since(offset=3, epoch="E")),
                          subscribe_history=5, history_limit=100)
    assert (plan.action, plan.push, plan.read) == (RECOVER, 0, 0)
    assert plan.sub.buffer == []


def test_re_subscribing_replaces_the_filter_and_keeps_the_subscription() -> None:
    rules = ClientRules(Claims(user_id="u"), max_subscriptions=1)
    first = plan_subscribe(rules, subscribe(types=frozenset({"a"})), subscribe_history=5,
                           history_limit=100).sub
    first.buffer, first.epoch, first.last_offset = None, "E", 9
    # Even at the limit, and even with since: nothing to read, answered at once.
    plan = plan_subscribe(rules, subscribe(since=Since(offset=1, epoch="E")),
                          subscribe_history=5, history_limit=100)
    assert (plan.action, plan.sub) == (RESUBSCRIBE, first)
    assert (first.event_types, first.epoch, first.last_offset, first.buffer) == (
        None, "E", 9, None)


@pytest.mark.parametrize(("claims", "code", "message"), [
    (Claims(user_id="u"), ErrorCode.MAX_SUBSCRIPTIONS,
     "maximum of 1 subscriptions per connection"),
    (Claims(user_id="u", contracts=(C1,)), ErrorCode.FORBIDDEN,
     "your token does not allow this contract"),
])
def test_a_refused_subscribe_registers_nothing(claims: Claims, code: ErrorCode,
                                               message: str) -> None:
    rules = ClientRules(claims, max_subscriptions=1)
    if code is ErrorCode.MAX_SUBSCRIPTIONS:
        plan_subscribe(rules, subscribe(), subscribe_history=0, history_limit=1)
    before = dict(rules.subscriptions)
    with pytest.raises(ProtocolError) as refused:
        plan_subscribe(rules, subscribe(C2), subscribe_history=0, history_limit=1)
    assert (refused.value.code, refused.value.message) == (code, message)
    assert rules.subscriptions == before


def test_the_history_push_is_newest_first_at_the_position_filtered_and_capped() -> None:
    entries = [stored(n, etype="spend_recorded" if n % 2 else "campaign_created")
               for n in range(9, 0, -1)]  # newest first, as the store returns them
    entries.insert(0, stored(4, epoch="old"))  # another epoch: never pushed
    assert offsets(select_recent(entries, at("E", 7), 3)) == [7, 6, 5]
    assert offsets(select_recent(entries, at("E", 7, frozenset({"campaign_created"})),
                                 10)) == [6, 4, 2]
    assert offsets(select_recent(entries, at("E", 100), 50)) == list(range(9, 0, -1))
    assert select_recent(entries, at("E", 7), 0) == []
    assert select_recent(entries, at("F", 7), 5) == []
    assert select_recent([], at("E", 7), 5) == []
    # The stored bytes themselves, spliced later as they are.
    assert select_recent(entries, at("E", 2), 1) == [stored(2)]


def page(*numbers: int, epoch: str = "E") -> HistoryPage:
    return HistoryPage(events=[stored(n, epoch) for n in numbers], offsets=list(numbers),
                       kinds=["e"] * len(numbers))


def test_a_since_recovery_replays_what_was_missed_and_places_the_subscription() -> None:
    sub = Subscription(None)
    history = page(3, 4, 5, 6)
    recovery = recover_since(sub, Since(offset=4, epoch="E"), Missed.of("E", 6, [3, 4, 5, 6]),
                             history, confirmed=True)
    assert (recovery.outcome, recovery.recovered) == ("recovered", True)
    assert [(m.event, m.offset, m.epoch) for m in recovery.replay] == [
        ("event", 5, "E"), ("event", 6, "E")]
    assert recovery.replay[0].text == wire.data_frame("event", stored(5)).decode()
    assert (sub.epoch, sub.last_offset) == ("E", 4)
    # Continuous, but the channel subscription was not confirmed.
    unconfirmed = recover_since(Subscription(None), Since(offset=4, epoch="E"),
                                Missed.of("E", 6, [3, 4, 5, 6]), history, confirmed=False)
    assert (unconfirmed.outcome, unconfirmed.recovered) == ("not_confirmed", False)


def test_a_since_recovery_past_the_history_says_why_and_replays_all_it_holds() -> None:
    sub = Subscription(frozenset({"a"}))
    trimmed = recover_since(sub, Since(offset=1, epoch="E"), Missed.of("E", 7, [5, 6, 7]),
                            page(5, 6, 7), confirmed=True)
    assert (trimmed.outcome, trimmed.recovered) == ("history_gap", False)
    assert [m.offset for m in trimmed.replay] == [5, 6, 7]
    assert (sub.epoch, sub.last_offset) == ("E", 4)
    other = Subscription(None)
    changed = recover_since(other, Since(offset=3, epoch="D"), Missed.of("E", 2, [1, 2]),
                            page(1, 2), confirmed=True)
    assert (changed.outcome, [m.offset for m in changed.replay]) == ("epoch_changed", [1, 2])
    assert (other.epoch, other.last_offset) == ("E", 0)
    reverted = HistoryPage(events=[stored(2)], offsets=[2], kinds=["r"])
    replay = recover_since(Subscription(None), Since(offset=1, epoch="E"),
                           Missed.of("E", 2, [2]), reverted, confirmed=True).replay
    assert [m.event for m in replay] == ["event_reverted"]


def test_get_history_limit_and_backfill_rule() -> None:
    assert history_limit(50, 100) == 50
    assert history_limit(100, 20) == 20
    assert needs_backfill(3, 5) and not needs_backfill(5, 5)


def test_refresh_moves_the_expiry_and_drops_what_the_new_token_forbids() -> None:
    rules = ClientRules(Claims(user_id="u"))
    for contract in (C1, C2):
        rules.subscribe(contract, None)
    new = Claims(user_id="u", contracts=(C2,), expires_at=1_000.0)
    outcome = plan_refresh(rules, new, leeway=30.0, now=900.0)
    assert (outcome.expires_at, outcome.expire_in, outcome.dropped) == (1_000.0, 130.0, [C1])
    assert rules.claims is new and list(rules.subscriptions) == [C2]
    forever = plan_refresh(rules, Claims(user_id="u"), leeway=30.0, now=900.0)
    assert (forever.expires_at, forever.expire_in, forever.dropped) == (None, None, [])
    past = plan_refresh(rules, msgspec.structs.replace(new, expires_at=800.0), leeway=30.0,
                        now=900.0)
    assert past.expire_in == 0.0


def test_a_refresh_for_another_user_changes_nothing() -> None:
    rules = ClientRules(Claims(user_id="u", expires_at=5.0))
    rules.subscribe(C1, None)
    with pytest.raises(ProtocolError) as refused:
        plan_refresh(rules, Claims(user_id="v"), leeway=0.0, now=0.0)
    assert (refused.value.code, refused.value.message) == (ErrorCode.INVALID_TOKEN,
                                                          "token is for another user")
    assert rules.claims.user_id == "u" and list(rules.subscriptions) == [C1]


def test_the_node_runs_every_command_the_parser_makes() -> None:
    assert set(Gateway._run) == set(get_args(Command))
