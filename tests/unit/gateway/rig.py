"""A whole gateway core in-process: Gateway + Hub + Sessions over the in-memory bus.

No sockets, no Redis: :class:`Rig` wires the gateway the way ``app.create_app`` does, with
:mod:`adstack_bus.memory` as the backend and loopback transports as clients.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import jwt
import msgspec

from adstack_auth import TokenVerifier, VerifierConfig
from adstack_bus.memory import MemoryBroker
from adstack_events import ContractEvent
from adstack_gateway.hub import Hub
from adstack_gateway.loopback import LoopbackSocket, LoopbackTransport
from adstack_gateway.node import Gateway
from adstack_gateway.outgoing import Outgoing
from adstack_gateway.session import Session
from adstack_gateway.settings import GatewaySettings
from tests.helpers.events import AUCTION, CAMPAIGN, make_event

C1 = CAMPAIGN
C2 = AUCTION
SECRET = "unit-test-secret-of-at-least-32-bytes!"


def event(n: int, contract: str = C1, etype: str = "campaign_created") -> ContractEvent:
    """Event number ``n`` of ``contract`` (the suite's shared event maker)."""
    return make_event(contract, n, etype)


def token(user: str = "user-1", *, exp: float | None = None, **claims: Any) -> str:
    payload: dict[str, Any] = {"userId": user, **claims}
    if exp is not None:
        payload["exp"] = int(exp)
    return jwt.encode(payload, SECRET, algorithm="HS256")


async def until(check: Callable[[], bool], what: str = "condition") -> None:
    """Wait (a few loop iterations, then short sleeps) until ``check()`` holds."""
    for _ in range(50):
        if check():
            return
        await asyncio.sleep(0)
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{what} not reached")


class Client:
    """One client: its session and the loopback transport (or direct socket) it reads."""

    def __init__(self, rig: Rig, session: Session, transport: LoopbackTransport,
                 socket: LoopbackSocket | None) -> None:
        self.rig = rig
        self.session = session
        self.transport = transport
        self.socket = socket
        self._seen: list[dict[str, Any]] = []

    async def send(self, event: str, data: Any = None,
                   request_id: Any = None) -> Outgoing | None:
        return await self.rig.gateway.handle(self.session, event, data, request_id)

    def received(self) -> list[dict[str, Any]]:
        """Every frame the client got so far."""
        if self.socket is not None:
            self._seen.extend(self.socket.read())
            return list(self._seen)
        return self.transport.frames

    async def frames(self, count: int) -> list[dict[str, Any]]:
        """The first ``count`` frames, once they arrived."""
        await until(lambda: len(self.received()) >= count, f"{count} frames")
        return self.received()[:count]

    async def events(self, skip: int = 0) -> list[tuple[str, Any]]:
        """(event, offset) of every event frame after the first ``skip``, (event,
        contractId) of any other."""
        await settle()
        return [(f["event"], f["data"]["offset"] if f["event"].startswith("event")
                 else f["data"].get("contractId")) for f in self.received()[skip:]]

    async def closed(self) -> tuple[int | None, str | None]:
        await asyncio.wait_for(self.transport.closed.wait(), 2)
        return self.transport.close_code, self.transport.close_reason


async def settle() -> None:
    """Let every ready task and callback run (writers, flushes, deliveries)."""
    for _ in range(20):
        await asyncio.sleep(0)


class Rig:
    """A gateway over an in-memory bus, wired as ``app.create_app`` wires the real one."""

    def __init__(self, settings: GatewaySettings, verifier: TokenVerifier | None, *,
                 read_turns: int = 1) -> None:
        self.broker = MemoryBroker(read_turns=read_turns)
        self.publisher = self.broker.publisher(history_limit=settings.history_limit)
        self.store = self.broker.store()
        self.hub = Hub(self.store)
        self.subscriber = self.broker.subscriber(
            self.hub.deliver, on_reconnect=self.hub.reposition,
            on_disconnect=self.hub.bus_lost)
        self.hub.bind(self.subscriber)
        self.gateway = Gateway(settings, self.store, self.hub, verifier)

    async def connect(self, token: str | None = None, *, remote: str = "10.0.0.1",
                      direct: bool = False, origin: str | None = None) -> Client:
        claims = await self.gateway.handshake(token, origin)
        transport = LoopbackTransport()
        session = self.gateway.new_session(claims, transport, remote=remote, kind="ws")
        socket = LoopbackSocket() if direct else None
        session.direct = socket
        self.gateway.open(session)
        client = Client(self, session, transport, socket)
        await client.frames(1)  # connected
        return client

    async def publish(self, *events: ContractEvent) -> None:
        await self.publisher.publish_events(events)
        await settle()

    async def position(self, contract: str = C1) -> tuple[str, int]:
        position = await self.store.position(contract)
        assert position is not None
        return position.epoch, position.offset


@asynccontextmanager
async def rig(*, auth: bool = False, leeway: float = 30.0, read_turns: int = 1,
              **overrides: Any) -> AsyncIterator[Rig]:
    settings = msgspec.structs.replace(
        GatewaySettings(), skip_auth=not auth,
        jwt=VerifierConfig(secret=SECRET, algorithms=("HS256",), leeway=leeway),
        **overrides)
    made = Rig(settings, TokenVerifier(settings.jwt) if auth else None,
               read_turns=read_turns)
    task = asyncio.create_task(made.subscriber.run(), name="relay")
    await asyncio.wait_for(made.subscriber.connected.wait(), 1)
    try:
        yield made
    finally:
        for session in list(made.gateway.sessions):
            await made.gateway.close(session)
        await made.subscriber.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def now() -> float:
    return time.time()
