"""The ingester's book of pending mempool transactions. Pure: no I/O.

A ``/new_mempool_tx`` feed is kept (the last :data:`PENDING_MAX`, oldest forgotten first)
so that a later ``/drop_mempool_tx``, which names only txids and a reason, can be published
as the same feed with a ``dropped_*`` status.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import msgspec

from adstack_events import TransactionFeed

PENDING_MAX = 10_000
"""How many pending transactions are remembered for their drop notice."""


def dropped_status(reason: str) -> str:
    """``ReplaceByFee`` → ``dropped_replace_by_fee`` (the Hiro API's status names)."""
    out = "".join(f"_{c.lower()}" if c.isupper() else c for c in reason).lstrip("_")
    return f"dropped_{out or 'unknown'}"


class PendingBook:
    """Pending transaction feeds by txid (``0x``-prefixed, lower case), oldest first."""

    def __init__(self, limit: int = PENDING_MAX) -> None:
        self.limit = limit
        self._pending: OrderedDict[str, TransactionFeed] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pending)

    def remember(self, feeds: Iterable[TransactionFeed]) -> None:
        """Keep published pending feeds (forgetting the oldest beyond :attr:`limit`)."""
        for feed in feeds:
            self._pending[feed.txId] = feed
            while len(self._pending) > self.limit:
                self._pending.popitem(last=False)

    def dropped(self, txids: Iterable[str], reason: str) -> list[TransactionFeed]:
        """The feeds of the known ``txids`` with their ``dropped_*`` status (unknown: none)."""
        status = dropped_status(reason)
        feeds = []
        for txid in txids:
            key = txid if txid.startswith("0x") else f"0x{txid}"
            pending = self._pending.get(key.lower())
            if pending is not None:
                feeds.append(msgspec.structs.replace(pending, status=status))
        return feeds

    def forget(self, feeds: Iterable[TransactionFeed]) -> None:
        """Drop published drop notices' transactions from the book."""
        for feed in feeds:
            self._pending.pop(feed.txId, None)
