"""The pure core of adstack-replay: lines → requests, the height filter, the tally."""

from __future__ import annotations

import json

import pytest

from adstack_devnet import DEFAULT_CONTRACTS
from adstack_devnet.chain import Chain
from adstack_devnet.replaycore import (
    ReplayInputError,
    Request,
    Tally,
    is_retryable,
    parse_line,
    parse_lines,
    select,
)
from tests.helpers.paths import stacks_fixture

TSV = stacks_fixture("observer_event_replay_mainnet_reorg_scenario2.tsv")


def test_event_replay_tsv_rows_become_requests_with_the_recorded_bodies() -> None:
    lines = TSV.read_text().splitlines()
    requests = list(parse_lines(lines))
    assert [(r.lineno, r.path, r.height, r.is_block) for r in requests] == [
        (1, "/new_block", 1, True), (2, "/new_microblocks", 1, False),
        (3, "/new_block", 2, True), (4, "/new_block", 2, True), (5, "/new_block", 3, True),
        (6, "/new_block", 4, True)]
    # The body is the 4th column, byte for byte.
    assert [r.body for r in requests] == [line.split("\t")[3].encode() for line in lines]
    assert requests[2].index_block_hash.startswith("0xd4e86b87")
    assert requests[3].index_block_hash.startswith("0x9f79f0a8")


def test_devnet_dump_lines_are_new_block_posts() -> None:
    chain = Chain(DEFAULT_CONTRACTS, seed=1, events_per_block=2, shape="mainnet",
                  start_time=1_700_000_000)
    payloads = [chain.next_block().payload for _ in range(3)]
    lines = [json.dumps(p) for p in payloads]
    lines.insert(1, json.dumps({"path": "/new_burn_block", "body": {
        "burn_block_hash": "0x01", "burn_block_height": 7}}))
    lines.insert(2, "")
    lines.insert(3, "# a comment")
    requests = list(parse_lines(lines))
    assert [(r.lineno, r.path, r.height) for r in requests] == [
        (1, "/new_block", 1), (2, "/new_burn_block", 1), (5, "/new_block", 2),
        (6, "/new_block", 3)]
    assert json.loads(requests[0].body) == payloads[0]
    assert json.loads(requests[1].body)["burn_block_height"] == 7


@pytest.mark.parametrize(("from_height", "to_height", "expected"), [
    (None, None, [1, 2, 3, 4, 5, 6]),
    (2, None, [3, 4, 5, 6]),
    (None, 2, [1, 2, 3, 4]),
    (2, 2, [3, 4]),
    (5, 9, []),
])
def test_height_filter_keeps_lines_of_blocks_in_range(
        from_height: int | None, to_height: int | None, expected: list[int]) -> None:
    requests = parse_lines(TSV.read_text().splitlines())
    assert [r.lineno for r in select(requests, from_height, to_height)] == expected


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", "invalid JSON"),
    ('{"block_hash": "0x01"}', "without a valid block_height"),
    ('{"block_height": -1}', "without a valid block_height"),
    ('{"path": "/nope", "body": {}}', "unknown observer path '/nope'"),
    ("1\t2021-08-05\t/new_block", "3 tab-separated fields"),
    ("1\t2021-08-05\t/new_block\t{bad", "invalid json_body"),
    ("1\t2021-08-05\t/etc/passwd\t{}", "unknown observer path"),
])
def test_malformed_lines_name_the_line(line: str, message: str) -> None:
    with pytest.raises(ReplayInputError, match=message) as info:
        list(parse_lines(["", line], start=41))
    assert info.value.lineno == 42
    assert str(info.value).startswith("line 42: ")


def test_retryable_answers_are_those_a_node_retries() -> None:
    assert [s for s in (400, 401, 404, 408, 413, 422, 425, 429, 500, 503)
            if is_retryable(s)] == [408, 425, 429, 500, 503]


def test_tally_sums_the_ingester_answers() -> None:
    tally = Tally()
    block = Request(1, "/new_block", b"{}", 1, True)
    burn = Request(2, "/new_burn_block", b"{}", 1, False)
    tally.add(block, {"result": "ok", "published": 3, "duplicates": 1, "reverted": 0})
    tally.add(burn, {"result": "ok"})
    tally.add(block, {"published": 0, "duplicates": 4, "reverted": 2, "held": False})
    tally.add(block, {"published": 0, "duplicates": 0, "reverted": 0, "held": True})
    tally.add(block, {"published": "x", "duplicates": True})
    tally.seconds = 2.0
    assert tally.as_dict() == {
        "requests": 5, "blocks": 4, "published": 3, "duplicates": 5, "reverted": 2,
        "held": 1, "retries": 0, "seconds": 2.0, "blocksPerSecond": 2.0, "eventsPerSecond": 4.0}
    assert parse_line("\n", 1, 0) is None
