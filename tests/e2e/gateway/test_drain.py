"""SIGTERM on a real gateway: readiness turns 503, clients on every transport are closed
with 4000 spread over the drain window (in order, not measured in seconds), new connections
are turned away, the process exits by itself after the window."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_token
from tests.e2e.gateway.conftest import FAST_KEEPALIVE, client_for
from tests.helpers import services
from tests.helpers.client import FrameLog, SioClient, WsClient

pytestmark = pytest.mark.e2e

DRAIN = 4.0
"""Long enough that the closes (DRAIN*0.8/7 s apart) stay apart on a loaded machine."""


async def test_sigterm_drains_every_client_then_exits(redis_url: str, log_dir: Path) -> None:
    gateway = services.gateway(redis_url, log_dir, DRAIN_SECONDS=str(DRAIN),
                               **FAST_KEEPALIVE).start()
    clients: list[FrameLog] = []
    try:
        for transport in ("ws", "ws", "ws", "sio-websocket", "sio-websocket", "sio-polling"):
            client = client_for(gateway, transport, make_token())
            await client.open()
            await client.wait_for("connected")
            clients.append(client)
        roamer = SioClient(gateway.http, make_token(), transport="websocket",
                           reconnection=True, reconnection_delay=0.2,
                           reconnection_delay_max=0.5, randomization_factor=0)
        await roamer.open()
        await roamer.wait_for("connected")
        clients.append(roamer)
        closed_at: dict[int, float] = {}

        async def watch(index: int, client: FrameLog) -> None:
            await client.wait_closed(timeout=DRAIN + 30)
            closed_at[index] = time.monotonic()

        watchers = [asyncio.create_task(watch(i, c)) for i, c in enumerate(clients)]
        gateway.signal(signal.SIGTERM)

        async with httpx.AsyncClient() as http:
            health = await http.get(f"{gateway.http}/health")
        assert health.status_code == 503 and health.json()["status"] == "draining"
        assert len(closed_at) < len(clients), "readiness turned 503 before the last close"
        late = WsClient(gateway.ws, make_token())
        await late.open()
        assert await late.wait_closed() == 4000  # turned away: go to another replica
        await late.aclose()

        await asyncio.gather(*watchers)
        # Every client got the drain's 4000: none was still open when the window ended (the
        # server drops those without a close frame), so all closes fell inside the window.
        for client in clients:
            assert client.close_code == 4000, client
            assert client.close_reason == "gateway shutting down; reconnect"
        # Spread: the first and the last close are scheduled DRAIN*0.8*6/7 = 2.7 s apart; all
        # at once would be ~0 s. The bound leaves 1.7 s for a loaded machine to bunch them up.
        spread = max(closed_at.values()) - min(closed_at.values())
        assert spread > DRAIN * 0.25, f"closes are spread over the window ({spread:.2f}s)"

        # The process ends by itself after the drain (no second signal); uvicorn re-raises
        # the SIGTERM it handled once it has shut down, as a supervisor expects.
        assert gateway.proc is not None
        assert await asyncio.to_thread(gateway.proc.wait, DRAIN + 30) in (0, -signal.SIGTERM)
        assert "draining 7 sessions over 4.0s" in gateway.logs()

        # "Reconnect": a Socket.IO client does so by itself, here to a new gateway on the
        # same address (the Engine.IO transport was closed; a Socket.IO-level disconnect
        # would have stopped it from reconnecting).
        replacement = services.Service("adstack_gateway", gateway.port, gateway.env, log_dir)
        replacement.start()
        try:
            deadline = time.monotonic() + 15
            while roamer.connects < 2:
                assert time.monotonic() < deadline, "the Socket.IO client did not reconnect"
                await asyncio.sleep(0.1)
            assert len(await roamer.wait_for("connected", 2)) == 2
        finally:
            await roamer.aclose()
            replacement.stop()
    finally:
        for client in clients:
            await client.aclose()
        gateway.stop()
