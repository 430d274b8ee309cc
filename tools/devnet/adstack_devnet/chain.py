"""A simulated Stacks chain that produces realistic event-observer ``/new_block`` payloads.

Heights increase, parent hashes link up, ``index_block_hash`` is
SHA512/256(block_hash ‖ consensus_hash) as on the real chain, ``event_index`` counts across
the block and ``events[]`` is shuffled (the node sends it in arbitrary order). Forks are
made the Stacks 2.x way: a competing branch from an older ancestor that outgrows the tip.

Two shapes. ``simple`` (the library default, which many tests index into): one successful
transaction with one print per event. ``mainnet`` (the ``adstack-devnet`` default): a block
looks like a mainnet block (:mod:`adstack_devnet.shapes`): a coinbase first (and a tenure
change on Nakamoto tenure starts), STX/FT/NFT transfers, mints and burns and non-print
contract events before and after the prints, several prints in one transaction, contract
deploys and token transfers with no prints, failed transactions that printed (status
``abort_by_response`` with committed events, as older nodes sent them, and
``abort_by_post_condition`` with ``committed: false`` events), and 2.x or Nakamoto field
sets (``contract_abi`` vs ``contract_interface``/``vm_error``, ``block_time``,
``tenure_height``, signer fields, tenures sharing one burn block). In both shapes exactly
``events_per_block`` prints of the configured contracts are published per block, and
:attr:`Block.prints` lists them.

Block times follow the wall clock unless ``start_time`` pins them (then each block is
10 s after the previous one, for reproducible tests).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Sequence
from typing import Any

from adstack_devnet import shapes
from adstack_devnet.prints import MAKERS, WALLETS, function_for
from adstack_stacks import ClarityValue, StringAscii, Tuple, UInt, encode_hex
from adstack_stacks.txwire import encode_contract_call, txid_of


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
                 start_height: int = 1, start_time: int | None = None,
                 nakamoto: bool = False, shape: str = "simple") -> None:
        if shape not in ("simple", "mainnet"):
            raise ValueError(f"unknown block shape {shape!r} (simple, mainnet)")
        self.shape = shape
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
        self.pinned = start_time is not None
        """Pinned times advance 10 s a block; otherwise blocks carry the wall clock."""
        self.time = start_time if start_time is not None else int(time.time()) - 1
        self.tenure_left = 0
        self.tenure_height = 0
        self.tenure: tuple[str, str, int, str] = ("", "", 0, "")
        """Nakamoto tenure: (burn block hash, consensus hash, burn time, miner txid)."""

    @property
    def tip(self) -> tuple[int, str, str]:
        """(height, block_hash, index_block_hash) of the tip."""
        if not self.blocks:
            return self._genesis
        last = self.blocks[-1].payload
        return last["block_height"], last["block_hash"], last["index_block_hash"]

    def _payload_head(self, block_hash: str, height: int, index_hash: str,
                      parent: tuple[Any, ...], *, burn_hash: str, burn_time: int,
                      parent_burn_time: int) -> dict[str, Any]:
        """The fields every observer ``/new_block`` payload opens with, whatever its shape
        (draws the parent burn block's hash)."""
        return {
            "block_hash": block_hash,
            "block_height": height,
            "index_block_hash": index_hash,
            "parent_block_hash": parent[1],
            "parent_index_block_hash": parent[2],
            "parent_microblock": "0x" + "00" * 32,
            "parent_microblock_sequence": 0,
            "burn_block_hash": burn_hash,
            "burn_block_height": self.burn_height,
            "burn_block_time": burn_time,
            "parent_burn_block_hash": self._hash(),
            "parent_burn_block_height": self.burn_height - 1,
            "parent_burn_block_timestamp": parent_burn_time,
        }

    def _hash(self) -> str:
        return "0x" + self.rng.randbytes(32).hex()

    def make_block(self, parent: tuple[int, str, str], n_events: int | None = None) -> Block:
        """A block on top of ``parent`` (not added to the chain)."""
        rng = self.rng
        height = parent[0] + 1
        self.time = self.time + 10 if self.pinned else max(self.time + 1, int(time.time()))
        if self.shape == "mainnet":
            return self._mainnet_block(parent, self.events_per_block if n_events is None
                                       else n_events)
        self.burn_height += 1
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
        burn_hash = self._hash()
        payload: dict[str, Any] = {
            **self._payload_head(block_hash, height, index_hash, parent, burn_hash=burn_hash,
                                 burn_time=self.time, parent_burn_time=self.time - 10),
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


    # -- mainnet shape ---------------------------------------------------------------------

    def _nonce(self, sender: str) -> int:
        nonce = self.nonces.get(sender, 0)
        self.nonces[sender] = nonce + 1
        return nonce

    def _print_values(self, count: int, height: int) -> tuple[str, list[ClarityValue]]:
        """``count`` prints from one AdStack contract: (contract id, print tuples)."""
        names = list(self.contracts)
        var = names[self.rng.randrange(len(names))]
        values: list[ClarityValue] = []
        for _ in range(count):
            self.seq += 1
            values.append(MAKERS.get(var, MAKERS["CAMPAIGN_CONTRACT"])(self.rng, self.seq,
                                                                       height))
        return self.contracts[var], values

    def _mainnet_block(self, parent: tuple[int, str, str], count: int) -> Block:
        rng = self.rng
        height = parent[0] + 1
        nakamoto = self.nakamoto
        tenure_start = True
        if nakamoto:
            # A tenure: several Stacks blocks share one burn block, consensus hash and miner.
            tenure_start = self.tenure_left <= 0
            if tenure_start:
                self.burn_height += 1
                self.tenure_height += 1
                self.tenure_left = rng.randint(3, 8)
                self.tenure = (self._hash(), "0x" + rng.randbytes(20).hex(), self.time,
                               self._hash())
            self.tenure_left -= 1
            burn_hash, consensus_hash, burn_time, miner_txid = self.tenure
        else:
            self.burn_height += 1
            burn_hash, burn_time, miner_txid = self._hash(), self.time, self._hash()
            consensus_hash = "0x" + rng.randbytes(20).hex()
        block_hash = self._hash()
        index_hash = "0x" + sha512_256(bytes.fromhex(block_hash[2:])
                                       + bytes.fromhex(consensus_hash[2:])).hex()
        builder = shapes.BlockBuilder(rng, nakamoto=nakamoto, nonce=self._nonce)
        miner = rng.choice(WALLETS)
        if tenure_start:
            if nakamoto:
                builder.tenure_change(miner)
            builder.coinbase(miner)
        # The prints to publish, in transactions of 1–3 prints; fillers in between.
        chunks: list[int] = []
        left = count
        while left > 0:
            size = min(left, rng.choice((1, 1, 1, 2, 2, 3)))
            chunks.append(size)
            left -= size
        fillers = rng.randint(1, 3) + len(chunks) // 2
        plan: list[int] = chunks + [0] * fillers
        rng.shuffle(plan)
        prints: list[dict[str, Any]] = []
        for size in plan:
            if size == 0:
                builder.filler(self._print_values(rng.randint(1, 2), height)
                               if self.contracts else None)
                continue
            contract, values = self._print_values(size, height)
            first = values[0]
            assert isinstance(first, Tuple)
            name = first.fields["event"]
            assert isinstance(name, StringAscii)
            txid, indexes = builder.contract_call(contract, function_for(name.value), values,
                                                  UInt(self.seq))
            prints.extend({"contractId": contract, "txId": txid, "eventIndex": index,
                           "rawValue": encode_hex(value)}
                          for index, value in zip(indexes, values, strict=True))
        events = builder.events
        rng.shuffle(events)
        payload: dict[str, Any] = {
            **self._payload_head(block_hash, height, index_hash, parent, burn_hash=burn_hash,
                                 burn_time=burn_time,
                                 parent_burn_time=burn_time - (10 if self.pinned else 1)),
            "miner_txid": miner_txid,
            "matured_miner_rewards": [],
            "pox_v1_unlock_height": 104,
            "pox_v2_unlock_height": 106,
            "pox_v3_unlock_height": 109,
            "anchored_cost": shapes.cost(builder.runtime),
            "confirmed_microblocks_cost": shapes.cost(0),
            "events": events,
            "transactions": builder.transactions,
        }
        if nakamoto:
            payload.update({
                "block_time": self.time,
                "consensus_hash": consensus_hash,
                "tenure_height": self.tenure_height,
                "cycle_number": None,
                "reward_set": None,
                "signer_bitvec": "000600000001" + "3f",
                "signer_signature_hash": block_hash,
                "miner_signature": "0x" + rng.randbytes(65).hex(),
                "signer_signature": ["0x" + rng.randbytes(65).hex() for _ in range(3)],
            })
        return Block(payload, prints)


def all_prints(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    return [p for block in blocks for p in block.prints]
