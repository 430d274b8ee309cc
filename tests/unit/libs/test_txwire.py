"""The Stacks transaction decoder over every real raw transaction in the fixtures."""

from __future__ import annotations

import json

import msgspec
import pytest

from adstack_stacks import UInt, decode_hex, to_json
from adstack_stacks.txwire import (
    TxDecodeError,
    decode_tx,
    decode_tx_hex,
    encode_contract_call,
)
from tests.helpers.fixtures import load_json, replay_rows

EPOCH25 = "observer_new_block_epoch25_print_events_signers_voting.json"


def _raw_txs() -> list[tuple[str, str]]:
    out = []
    for name in (EPOCH25, "observer_new_block_nakamoto_tenure_start.json"):
        out += [(t["txid"], t["raw_tx"]) for t in load_json(name)["transactions"]]
    for _row, _path, body in replay_rows():
        out += [(t["txid"], t["raw_tx"]) for t in json.loads(body).get("transactions", [])
                if t["raw_tx"] != "0x00"]
    return out


def test_every_real_transaction_decodes_and_hashes_to_its_txid() -> None:
    txs = _raw_txs()
    assert len(txs) > 30
    kinds = set()
    for txid, raw in txs:
        decoded = decode_tx_hex(raw)
        assert decoded.txid == txid
        kinds.add(decoded.payload_type)
    assert {"contract_call", "coinbase_to_alt_recipient", "tenure_change",
            "nakamoto_coinbase", "token_transfer", "coinbase"} <= kinds


def test_contract_call_sender_function_and_args_match_the_printed_vote() -> None:
    raw = load_json(EPOCH25)
    prints = {e["txid"]: to_json(decode_hex(e["contract_event"]["raw_value"]))
              for e in raw["events"]}
    calls = 0
    for tx in raw["transactions"]:
        decoded = decode_tx_hex(tx["raw_tx"])
        if decoded.payload_type != "contract_call":
            continue
        calls += 1
        assert decoded.contract_id == "ST000000000000000000002AMW42H.signers-voting"
        assert decoded.function_name == "vote-for-aggregate-public-key"
        assert not decoded.mainnet
        vote = prints[tx["txid"]]
        # The contract prints the caller (tx-sender) and the key it voted for.
        assert decoded.sender == vote["signer"]
        assert decoded.function_args is not None and decoded.function_args[1] == vote["key"]
    assert calls == 3


def test_mainnet_senders_use_mainnet_versions() -> None:
    senders = {decode_tx_hex(raw).sender for _txid, raw in _raw_txs()
               if raw.startswith("0x00")}
    assert senders and all(s.startswith(("SP", "SM")) for s in senders)


def test_mempool_token_transfer() -> None:
    decoded = decode_tx_hex(load_json("observer_new_mempool_tx.json")[0])
    assert decoded.payload_type == "token_transfer"
    assert decoded.sender.startswith("ST") and decoded.fee == 300 and decoded.nonce == 6


def test_encoder_round_trips() -> None:
    raw = encode_contract_call(sender="ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5",
                               contract_id="ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager",
                               function_name="create-campaign", args=[UInt(7)], nonce=3)
    decoded = decode_tx(raw)
    assert (decoded.sender, decoded.function_name, decoded.function_args, decoded.nonce) == (
        "ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5", "create-campaign", [7], 3)


@pytest.mark.parametrize("cut", [1, 5, 40, 100, 150])
def test_truncated_transactions_fail_with_an_offset(cut: int) -> None:
    _txid, raw = _raw_txs()[1]
    data = bytes.fromhex(raw[2:])
    with pytest.raises(TxDecodeError) as info:
        decode_tx(data[:cut])
    assert info.value.offset <= cut


def test_bad_version_and_auth_are_rejected() -> None:
    _txid, raw = _raw_txs()[1]
    data = bytearray(bytes.fromhex(raw[2:]))
    data[0] = 0x42
    with pytest.raises(TxDecodeError, match="version"):
        decode_tx(bytes(data))
    data[0] = 0x80
    data[5] = 0x09
    with pytest.raises(TxDecodeError, match="auth type"):
        decode_tx(bytes(data))


def test_fast_path_agrees_with_the_full_decoder() -> None:
    from adstack_devnet import DEFAULT_CONTRACTS
    from adstack_devnet.chain import Chain

    raws = [raw for _txid, raw in _raw_txs()]
    chain = Chain(DEFAULT_CONTRACTS, seed=2, events_per_block=20)
    raws += [t["raw_tx"] for t in chain.next_block().payload["transactions"]]
    for raw in raws:
        full = decode_tx_hex(raw)
        fast = decode_tx_hex(raw, decode_args=False)
        assert fast == msgspec.structs.replace(full, function_args=None)
