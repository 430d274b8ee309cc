"""Configured like the original server: only ``STACKS_WS_URL`` (no ``STACKS_SOURCES``).

The ingester must pick the Hiro source, say so in its start log, ingest, and report the
chain feed as live on ``/health`` (the original silently ingested nothing here).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from adstack_devnet import DEFAULT_CONTRACTS
from adstack_devnet.chain import Chain
from tests.helpers import services
from tests.helpers.chainview import event_ids
from tests.helpers.client import WsClient
from tests.helpers.fake_hiro import FakeHiro
from tests.helpers.scrape import wait_until

pytestmark = pytest.mark.e2e


async def test_stacks_ws_url_alone_selects_and_runs_the_hiro_source(
        clean_redis: str, log_dir: Path, token: str) -> None:
    chain = Chain(DEFAULT_CONTRACTS, seed=14, events_per_block=3)
    async with FakeHiro() as fake:
        for _ in range(2):
            fake.add(chain.next_block().payload)
        ws_url = fake.url.replace("http://", "ws://") + "/extended/v1/ws"
        # The original's variables only: the WebSocket URL and the *_CONTRACT ids.
        ing = services.ingester(clean_redis, log_dir, STACKS_WS_URL=ws_url,
                                **DEFAULT_CONTRACTS).start()
        gateway = services.gateway(clean_redis, log_dir).start()
        client = WsClient(gateway.ws, token)
        try:
            await client.__aenter__()
            await client.wait_for("connected")
            for contract in DEFAULT_CONTRACTS.values():
                await client.request("subscribe", {"contractId": contract}, "subscribed")
            ing.wait_healthy()
            wait_until(lambda: httpx.get(f"{ing.http}/health", timeout=5).json()[
                "services"]["stacks"]["hiro"]["connected"], what="the hiro WebSocket")
            block = chain.next_block()
            await fake.notify(fake.add(block.payload))
            expected = event_ids([block])
            got = await client.wait_for("event", len(expected), timeout=20)
            assert [e["id"] for e in got][-len(expected):] == expected
            assert "STACKS_SOURCES is not set and STACKS_WS_URL is: using the hiro source" in (
                ing.logs())

            def live() -> bool:
                health = httpx.get(f"{ing.http}/health", timeout=5).json()
                return bool(health["services"]["stacksWebSocket"])

            wait_until(live, what="the hiro source to count as the live chain feed")
            health = httpx.get(f"{ing.http}/health", timeout=5).json()
            assert health["services"]["stacks"]["enabled"] == ["hiro"]
        finally:
            await client.__aexit__(None, None, None)
            gateway.stop()
            ing.stop()
