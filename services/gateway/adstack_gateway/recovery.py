"""The one history read both resume paths make (``subscribe`` with ``since``, and the hub's
re-read after a bus reconnect): the contract's position, then every entry after the point
:func:`adstack_gateway.continuity.read_point` chose. The decisions are in ``continuity``.
"""

from __future__ import annotations

from collections.abc import Iterable

from adstack_bus import HistoryPage, HistoryStore
from adstack_gateway.continuity import Missed, read_point


async def read_missed(store: HistoryStore, contract_id: str,
                      positions: Iterable[tuple[str, int]]) -> tuple[Missed, HistoryPage]:
    """Read what subscribers at ``positions`` (epoch, last offset) missed of a contract.

    Raises:
        BusUnavailable: the store failed.
    """
    position = await store.position(contract_id)
    epoch = None if position is None else position.epoch
    current = 0 if position is None else position.offset
    after = read_point(positions, epoch, current)
    page = HistoryPage(events=[], offsets=[], kinds=[])
    if after is not None:
        page = await store.since(contract_id, after)
    return Missed.of(epoch, current, page.offsets), page
