"""A simulated Stacks chain that produces realistic event-observer ``/new_block`` payloads.

Heights increase, parent hashes link up, ``index_block_hash`` is
SHA512/256(block_hash ‖ consensus_hash) as on the real chain, ``event_index`` counts across
the block and ``events[]`` is shuffled (the node sends it in arbitrary order). Forks are
made the Stacks 2.x way: a competing branch from an older ancestor that outgrows the tip.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any

from adstack_clarity import StringAscii, UInt, encode_hex
from adstack_devnet.prints import MAKERS, WALLETS, function_for
from adstack_events.txwire import encode_contract_call, txid_of


def sha512_256(data: bytes) -> bytes:
    return hashlib.new("sha512_256", data).digest()


class Block:
    """A generated block: its observer payload and the print events it carries."""

    def __init__(self, payload: dict[str, Any], prints: list[dict[str, Any]]) -> None:
        self.payload = payload
        self.prints = prints

    @property
    def height(self) -> int:
        return int(self.payload["block_height"])

    @property
    def index_block_hash(self) -> str:
        return str(self.payload["index_block_hash"])


class Chain:
    """Generates blocks; ``contracts`` maps a seed variable name to a contract id."""

    def __init__(self, contracts: dict[str, str], *, seed: int = 1, events_per_block: int = 5,
                 start_height: int = 1, start_time: int = 1_760_000_000,
                 nakamoto: bool = False) -> None:
        self.contracts = contracts
        self.nakamoto = nakamoto
        """Epoch-3 payloads (signer fields); forks may then be shorter than the tip."""
        self.nonces: dict[str, int] = {}
        self.rng = random.Random(seed)
        self.events_per_block = events_per_block
        self.seq = 0
        genesis = "0x" + "00" * 32
        self.blocks: list[Block] = []
        """The current canonical branch, oldest first."""
        self._genesis = (start_height - 1, genesis, genesis)
        self.burn_height = 100
        self.time = start_time

    @property
    def tip(self) -> tuple[int, str, str]:
        """(height, block_hash, index_block_hash) of the tip."""
        if not self.blocks:
            return self._genesis
        last = self.blocks[-1].payload
        return last["block_height"], last["block_hash"], last["index_block_hash"]

    def _hash(self) -> str:
        return "0x" + self.rng.randbytes(32).hex()

    def make_block(self, parent: tuple[int, str, str], n_events: int | None = None) -> Block:
        """A block on top of ``parent`` (not added to the chain)."""
        rng = self.rng
        height = parent[0] + 1
        self.burn_height += 1
        self.time += 10
        block_hash = self._hash()
        consensus_hash = "0x" + rng.randbytes(20).hex()
        index_hash = "0x" + sha512_256(bytes.fromhex(block_hash[2:])
                                       + bytes.fromhex(consensus_hash[2:])).hex()
        count = self.events_per_block if n_events is None else n_events
        names = list(self.contracts)
        transactions: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        prints: list[dict[str, Any]] = []
        event_index = 0
        for tx_index in range(count):
            var = names[rng.randrange(len(names))] if names else ""
            contract = self.contracts.get(var, "")
            value = None
            raw_tx = "0x00"
            if contract:
                self.seq += 1
                value = MAKERS.get(var, MAKERS["CAMPAIGN_CONTRACT"])(rng, self.seq, height)
                sender = rng.choice(WALLETS)
                nonce = self.nonces.get(sender, 0)
                self.nonces[sender] = nonce + 1
                event_name = value.fields["event"]
                assert isinstance(event_name, StringAscii)
                tx_bytes = encode_contract_call(
                    sender=sender, contract_id=contract,
                    function_name=function_for(event_name.value), args=[UInt(self.seq)],
                    nonce=nonce, signature=rng.randbytes(65))
                raw_tx = "0x" + tx_bytes.hex()
                txid = txid_of(tx_bytes)
            else:
                txid = self._hash()
            transactions.append({
                "txid": txid, "tx_index": tx_index, "status": "success",
                "raw_result": "0x0703", "raw_tx": raw_tx, "contract_interface": None,
                "execution_cost": {"runtime": 1000, "read_count": 2, "read_length": 100,
                                   "write_count": 1, "write_length": 50},
                "microblock_sequence": None, "microblock_hash": None,
                "microblock_parent_hash": None, "vm_error": None, "burnchain_op": None,
            })
            if value is None:
                continue
            raw = encode_hex(value)
            events.append({
                "txid": txid, "event_index": event_index, "committed": True,
                "type": "contract_event",
                "contract_event": {"contract_identifier": contract, "topic": "print",
                                   "raw_value": raw},
            })
            prints.append({"contractId": contract, "txId": txid, "eventIndex": event_index,
                           "rawValue": raw})
            event_index += 1
        rng.shuffle(events)
        payload: dict[str, Any] = {
            "block_hash": block_hash,
            "block_height": height,
            "index_block_hash": index_hash,
            "parent_block_hash": parent[1],
            "parent_index_block_hash": parent[2],
            "parent_microblock": "0x" + "00" * 32,
            "parent_microblock_sequence": 0,
            "burn_block_hash": self._hash(),
            "burn_block_height": self.burn_height,
            "burn_block_time": self.time,
            "parent_burn_block_hash": self._hash(),
            "parent_burn_block_height": self.burn_height - 1,
            "parent_burn_block_timestamp": self.time - 10,
            "consensus_hash": consensus_hash,
            "miner_txid": self._hash(),
            "tenure_height": height,
            "block_time": self.time,
            "matured_miner_rewards": [],
            "anchored_cost": {"runtime": 0, "read_count": 0, "read_length": 0,
                              "write_count": 0, "write_length": 0},
            "confirmed_microblocks_cost": {"runtime": 0, "read_count": 0, "read_length": 0,
                                           "write_count": 0, "write_length": 0},
            "events": events,
            "transactions": transactions,
        }
        if self.nakamoto:
            payload["signer_signature_hash"] = self._hash()
            payload["miner_signature"] = "0x" + rng.randbytes(65).hex()
            payload["signer_signature"] = ["0x" + rng.randbytes(65).hex()]
        return Block(payload, prints)

    def next_block(self, n_events: int | None = None) -> Block:
        """Extend the canonical branch by one block."""
        block = self.make_block(self.tip, n_events)
        self.blocks.append(block)
        return block

    def fork(self, depth: int, n_events: int | None = None, *,
             length: int | None = None) -> tuple[list[Block], list[Block]]:
        """Replace the last ``depth`` blocks with a competing branch.

        Returns (orphaned blocks, new branch). By default the branch has ``depth + 1``
        blocks and outgrows the old tip, so posting it in order reproduces a Stacks 2.x
        reorg. ``length`` sets another branch length; on a Nakamoto chain a shorter branch
        is a valid reorg too (each posted block is the node's canonical tip).
        """
        if depth < 1 or depth > len(self.blocks):
            raise ValueError(f"fork depth must be 1..{len(self.blocks)}")
        size = depth + 1 if length is None else length
        if size < 1:
            raise ValueError("a fork branch needs at least one block")
        orphaned = self.blocks[-depth:]
        del self.blocks[-depth:]
        branch: list[Block] = []
        for _ in range(size):
            branch.append(self.next_block(n_events))
        return orphaned, branch


def all_prints(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    return [p for block in blocks for p in block.prints]
