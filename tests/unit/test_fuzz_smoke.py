"""A short run of the mutation fuzzer in every `make test` (the long run is `make fuzz`)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.fuzz.fuzz import TARGETS, fuzz
from tests.helpers.tally import FUZZ


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_decoder_survives_mutated_inputs(name: str, record_property: Any) -> None:
    target = TARGETS[name]()
    count, _seconds = fuzz(target, 3000, random.Random(7))
    record_property(FUZZ, f"{name}|{count}|{len(target.crashes)}")
    assert target.crashes == {}, f"{name} crashed: {list(target.crashes)}"
    # Every input reached the decoder, and the mutations explored both sides of it: some
    # inputs were decoded, some refused with the decoder's own error (a harness that never
    # calls the decoder, or mutations that only make garbage refused at the first byte, fail).
    assert target.accepted + target.refused + target.crashed == count == 3000
    assert target.accepted > 0, f"{name}: no mutated input was ever decoded"
    assert target.refused > 0, f"{name}: no mutated input was ever refused"


def test_fuzzer_reports_a_crash_when_a_decoder_breaks() -> None:
    """The harness itself: an unexpected exception type is counted as a crash."""
    target = TARGETS["clarity"]()

    def broken(data: bytes) -> object:
        raise KeyError("boom")

    target.run = broken
    fuzz(target, 10, random.Random(1))
    assert list(target.crashes) and "KeyError" in next(iter(target.crashes))
