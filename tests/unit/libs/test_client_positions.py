"""The SDK reads positions strictly (issue 18 item 5): a malformed offset or epoch in a
server frame neither raises (which ended the client's connection loop) nor moves the
position the client resumes from."""

from __future__ import annotations

from typing import Any

import pytest

from adstack_client.client import Client, _Subscription
from adstack_client.models import Event
from adstack_client.positions import parse_epoch, parse_offset

C1 = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"


@pytest.mark.parametrize(("value", "parsed"), [
    (0, 0), (7, 7), ("42", 42), (2**53 - 1, 2**53 - 1), ("9007199254740991", 2**53 - 1),
    ("\u00b2", None), ("\u0663", None), ("9" * 5000, None), (10**400, None), (2**53, None),
    (-1, None), ("-1", None), ("+1", None), (" 1", None), ("", None), (True, None),
    (1.5, None), (None, None), ([1], None),
])
def test_parse_offset_is_strict(value: Any, parsed: int | None) -> None:
    assert parse_offset(value) == parsed


def test_parse_epoch_is_strict() -> None:
    assert parse_epoch("e1") == "e1" and parse_epoch("") == ""
    assert parse_epoch("e" * 65) is None and parse_epoch("\u00e9") is None
    assert parse_epoch("a b") is None and parse_epoch(5) is None


@pytest.mark.parametrize("offset", ["\u00b2", "9" * 5000, -3, "abc", 10**30])
def test_a_malformed_position_in_a_frame_never_moves_the_client(offset: Any) -> None:
    client = Client("ws://127.0.0.1:1/ws")
    sub = _Subscription(C1, None)
    sub.epoch, sub.offset = "e1", 10
    client._subs[C1] = sub
    client._dispatch({"event": "event", "data": {"contractId": C1, "offset": offset,
                                                 "epoch": "e1", "n": 1}})
    client._dispatch({"event": "subscribed", "data": {"contractId": C1, "offset": offset,
                                                      "epoch": "e1", "recovered": False}})
    client._dispatch({"event": "event_reverted", "data": {"contractId": C1, "ids": [],
                                                          "offset": offset, "epoch": "e2"}})
    assert (sub.epoch, sub.offset) == ("e1", 10)
    first = sub.queue.get_nowait()
    assert isinstance(first, Event) and first.raw["n"] == 1  # still delivered
    assert first.offset == 0  # its malformed offset reads as none
    # A well-formed one still moves it.
    client._dispatch({"event": "event", "data": {"contractId": C1, "offset": 11,
                                                 "epoch": "e1"}})
    assert (sub.epoch, sub.offset) == ("e1", 11)
