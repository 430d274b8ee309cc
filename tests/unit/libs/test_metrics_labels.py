"""Label values stay low-cardinality whatever the input."""

from __future__ import annotations

import threading

import pytest

from adstack_metrics import OTHER, BoundedLabel, choose, clean


@pytest.mark.parametrize(("raw", "label"), [
    ("campaign_created", "campaign_created"),
    ("  bid placed!  ", "bid_placed_"),
    ("", "unknown"),
    ("x" * 200, "x" * 64),
    ('a"b{c}\n', "a_b_c_"),
])
def test_clean(raw: str, label: str) -> None:
    assert clean(raw) == label


def test_choose_keeps_known_values_only() -> None:
    assert choose("expired", ["expired", "missing"]) == "expired"
    assert choose("user-1234", ["expired", "missing"]) == OTHER


def test_bounded_label_admits_the_first_values_then_other() -> None:
    label = BoundedLabel(3, preset=["observer"])
    assert [label(v) for v in ["observer", "hiro", "chainhook", "new", "hiro", "newer"]] == [
        "observer", "hiro", "chainhook", OTHER, "hiro", OTHER]
    assert label.values == {"observer", "hiro", "chainhook"}


def test_bounded_label_holds_under_concurrency() -> None:
    label = BoundedLabel(50)
    results: list[str] = []

    def work(offset: int) -> None:
        results.extend(label(f"type-{offset}-{i}") for i in range(200))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(label.values) == 50
    assert len(set(results) - {OTHER}) == 50


def test_bounded_label_needs_room() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        BoundedLabel(0)
