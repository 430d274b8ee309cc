"""Mainnet-shaped transactions and events for the devnet's ``mainnet`` block shape.

Field names and shapes follow the real observer payloads in ../shared/fixtures/stacks/
(the epoch-2.5 and Nakamoto ``/new_block`` and the 2021 mainnet replay): amounts are decimal
strings, NFT values are Clarity hex in ``raw_value``, ``event_index`` counts across the
block, 2.x transactions carry ``contract_abi`` and Nakamoto ones ``contract_interface`` and
``vm_error``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from adstack_devnet import DEVNET_DEPLOYER
from adstack_devnet.prints import WALLETS
from adstack_stacks import ClarityValue, StringAscii, Tuple, UInt, encode_hex
from adstack_stacks.txwire import (
    encode_coinbase,
    encode_contract_call,
    encode_smart_contract,
    encode_token_transfer,
    encode_tx,
    txid_of,
)

TOKEN = f"{DEVNET_DEPLOYER}.usda-token"
"""A third-party SIP-010 token (not an AdStack contract): its transfers print a memo."""
TOKEN_ASSET = f"{TOKEN}::usda"
NFT = f"{DEVNET_DEPLOYER}.adstack-badges"
NFT_ASSET = f"{NFT}::badge"

OK_TRUE = "0x0703"
ERR_UINT = "0x080100000000000000000000000000000001"


def cost(runtime: int) -> dict[str, int]:
    return {"runtime": runtime, "read_count": runtime // 500, "read_length": runtime // 10,
            "write_count": runtime // 1000, "write_length": runtime // 20}


class BlockBuilder:
    """Appends transactions and their events to one block, numbering events block-wide."""

    def __init__(self, rng: random.Random, *, nakamoto: bool,
                 nonce: Callable[[str], int]) -> None:
        self.rng = rng
        self.nakamoto = nakamoto
        self.nonce = nonce
        self.transactions: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.runtime = 0

    # -- building blocks -----------------------------------------------------------------

    def _tx(self, raw: bytes, *, status: str = "success", result: str = OK_TRUE,
            deployed: bool = False) -> str:
        txid = txid_of(raw)
        runtime = self.rng.randrange(500, 50_000)
        self.runtime += runtime
        tx: dict[str, Any] = {
            "txid": txid, "tx_index": len(self.transactions), "status": status,
            "raw_result": result, "raw_tx": "0x" + raw.hex(),
            "execution_cost": cost(runtime), "microblock_sequence": None,
            "microblock_hash": None, "microblock_parent_hash": None, "burnchain_op": None,
        }
        interface = {"functions": [], "variables": [], "maps": [], "fungible_tokens": [],
                     "non_fungible_tokens": [], "epoch": "Epoch30", "clarity_version":
                     "Clarity3"} if deployed else None
        if self.nakamoto:
            tx["contract_interface"] = interface
            tx["vm_error"] = None if status == "success" else "(err u1)"
        else:
            tx["contract_abi"] = interface
        self.transactions.append(tx)
        return txid

    def _event(self, txid: str, kind: str, body: dict[str, Any], *,
               committed: bool = True) -> int:
        index = len(self.events)
        self.events.append({"txid": txid, "event_index": index, "committed": committed,
                            "type": kind, kind: body})
        return index

    def _print(self, txid: str, contract: str, raw: str, *, committed: bool = True,
               topic: str = "print") -> int:
        return self._event(txid, "contract_event", {
            "contract_identifier": contract, "topic": topic, "raw_value": raw},
            committed=committed)

    def _who(self) -> str:
        return self.rng.choice(WALLETS)

    def _amount(self) -> str:
        return str(self.rng.randrange(1, 10**9))

    def _asset_event(self, txid: str, kind: str, *, committed: bool = True) -> None:
        """One STX/FT/NFT transfer, mint or burn (or an STX lock) event."""
        rng = self.rng
        badge = encode_hex(UInt(rng.randrange(1, 10_000)))
        bodies: dict[str, dict[str, Any]] = {
            "stx_transfer_event": {"amount": self._amount(), "sender": self._who(),
                                   "recipient": self._who(), "memo": ""},
            "stx_mint_event": {"amount": self._amount(), "recipient": self._who()},
            "stx_burn_event": {"amount": self._amount(), "sender": self._who()},
            "stx_lock_event": {"locked_amount": self._amount(), "unlock_height": "2500",
                               "locked_address": self._who(),
                               "contract_identifier": "ST000000000000000000002AMW42H.pox-4"},
            "ft_transfer_event": {"asset_identifier": TOKEN_ASSET, "amount": self._amount(),
                                  "sender": self._who(), "recipient": self._who()},
            "ft_mint_event": {"asset_identifier": TOKEN_ASSET, "amount": self._amount(),
                              "recipient": self._who()},
            "ft_burn_event": {"asset_identifier": TOKEN_ASSET, "amount": self._amount(),
                              "sender": self._who()},
            "nft_transfer_event": {"asset_identifier": NFT_ASSET, "raw_value": badge,
                                   "sender": self._who(), "recipient": self._who()},
            "nft_mint_event": {"asset_identifier": NFT_ASSET, "raw_value": badge,
                               "recipient": self._who()},
            "nft_burn_event": {"asset_identifier": NFT_ASSET, "raw_value": badge,
                               "sender": self._who()},
        }
        self._event(txid, kind, bodies[kind], committed=committed)

    def _token_memo(self, txid: str) -> None:
        """A print of the third-party token (not an AdStack contract)."""
        memo = Tuple({"action": StringAscii("transfer"),
                      "amount": UInt(self.rng.randrange(1, 10**6))})
        self._print(txid, TOKEN, encode_hex(memo))

    # -- transactions --------------------------------------------------------------------

    def coinbase(self, miner: str) -> str:
        return self._tx(encode_coinbase(sender=miner, nonce=self.nonce(miner),
                                        payload=self.rng.randbytes(32)))

    def tenure_change(self, miner: str) -> str:
        """A Nakamoto tenure-change (payload type 0x07; the body is not decoded by us)."""
        body = bytes([0x07]) + self.rng.randbytes(20 * 3 + 20 + 4 + 1 + 20)
        return self._tx(encode_tx(miner, body, nonce=self.nonce(miner)))

    def contract_call(self, contract: str, function: str, values: list[ClarityValue],
                      arg: ClarityValue) -> tuple[str, list[int]]:
        """A successful call that prints ``values`` (in order), with asset events before,
        between and after the prints; returns the txid and the prints' event indexes."""
        rng = self.rng
        sender = self._who()
        raw = encode_contract_call(sender=sender, contract_id=contract,
                                   function_name=function, args=[arg],
                                   nonce=self.nonce(sender), signature=rng.randbytes(65))
        txid = self._tx(raw)
        for _ in range(rng.choice((0, 0, 1, 2))):
            self._asset_event(txid, rng.choice(("stx_transfer_event", "ft_transfer_event",
                                                "nft_mint_event", "ft_mint_event")))
        indexes = []
        for n, value in enumerate(values):
            if n and rng.random() < 0.3:
                self._asset_event(txid, "stx_transfer_event")
            indexes.append(self._print(txid, contract, encode_hex(value)))
        for _ in range(rng.choice((0, 1, 1, 2))):
            kind = rng.choice(("ft_burn_event", "nft_transfer_event", "nft_burn_event",
                               "stx_burn_event", "token_print", "contract_log"))
            if kind == "token_print":
                self._token_memo(txid)
            elif kind == "contract_log":
                # A contract event whose topic is not "print" (never published).
                self._print(txid, contract, encode_hex(UInt(1)), topic="log")
            else:
                self._asset_event(txid, kind)
        return txid, indexes

    def filler(self, failed_prints: tuple[str, list[ClarityValue]] | None) -> None:
        """A transaction that publishes nothing: a transfer, a deploy, a token or NFT call,
        or a failed call that printed (``failed_prints``: the contract and its prints)."""
        rng = self.rng
        kind = rng.choice(("stx", "stx", "deploy", "token", "nft", "lock", "failed",
                           "aborted"))
        sender = self._who()
        nonce = self.nonce(sender)
        sig = rng.randbytes(65)
        if kind in ("failed", "aborted") and failed_prints is not None:
            contract, values = failed_prints
            raw = encode_contract_call(sender=sender, contract_id=contract,
                                       function_name="record-spend", args=[UInt(0)],
                                       nonce=nonce, signature=sig)
            if kind == "failed":
                # Older nodes sent the events of a transaction that returned (err …).
                txid = self._tx(raw, status="abort_by_response", result=ERR_UINT)
                self._asset_event(txid, "stx_transfer_event")
                for value in values:
                    self._print(txid, contract, encode_hex(value))
            else:
                # A post-condition abort: its events arrive uncommitted.
                txid = self._tx(raw, status="abort_by_post_condition", result=OK_TRUE)
                for value in values:
                    self._print(txid, contract, encode_hex(value), committed=False)
                self._asset_event(txid, "ft_transfer_event", committed=False)
            return
        if kind == "deploy":
            name = f"contract-{rng.randrange(10**6)}"
            self._tx(encode_smart_contract(sender=sender, name=name, code="(ok true)",
                                           nonce=nonce, signature=sig), deployed=True)
        elif kind in ("token", "nft", "lock"):
            target = {"token": TOKEN, "nft": NFT,
                      "lock": "ST000000000000000000002AMW42H.pox-4"}[kind]
            function = {"token": "transfer", "nft": "mint", "lock": "stack-stx"}[kind]
            txid = self._tx(encode_contract_call(sender=sender, contract_id=target,
                                                 function_name=function, args=[UInt(1)],
                                                 nonce=nonce, signature=sig))
            if kind == "token":
                self._asset_event(txid, "ft_transfer_event")
                self._token_memo(txid)
            elif kind == "nft":
                self._asset_event(txid, "nft_mint_event")
            else:
                self._asset_event(txid, "stx_lock_event")
        else:
            txid = self._tx(encode_token_transfer(sender=sender, recipient=self._who(),
                                                  amount=rng.randrange(1, 10**9),
                                                  nonce=nonce, signature=sig))
            self._asset_event(txid, "stx_transfer_event")
