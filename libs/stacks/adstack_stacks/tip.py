"""A chain position: :class:`Tip`, the one tip type of the ingester and the bus (pure)."""

from __future__ import annotations

from typing import NamedTuple


class Tip(NamedTuple):
    """A block that is (or was) the canonical tip: its height, block hash and index block
    hash. The ingester's chain view plans with it and the bus stores it as the checkpoint
    (a hash with the fields ``height``, ``hash``, ``indexBlockHash``, also readable under
    those names here)."""

    height: int
    block_hash: str
    index_block_hash: str

    @property
    def hash(self) -> str:
        """The block hash, under the checkpoint's field name."""
        return self.block_hash

    @property
    def indexBlockHash(self) -> str:
        """The index block hash, under the checkpoint's field name."""
        return self.index_block_hash
