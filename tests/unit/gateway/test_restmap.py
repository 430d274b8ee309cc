"""Pure mapping of Hiro REST contract events, and the duplicate-free merge with Redis."""

from __future__ import annotations

import msgspec

from adstack_events import ContractEvent, event_id
from adstack_gateway.restmap import (
    BlockInfo,
    ContractLog,
    LogValue,
    RestEvent,
    TxInfo,
    event_from_rest,
    merge_history,
    print_events,
)
from adstack_stacks import StringAscii, Tuple, UInt, encode_hex

C = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"
OTHER = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.auction-engine"
IBH = "0x" + "cd" * 32


def print_hex(name: str, n: int) -> str:
    return encode_hex(Tuple({"event": StringAscii(name), "n": UInt(n)}))


def rest(n: int, *, contract: str = C, tx: str = "0x01", index: int = 0,
         event_type: str = "smart_contract_log", topic: str = "print") -> RestEvent:
    return RestEvent(event_index=index, event_type=event_type, tx_id=tx,
                     contract_log=ContractLog(contract, topic,
                                              LogValue(print_hex("spend-recorded", n))))


TX = TxInfo(tx_id="0x01", block_hash="0x" + "ab" * 32, block_height=7, burn_block_time=1700,
            block_time=None)
BLOCK = BlockInfo(hash="0x" + "ab" * 32, index_block_hash=IBH, height=7)


def test_a_rest_print_becomes_our_event_with_the_ingesters_id() -> None:
    event = event_from_rest(rest(5, index=2), TX, BLOCK, now_ms=99)
    assert event == ContractEvent(
        id=event_id(IBH, "0x01", 2), type="spend_recorded", contractId=C, txId="0x01",
        blockHeight=7, blockHash="0x" + "ab" * 32, indexBlockHash=IBH, eventIndex=2,
        timestamp=1_700_000, data={"event": "spend-recorded", "n": 5}, source="api",
        publishedAt=99)


def test_nakamoto_block_time_wins_and_bad_values_are_skipped() -> None:
    nakamoto = TxInfo(tx_id="0x01", block_hash=TX.block_hash, block_height=7,
                      burn_block_time=1700, block_time=1800)
    event = event_from_rest(rest(1), nakamoto, BLOCK)
    assert event is not None and event.timestamp == 1_800_000
    broken = RestEvent(event_index=0, event_type="smart_contract_log", tx_id="0x01",
                       contract_log=ContractLog(C, "print", LogValue("0x1010")))
    assert event_from_rest(broken, TX, BLOCK) is None
    failed = TxInfo(tx_id="0x01", block_hash=TX.block_hash, block_height=7,
                    tx_status="abort_by_response")
    assert event_from_rest(rest(1), failed, BLOCK) is None


def test_only_this_contracts_prints_are_kept() -> None:
    page = [rest(1), rest(2, contract=OTHER), rest(3, topic="other"),
            RestEvent(event_index=4, event_type="stx_asset", tx_id="0x01"), rest(5, tx="")]
    assert [e.contract_log.value.hex for e in print_events(page, C)  # type: ignore[union-attr]
            ] == [print_hex("spend-recorded", 1)]


def ours(n: int, height: int, index: int) -> ContractEvent:
    return ContractEvent(id=event_id(IBH, f"0x{n:02x}", index), type="x", contractId=C,
                         txId=f"0x{n:02x}", blockHeight=height, blockHash="0x", indexBlockHash=IBH,
                         eventIndex=index, timestamp=0, data={"n": n})


def test_merge_drops_duplicates_and_keeps_newest_first() -> None:
    recent = [msgspec.json.encode(ours(n, height=n, index=0)) for n in (9, 8)]
    older = [ours(9, 9, 0), ours(8, 8, 0), ours(7, 7, 0), ours(6, 6, 0)]
    merged, added = merge_history(recent, older, 3)
    assert [msgspec.json.decode(raw)["txId"] for raw in merged] == ["0x09", "0x08", "0x07"]
    assert added == 1
    assert merged[:2] == recent, "Redis entries are passed through byte for byte"
    merged, added = merge_history(recent, older, 10)
    assert [msgspec.json.decode(raw)["blockHeight"] for raw in merged] == [9, 8, 7, 6]
    assert added == 2


def test_merge_puts_newer_rest_events_first_when_redis_lags() -> None:
    recent = [msgspec.json.encode(ours(5, height=5, index=0))]
    merged, added = merge_history(recent, [ours(6, 6, 0), ours(5, 5, 0), ours(4, 4, 0)], 10)
    assert [msgspec.json.decode(raw)["blockHeight"] for raw in merged] == [6, 5, 4]
    assert added == 2
