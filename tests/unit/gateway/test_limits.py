"""Pure limit bookkeeping: token bucket, command limiter, per-IP counter, expiry, drain."""

from __future__ import annotations

import pytest

from adstack_gateway.limits import (
    CommandLimiter,
    ConnectionCounter,
    PendingHandshakes,
    TokenBucket,
    Verdict,
    drain_offsets,
    expiry_delay,
)


def test_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(100.4)  # 0.8 token
    assert bucket.take(100.5)  # 1.0 token
    assert not bucket.take(100.5)
    assert [bucket.take(200.0) for _ in range(4)] == [True, True, True, False]  # capped


def test_limiter_rejects_then_closes_a_client_that_keeps_going() -> None:
    limiter = CommandLimiter(rate=1.0, burst=2, close_after=3, now=0.0)
    verdicts = [limiter.check(0.0) for _ in range(5)]
    assert verdicts == [Verdict.ALLOW, Verdict.ALLOW, Verdict.REJECT, Verdict.REJECT,
                        Verdict.CLOSE]


def test_limiter_forgives_a_client_that_slows_down() -> None:
    limiter = CommandLimiter(rate=1.0, burst=1, close_after=2, now=0.0)
    assert limiter.check(0.0) is Verdict.ALLOW
    assert limiter.check(0.1) is Verdict.REJECT
    assert limiter.check(1.2) is Verdict.ALLOW  # refilled: the refusal count resets
    assert limiter.check(1.3) is Verdict.REJECT
    assert limiter.check(2.4) is Verdict.ALLOW


def test_zero_rate_turns_the_limit_off() -> None:
    limiter = CommandLimiter(rate=0, burst=1, close_after=1, now=0.0)
    assert all(limiter.check(0.0) is Verdict.ALLOW for _ in range(1000))


def test_connection_counter_per_ip() -> None:
    counter = ConnectionCounter(limit=2)
    assert counter.try_add("10.0.0.1") and counter.try_add("10.0.0.1")
    assert not counter.try_add("10.0.0.1")
    assert counter.try_add("10.0.0.2")
    counter.remove("10.0.0.1")
    assert counter.count("10.0.0.1") == 1
    assert counter.try_add("10.0.0.1")
    unlimited = ConnectionCounter(limit=None)
    assert all(unlimited.try_add("x") for _ in range(500))


@pytest.mark.parametrize(("expires_at", "now", "expected"), [
    (None, 0.0, None),
    (1000.0, 900.0, 130.0),
    (1000.0, 1020.0, 10.0),  # within the leeway
    (1000.0, 2000.0, 0.0),
])
def test_expiry_delay(expires_at: float | None, now: float, expected: float | None) -> None:
    assert expiry_delay(expires_at, 30.0, now) == expected


def test_drain_spreads_closes_over_most_of_the_window() -> None:
    assert drain_offsets(0, 10) == []
    offsets = drain_offsets(4, 10)
    assert offsets == [0.0, 2.0, 4.0, 6.0]
    assert max(drain_offsets(1000, 10)) < 8.0


def test_pending_handshakes_are_capped_per_ip_and_in_total() -> None:
    pending = PendingHandshakes(per_ip=2, total=3)
    assert pending.try_add("a") and pending.try_add("a")
    assert not pending.has_room("a") and not pending.try_add("a")
    assert pending.try_add("b")
    assert not pending.try_add("c")  # the total is reached
    assert pending.count() == 3 and pending.count("a") == 2
    pending.remove("a")
    assert pending.try_add("c")
    pending.remove("zzz")  # never added: nothing changes
    assert pending.count() == 3


def test_pending_handshakes_without_caps() -> None:
    pending = PendingHandshakes(None, None)
    assert all(pending.try_add("a") for _ in range(1000))
    for _ in range(1000):
        pending.remove("a")
    assert pending.count() == 0 and pending.count("a") == 0
