"""The per-client rules without any I/O: no event loop, no session, no bus."""

from __future__ import annotations

import pytest

from adstack_auth import Claims
from adstack_gateway.limits import CommandLimiter, Verdict
from adstack_gateway.outgoing import Outgoing
from adstack_gateway.protocol import ProtocolError
from adstack_gateway.rules import (
    DELIVER,
    DUPLICATE,
    FILTERED,
    GAP,
    HELD,
    ClientRules,
    Subscription,
    admit,
)
from adstack_protocol import ErrorCode

C1 = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"
C2 = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.auction-engine"


def live(epoch: str, offset: int, etype: str = "a", event: str = "event") -> Outgoing:
    return Outgoing(event, data={}, offset=offset, epoch=epoch, event_type=etype)


def test_admit_delivers_in_order_drops_duplicates_and_filters() -> None:
    sub = Subscription(frozenset({"a"}))
    sub.epoch, sub.last_offset = "E", 3
    outcomes = [admit(sub, m) for m in (live("E", 3), live("E", 4), live("E", 5, "b"),
                                        live("E", 6, event="event_reverted"), live("E", 5))]
    assert outcomes == [DUPLICATE, DELIVER, FILTERED, DELIVER, DUPLICATE]
    assert (sub.epoch, sub.last_offset) == ("E", 6)


def test_a_jump_is_a_gap_then_the_message_is_admitted_again() -> None:
    sub = Subscription(None)
    sub.epoch, sub.last_offset = "E", 3
    message = live("E", 7)
    assert admit(sub, message) == GAP
    assert (sub.epoch, sub.last_offset) == ("E", 6)  # what the gap notice tells
    assert admit(sub, message) == DELIVER
    assert admit(sub, live("F", 1)) == GAP
    assert (sub.epoch, sub.last_offset) == ("F", 0)
    # A subscription that never saw an event takes any first offset without a gap.
    fresh = Subscription(None)
    assert admit(fresh, live("E", 40)) == DELIVER


def test_a_recovering_subscription_holds_messages() -> None:
    sub = Subscription(None)
    sub.buffer = []
    message = live("E", 1)
    assert admit(sub, message) == HELD
    assert sub.buffer == [message] and sub.last_offset == 0


def test_subscribe_limit_forbidden_and_unsubscribe() -> None:
    rules = ClientRules(Claims(user_id="u", contracts=(C1,)), max_subscriptions=1)
    sub = rules.subscribe(C1, None)
    assert rules.subscriptions == {C1: sub} and sub.buffer == []
    with pytest.raises(ProtocolError) as error:
        rules.subscribe(C2, None)
    assert error.value.code == ErrorCode.MAX_SUBSCRIPTIONS
    rules.unsubscribe(C1)
    with pytest.raises(ProtocolError) as error:
        rules.subscribe(C2, None)
    assert error.value.code == ErrorCode.FORBIDDEN
    with pytest.raises(ProtocolError) as error:
        rules.unsubscribe(C1)
    assert error.value.code == ErrorCode.NOT_SUBSCRIBED


def test_refresh_drops_what_the_new_token_forbids_and_refuses_another_user() -> None:
    rules = ClientRules(Claims(user_id="u"))
    for contract in (C1, C2):
        rules.subscribe(contract, None)
    with pytest.raises(ProtocolError) as error:
        rules.refresh(Claims(user_id="v"))
    assert error.value.code == ErrorCode.INVALID_TOKEN
    assert rules.claims.user_id == "u" and len(rules.subscriptions) == 2
    assert rules.refresh(Claims(user_id="u", contracts=(C2,))) == [C1]
    assert list(rules.subscriptions) == [C2]


def test_command_rate_limit() -> None:
    assert ClientRules(Claims(user_id="u")).admit_command(0.0) is Verdict.ALLOW
    rules = ClientRules(Claims(user_id="u"), limiter=CommandLimiter(0.001, 1, 2, 0.0))
    assert [rules.admit_command(0.0) for _ in range(3)] == [Verdict.ALLOW, Verdict.REJECT,
                                                           Verdict.CLOSE]
