"""Disconnects are values: a close code, the reason clients read, and reconnect advice."""

from __future__ import annotations

from adstack_protocol import CloseCode, Disconnect, close_is_terminal

NAMED = [value for name, value in vars(Disconnect).items()
         if name.isupper() and isinstance(value, Disconnect)]


def test_every_named_disconnect_has_a_close_code_a_reason_and_advice() -> None:
    assert len(NAMED) == 9
    for disconnect in NAMED:
        assert isinstance(disconnect.code, CloseCode) and disconnect.reason
        assert disconnect.reconnect is not close_is_terminal(disconnect.code)
    assert Disconnect.SHUTDOWN.reconnect and Disconnect.SLOW.reconnect
    assert not Disconnect.AUTH_FAILED.reconnect and not Disconnect.BINARY_FRAME.reconnect


def test_details_keep_the_code() -> None:
    failed = Disconnect.AUTH_FAILED.detailed("token expired")
    assert (failed.code, failed.reason) == (CloseCode.POLICY_VIOLATION,
                                            "auth failed: token expired")
    bad = Disconnect.BAD_PACKET.with_reason("binary packets are not supported")
    assert (bad.code, bad.reason) == (CloseCode.BAD_REQUEST, "binary packets are not supported")
    assert Disconnect(CloseCode.SLOW, "too slow: outbound queue overflow") == Disconnect.SLOW
