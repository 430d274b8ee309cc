"""Loading the recorded Stacks payloads."""

from __future__ import annotations

import csv
import json
from typing import Any

from tests.helpers.paths import stacks_fixture

SIGNERS_VOTING = "ST000000000000000000002AMW42H.signers-voting"


def load_json(name: str) -> Any:
    return json.loads(stacks_fixture(name).read_text())


def load_bytes(name: str) -> bytes:
    return stacks_fixture(name).read_bytes()


def replay_rows(name: str = "observer_event_replay_mainnet_reorg_scenario2.tsv"
                ) -> list[tuple[str, str, bytes]]:
    """(row id, path, body) of every row of a recorded observer replay."""
    csv.field_size_limit(1 << 30)
    with stacks_fixture(name).open(newline="") as fh:
        return [(row[0], row[2], row[3].encode()) for row in csv.reader(fh, delimiter="\t")]
