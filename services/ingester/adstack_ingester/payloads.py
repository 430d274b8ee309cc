"""Structs for the stacks-node event-observer JSON (the input schema).

Only the fields we use are declared; the rest is ignored, so new node versions that add
fields keep working. Pre- and post-Nakamoto shapes both decode.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

MAX_COUNT = 2**53 - 1
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]
"""Heights, indices, times and amounts: never negative, and at most 2^53 − 1, which Lua
(Redis scripts), msgpack and JavaScript clients all hold exactly. An unbounded ``int``
let a block height of 10^30 through decoding, to fail later with a 500."""


class ContractEventBody(msgspec.Struct, kw_only=True):
    contract_identifier: str
    topic: str
    raw_value: str | None = None


class ObserverEvent(msgspec.Struct, kw_only=True):
    txid: str
    event_index: Count
    type: str
    committed: bool = True
    contract_event: ContractEventBody | None = None


class ObserverTransaction(msgspec.Struct, kw_only=True):
    txid: str
    tx_index: Count = 0
    status: str = "success"
    raw_tx: str = "0x00"


class NewBlock(msgspec.Struct, kw_only=True):
    block_hash: str
    block_height: Count
    index_block_hash: str
    parent_index_block_hash: str = ""
    parent_block_hash: str = ""
    burn_block_height: Count = 0
    burn_block_time: Count = 0
    block_time: Count | None = None
    events: list[ObserverEvent] = msgspec.field(default_factory=list)
    transactions: list[ObserverTransaction] = msgspec.field(default_factory=list)
    # Nakamoto (epoch 3.x) blocks only:
    signer_signature_hash: str | None = None
    miner_signature: str | None = None

    @property
    def nakamoto(self) -> bool:
        """True for an epoch-3 block (signed by the signers; canonical when posted)."""
        return bool(self.signer_signature_hash or self.miner_signature)


class NewBurnBlock(msgspec.Struct, kw_only=True):
    burn_block_hash: str
    burn_block_height: Count
    burn_amount: Count = 0
    consensus_hash: str | None = None
    parent_burn_block_hash: str | None = None


class DropMempoolTx(msgspec.Struct, kw_only=True):
    dropped_txids: list[str]
    reason: str = ""
    new_txid: str | None = None


class NewMicroblocks(msgspec.Struct, kw_only=True):
    parent_index_block_hash: str
    events: list[ObserverEvent] = msgspec.field(default_factory=list)
    transactions: list[ObserverTransaction] = msgspec.field(default_factory=list)
    burn_block_hash: str = ""
    burn_block_height: Count = 0


PAYLOAD_ERRORS: tuple[type[Exception], ...] = (
    msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError)
"""What decoding an untrusted payload can raise. Both extras are fuzzer finds: msgspec
raises UnicodeDecodeError (not DecodeError) for invalid UTF-8 inside a JSON string, and
RecursionError for JSON nested about 1000 levels deep (even inside a field the structs
ignore). Either used to answer 500."""

new_block_decoder = msgspec.json.Decoder(NewBlock)
new_burn_block_decoder = msgspec.json.Decoder(NewBurnBlock)
mempool_decoder = msgspec.json.Decoder(list[str])
drop_mempool_decoder = msgspec.json.Decoder(DropMempoolTx)
microblocks_decoder = msgspec.json.Decoder(NewMicroblocks)
