"""The print events the AdStack contracts emit, as real Clarity values.

Shapes follow the contracts: e.g. promo-manager prints
``{event: "campaign-created", campaign-id: uN, advertiser: principal, budget: uN,
duration: uN, timestamp: uN}``.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from adstack_stacks import (
    Bool,
    Buffer,
    ClarityValue,
    StandardPrincipal,
    StringAscii,
    StringUtf8,
    Tuple,
    UInt,
)

# Test principals (Clarinet devnet wallets).
WALLETS = (
    "ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5",
    "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG",
    "ST2JHG361ZXG51QTKY2NQCVBPPRRE2KZB1HR05NNC",
    "ST2NEB84ASENDXKYGJPQW86YXQCEFEX2ZQPG87ND",
    "ST2REHHS5J3CERCRBEPMGH7921Q6PYKAADT7JP2VB",
)

Maker = Callable[[random.Random, int, int], Tuple]
"""(rng, sequence number, block height) → the print tuple."""


def _who(rng: random.Random) -> StandardPrincipal:
    return StandardPrincipal.from_address(rng.choice(WALLETS))


def _event(name: str, **fields: ClarityValue) -> Tuple:
    values: dict[str, ClarityValue] = {"event": StringAscii(name)}
    values.update({key.replace("_", "-"): value for key, value in fields.items()})
    return Tuple(values)


def campaign(rng: random.Random, seq: int, height: int) -> Tuple:
    kind = rng.choices(
        ["campaign-created", "spend-recorded", "campaign-paused", "campaign-resumed",
         "campaign-completed"], weights=[3, 6, 1, 1, 1])[0]
    cid = UInt(1 + seq % 500)
    ts = UInt(height)
    if kind == "campaign-created":
        return _event(kind, campaign_id=cid, advertiser=_who(rng),
                      budget=UInt(rng.randrange(1_000, 1_000_000)),
                      duration=UInt(rng.randrange(144, 4320)), timestamp=ts)
    if kind == "spend-recorded":
        amount = rng.randrange(1, 5_000)
        return _event(kind, campaign_id=cid, amount=UInt(amount),
                      remaining=UInt(rng.randrange(0, 1_000_000)), timestamp=ts)
    if kind == "campaign-completed":
        return _event(kind, campaign_id=cid, total_spent=UInt(rng.randrange(1_000, 1_000_000)),
                      timestamp=ts)
    return _event(kind, campaign_id=cid, timestamp=ts)


def auction(rng: random.Random, seq: int, height: int) -> Tuple:
    kind = rng.choices(["auction-created", "bid-placed", "auction-settled"],
                       weights=[1, 5, 1])[0]
    aid = UInt(1 + seq % 200)
    if kind == "auction-created":
        return _event(kind, auction_id=aid, campaign_id=UInt(rng.randrange(1, 500)),
                      reserve_price=UInt(rng.randrange(100, 10_000)),
                      end_height=UInt(height + rng.randrange(10, 100)))
    if kind == "bid-placed":
        return _event(kind, auction_id=aid, bidder=_who(rng),
                      amount=UInt(rng.randrange(100, 50_000)))
    return _event(kind, auction_id=aid, winner=_who(rng),
                  price=UInt(rng.randrange(100, 50_000)))


def payment(rng: random.Random, seq: int, height: int) -> Tuple:
    kind = rng.choices(["payment-processed", "payout-completed"], weights=[4, 1])[0]
    if kind == "payment-processed":
        return _event(kind, payment_id=UInt(seq), payer=_who(rng), payee=_who(rng),
                      amount=UInt(rng.randrange(1, 100_000)),
                      memo=Buffer(rng.randbytes(8)))
    return _event(kind, payment_id=UInt(seq), recipient=_who(rng),
                  amount=UInt(rng.randrange(1, 100_000)))


def governance(rng: random.Random, seq: int, height: int) -> Tuple:
    kind = rng.choices(["proposal-created", "vote-cast", "proposal-executed"],
                       weights=[1, 6, 1])[0]
    pid = UInt(1 + seq % 50)
    if kind == "proposal-created":
        return _event(kind, proposal_id=pid, proposer=_who(rng),
                      title=StringUtf8(f"Proposal #{pid.value}: adjust fees ✓"),
                      end_height=UInt(height + 144))
    if kind == "vote-cast":
        return _event(kind, proposal_id=pid, voter=_who(rng), support=Bool(rng.random() < 0.7),
                      weight=UInt(rng.randrange(1, 10_000)))
    return _event(kind, proposal_id=pid, executed_at=UInt(height))


def bridge(rng: random.Random, seq: int, height: int) -> Tuple:
    kind = rng.choices(["deposit-initiated", "withdrawal-completed"], weights=[1, 1])[0]
    return _event(kind, transfer_id=UInt(seq), account=_who(rng),
                  amount=UInt(rng.randrange(1, 10**12)),
                  chain=StringAscii(rng.choice(["ethereum", "bitcoin", "solana"])))


MAKERS: dict[str, Maker] = {
    "CAMPAIGN_CONTRACT": campaign,
    "AUCTION_CONTRACT": auction,
    "BRIDGE_CONTRACT": bridge,
    "PAYMENT_CONTRACT": payment,
    "GOVERNANCE_CONTRACT": governance,
}


_FUNCTIONS = {
    "campaign-created": "create-campaign",
    "spend-recorded": "record-spend",
    "campaign-paused": "pause-campaign",
    "campaign-resumed": "resume-campaign",
    "campaign-completed": "complete-campaign",
    "auction-created": "create-auction",
    "bid-placed": "place-bid",
    "auction-settled": "settle-auction",
    "payment-processed": "process-payment",
    "payout-completed": "complete-payout",
    "proposal-created": "create-proposal",
    "vote-cast": "cast-vote",
    "proposal-executed": "execute-proposal",
    "deposit-initiated": "initiate-deposit",
    "withdrawal-completed": "complete-withdrawal",
}


def function_for(event_name: str) -> str:
    """The contract function whose call prints ``event_name``."""
    return _FUNCTIONS.get(event_name, event_name)
