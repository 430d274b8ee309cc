"""Structs for the stacks-node event-observer JSON (the input schema).

Only the fields we use are declared; the rest is ignored, so new node versions that add
fields keep working. Pre- and post-Nakamoto shapes both decode.
"""

from __future__ import annotations

import msgspec


class ContractEventBody(msgspec.Struct, kw_only=True):
    contract_identifier: str
    topic: str
    raw_value: str | None = None


class ObserverEvent(msgspec.Struct, kw_only=True):
    txid: str
    event_index: int
    type: str
    committed: bool = True
    contract_event: ContractEventBody | None = None


class ObserverTransaction(msgspec.Struct, kw_only=True):
    txid: str
    tx_index: int = 0
    status: str = "success"
    raw_tx: str = "0x00"


class NewBlock(msgspec.Struct, kw_only=True):
    block_hash: str
    block_height: int
    index_block_hash: str
    parent_index_block_hash: str = ""
    parent_block_hash: str = ""
    burn_block_height: int = 0
    burn_block_time: int = 0
    block_time: int | None = None
    events: list[ObserverEvent] = msgspec.field(default_factory=list)
    transactions: list[ObserverTransaction] = msgspec.field(default_factory=list)


new_block_decoder = msgspec.json.Decoder(NewBlock)
