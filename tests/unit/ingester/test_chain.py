"""Reorg planning over devnet-generated chains and the real mainnet fork (pure)."""

from __future__ import annotations

import pytest

from adstack_devnet import DEFAULT_CONTRACTS
from adstack_devnet.chain import Chain
from adstack_ingester.chain import BlockRecord, ChainState, decode_record, encode_record
from adstack_ingester.payloads import new_block_decoder
from adstack_ingester.pipeline import block_record, contract_filter
from tests.helpers.chainview import record
from tests.helpers.fixtures import replay_rows

ALL = contract_filter(("*",))


def run(state: ChainState, rec: BlockRecord, *, reorg_to: bool = False) -> tuple[list[str],
                                                                             list[str]]:
    """Plan + commit; returns (reverted event ids, applied event ids)."""
    plan = state.plan(rec, reorg_to=reorg_to)
    reverted = [e.id for r in plan.revert for e in r.events]
    applied = [] if plan.known else [e.id for r in plan.apply for e in r.events]
    state.commit(plan)
    return reverted, applied


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5, 6])
def test_stacks2_fork_reverts_orphans_when_the_branch_outgrows_the_tip(depth: int) -> None:
    chain = Chain(DEFAULT_CONTRACTS, seed=depth, events_per_block=3)
    state = ChainState()
    published: set[str] = set()
    for _ in range(8):
        _, applied = run(state, record(chain.next_block()))
        published |= set(applied)
    orphaned, branch = chain.fork(depth)
    orphan_ids = [e.id for b in orphaned for e in record(b).events]
    reverted_all: list[str] = []
    for i, block in enumerate(branch):
        reverted, applied = run(state, record(block))
        if i < depth:
            # Not longer than the tip yet: kept aside, nothing published or reverted.
            assert (reverted, applied) == ([], [])
        reverted_all += reverted
        published -= set(reverted)
        published |= set(applied)
    # Newest orphan first.
    newest_first = [e.id for b in reversed(orphaned) for e in record(b).events]
    assert reverted_all == newest_first
    expected = {e.id for b in chain.blocks for e in record(b).events}
    assert published == expected
    assert not set(orphan_ids) & published
    assert state.tip is not None and state.tip.index_block_hash == chain.tip[2]


@pytest.mark.parametrize("depth", [1, 3, 6])
def test_nakamoto_reorg_to_a_shorter_branch_happens_at_once(depth: int) -> None:
    chain = Chain(DEFAULT_CONTRACTS, seed=10 + depth, events_per_block=2, nakamoto=True)
    state = ChainState()
    for _ in range(8):
        run(state, record(chain.next_block()), reorg_to=True)
    orphaned, branch = chain.fork(depth, length=1)
    reverted, applied = run(state, record(branch[0]), reorg_to=True)
    assert reverted == [e.id for b in reversed(orphaned) for e in record(b).events]
    assert applied == [e.id for e in record(branch[0]).events]
    assert state.tip is not None and state.tip.height == 8 - depth + 1
    assert all(h <= state.tip.height for h in state.canon)


def test_known_blocks_are_not_reorgs_and_restore_round_trips() -> None:
    chain = Chain(DEFAULT_CONTRACTS, seed=3)
    state = ChainState()
    blocks = [chain.next_block() for _ in range(5)]
    for block in blocks:
        run(state, record(block))
    plan = state.plan(record(blocks[1]), reorg_to=True)  # a node re-send of an old block
    assert plan.known and not plan.revert and plan.tip is None
    stored = [decode_record(encode_record(r)) for r in state.blocks.values()]
    assert stored == list(state.blocks.values())
    again = ChainState.restore(state.tip, state.canon, stored)
    nxt = record(chain.next_block())
    assert again.plan(nxt, reorg_to=False).apply == [nxt]


def test_rollback_withdraws_the_block_and_everything_above() -> None:
    chain = Chain(DEFAULT_CONTRACTS, seed=4)
    state = ChainState()
    recs = [record(chain.next_block()) for _ in range(4)]
    for rec in recs:
        run(state, rec)
    plan = state.plan_rollback(recs[2])
    assert [r.height for r in plan.revert] == [4, 3]
    state.commit(plan)
    assert state.tip is not None and state.tip.index_block_hash == recs[1].index_block_hash
    assert sorted(state.canon) == [1, 2]


def test_window_bounds_what_is_kept() -> None:
    chain = Chain(DEFAULT_CONTRACTS, seed=5, events_per_block=1)
    state = ChainState(window=8)
    for _ in range(30):
        run(state, record(chain.next_block()))
    assert len(state.canon) <= 9 and len(state.blocks) <= 9


def test_real_mainnet_fork_replay() -> None:
    state = ChainState()
    log: list[tuple[str, list[str], list[str]]] = []
    for _row, path, body in replay_rows():
        if path != "/new_block":
            continue
        block = new_block_decoder.decode(body)
        reverted, applied = run(state, block_record(block, ALL))
        log.append((block.index_block_hash[:10], reverted, applied))
    by_hash = {h: (r, a) for h, r, a in log}
    orphan_event = by_hash["0xd4e86b87"][1]
    assert len(orphan_event) == 1  # the bns print of the block that loses
    assert by_hash["0x9f79f0a8"] == ([], [])  # same height as the tip: kept aside
    reverted, applied = by_hash["0x1bc3a55e"]  # height 3 on 0x9f79f0a8: the reorg
    assert reverted == orphan_event
    assert len(applied) == 1 and applied != orphan_event
    assert state.canon[2].startswith("0x9f79f0a8")
