"""Exact filtering: each client receives exactly the events it subscribed to, once each.

Several clients on all three transports hold overlapping subscriptions (same contracts,
different type filters, a filter replaced mid-stream, an unsubscribe) across four
contracts. Events are published one at a time, so the order in which the gateway relays
them is the publish order; each client's received sequence must equal, element for
element, the sequence its subscriptions select.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from adstack_events import ContractEvent
from tests.e2e.gateway.conftest import Connect
from tests.helpers.client import FrameLog
from tests.helpers.events import (
    AUCTION,
    CAMPAIGN,
    DEPLOYER,
    GOVERNANCE,
    PAYMENT,
    make_event,
    publish,
)

pytestmark = pytest.mark.e2e

BARRIER = f"{DEPLOYER}.barrier"
TYPES = {
    CAMPAIGN: ["campaign_created", "spend_recorded", "campaign_paused"],
    AUCTION: ["bid_placed", "auction_closed"],
    PAYMENT: ["payment_sent", "refund_issued"],
    GOVERNANCE: ["proposal_created", "vote_cast"],
}


@dataclass
class Plan:
    """A client's subscriptions (contract → types or None) and what it must receive."""

    transport: str
    subs: dict[str, list[str] | None]
    expected: list[tuple[str, int]] = field(default_factory=list)
    client: FrameLog | None = None

    def wants(self, event: ContractEvent) -> bool:
        if event.contractId not in self.subs:
            return False
        types = self.subs[event.contractId]
        return types is None or event.type in types


def stream(start: int, count: int) -> list[ContractEvent]:
    """``count`` events cycling through contracts and their types."""
    contracts = list(TYPES)
    out = []
    for i in range(start, start + count):
        contract = contracts[(i * 7) % len(contracts)]
        types = TYPES[contract]
        out.append(make_event(contract, i, types[(i * 3) % len(types)]))
    return out


async def subscribe(client: FrameLog, contract: str, types: list[str] | None) -> None:
    data: dict[str, object] = {"contractId": contract}
    if types is not None:
        data["eventTypes"] = types
    reply = await client.request("subscribe", data, "subscribed")
    assert reply["contractId"] == contract, reply


@pytest.mark.parametrize("transport", ["ws"])  # each plan names its own transport
async def test_each_client_gets_exactly_its_selection(connect: Connect, fresh: str) -> None:
    plans = [
        Plan("ws", {CAMPAIGN: None, AUCTION: ["bid_placed"]}),
        Plan("sio-websocket", {CAMPAIGN: ["campaign_created", "spend_recorded"],
                               PAYMENT: None}),
        Plan("sio-polling", {AUCTION: None, GOVERNANCE: ["proposal_created"],
                             CAMPAIGN: ["campaign_paused"]}),
        Plan("ws", {GOVERNANCE: ["vote_cast", "proposal_created"], PAYMENT: ["refund_issued"]}),
        Plan("sio-websocket", {}),  # subscribed to nothing (but the barrier)
    ]
    for plan in plans:
        plan.client = await connect(transport=plan.transport)
        for contract, types in plan.subs.items():
            await subscribe(plan.client, contract, types)
        await subscribe(plan.client, BARRIER, None)
    # Overlap: subscribing again to a held contract must not duplicate delivery.
    assert plans[0].client is not None
    await subscribe(plans[0].client, CAMPAIGN, None)

    offsets: dict[str, int] = {}

    async def run(events: list[ContractEvent]) -> None:
        for event in events:
            await publish(fresh, [event])
            offsets[event.contractId] = offsets.get(event.contractId, 0) + 1
            for plan in plans:
                if plan.wants(event):
                    plan.expected.append((event.contractId, offsets[event.contractId]))

    await run(stream(0, 40))
    # Mid-stream changes: plan 1 narrows PAYMENT, plan 2 drops GOVERNANCE.
    await barrier(plans, fresh, 1)
    assert plans[1].client is not None and plans[2].client is not None
    await subscribe(plans[1].client, PAYMENT, ["payment_sent"])
    plans[1].subs[PAYMENT] = ["payment_sent"]
    await plans[2].client.request("unsubscribe", {"contractId": GOVERNANCE}, "unsubscribed")
    del plans[2].subs[GOVERNANCE]
    await run(stream(40, 40))
    await barrier(plans, fresh, 2)

    for plan in plans:
        assert plan.client is not None
        received = [(e["contractId"], e["offset"]) for e in plan.client.of("event")
                    if e["contractId"] != BARRIER]
        assert received == plan.expected, plan.transport
        assert len(set(received)) == len(received), "an event arrived twice"
    assert sum(len(plan.expected) for plan in plans) > 60  # the selection is not trivial


async def barrier(plans: list[Plan], redis_url: str, nth: int) -> None:
    """Publish a marker every client receives; events published before it have arrived."""
    await publish(redis_url, [make_event(BARRIER, nth, "marker")])
    for plan in plans:
        assert plan.client is not None
        await plan.client.wait_for("event", len(plan.expected) + nth)
        last = plan.client.of("event")[-1]
        assert (last["contractId"], last["data"]["n"]) == (BARRIER, nth)
