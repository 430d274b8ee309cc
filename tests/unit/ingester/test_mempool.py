"""The pending-transaction book: which drop notices find their feed, status names, bounds."""

from __future__ import annotations

from adstack_events import TransactionFeed
from adstack_ingester.mempool import PendingBook, dropped_status


def feed(n: int) -> TransactionFeed:
    return TransactionFeed(txId=f"0x{0xABCDEF00 + n:064x}", contractId="ST1.campaign",
                           functionName="create-campaign", sender="ST1", status="pending",
                           blockHeight=None)


def test_dropped_status_names_follow_the_hiro_api() -> None:
    assert dropped_status("ReplaceByFee") == "dropped_replace_by_fee"
    assert dropped_status("ReplaceAcrossFork") == "dropped_replace_across_fork"
    assert dropped_status("StaleGarbageCollect") == "dropped_stale_garbage_collect"
    assert dropped_status("") == "dropped_unknown"


def test_a_drop_finds_remembered_feeds_by_any_spelling_of_the_txid() -> None:
    book = PendingBook()
    book.remember([feed(1), feed(2)])
    bare_upper = feed(2).txId[2:].upper()
    dropped = book.dropped([bare_upper, feed(9).txId, feed(1).txId], "ReplaceByFee")
    assert [(f.txId, f.status) for f in dropped] == [
        (feed(2).txId, "dropped_replace_by_fee"), (feed(1).txId, "dropped_replace_by_fee")]
    assert len(book) == 2  # found, not yet forgotten: the publish may still fail
    book.forget(dropped)
    assert len(book) == 0
    assert book.dropped([feed(1).txId], "ReplaceByFee") == []


def test_the_book_forgets_the_oldest_beyond_its_limit() -> None:
    book = PendingBook(limit=3)
    book.remember([feed(n) for n in range(5)])
    assert len(book) == 3
    assert book.dropped([feed(0).txId, feed(1).txId], "x") == []
    assert [f.txId for f in book.dropped([feed(n).txId for n in (2, 3, 4)], "x")] == [
        feed(2).txId, feed(3).txId, feed(4).txId]
