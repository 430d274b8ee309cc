"""The fan-out settings: direct writes on /ws and the event loop."""

from __future__ import annotations

import pytest

from adstack_config import ConfigError
from adstack_gateway.settings import GatewaySettings

BASE = {"JWT_SECRET": "s" * 32}


def test_direct_writes_are_on_by_default_and_can_be_turned_off() -> None:
    assert GatewaySettings.from_env(BASE).ws_direct_write is True
    assert GatewaySettings.from_env({**BASE, "WS_DIRECT_WRITE": "false"}).ws_direct_write is False


@pytest.mark.parametrize("loop", ["auto", "asyncio", "uvloop", "AsyncIO"])
def test_event_loop_choices(loop: str) -> None:
    assert GatewaySettings.from_env({**BASE, "EVENT_LOOP": loop}).event_loop == loop.lower()


def test_an_unknown_event_loop_is_refused() -> None:
    with pytest.raises(ConfigError, match="EVENT_LOOP"):
        GatewaySettings.from_env({**BASE, "EVENT_LOOP": "trio"})
