"""c32 / c32check vectors from stacks-core (c32_address_vectors.json) plus error cases."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adstack_stacks import (
    C32Error,
    ContractPrincipal,
    StandardPrincipal,
    c32_address,
    c32_address_decode,
    c32_decode,
    c32_encode,
    c32check_decode,
    c32check_encode,
)
from tests.helpers.paths import stacks_fixture

C32: dict[str, Any] = json.loads(
    stacks_fixture("c32_address_vectors.json").read_text(encoding="utf-8")
)
ADDRESS_VECTORS: list[dict[str, Any]] = C32["address_vectors"]
ENCODE_VECTORS: list[dict[str, Any]] = C32["c32_encode_vectors"]
NORMALIZATION: dict[str, Any] = C32["decode_normalization_vectors"]


def test_vector_counts() -> None:
    assert len(ADDRESS_VECTORS) == 30
    assert len(ENCODE_VECTORS) == 19
    assert len(NORMALIZATION["inputs"]) == 8


@pytest.mark.parametrize("vector", ADDRESS_VECTORS, ids=lambda v: v["address"])
def test_address_both_directions(vector: dict[str, Any]) -> None:
    hash160 = bytes.fromhex(vector["hash160"])
    assert c32_address(vector["version"], hash160) == vector["address"]
    assert c32_address_decode(vector["address"]) == (vector["version"], hash160)
    assert c32_address_decode(vector["address"].lower()) == (vector["version"], hash160)
    principal = StandardPrincipal.from_address(vector["address"])
    assert principal == StandardPrincipal(vector["version"], hash160)
    assert principal.address == vector["address"]


@pytest.mark.parametrize("vector", ENCODE_VECTORS, ids=lambda v: v["hex"] or "empty")
def test_c32_encode(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    assert c32_encode(data) == vector["c32"]
    assert c32_decode(vector["c32"]) == data


@pytest.mark.parametrize("address", NORMALIZATION["inputs"])
def test_decode_normalization(address: str) -> None:
    version, hash160 = c32_address_decode(address)
    assert version == NORMALIZATION["expected_version"]
    assert hash160.hex() == NORMALIZATION["expected_hash160"]


def test_c32check_round_trip() -> None:
    for version in range(32):
        for data in (b"", b"\x00", b"\x00\x01\xff", bytes(range(40))):
            assert c32check_decode(c32check_encode(version, data)) == (version, data)


GOOD = "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7"


@pytest.mark.parametrize(
    "address",
    [
        "",
        "S",
        "SP",
        "XP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7",  # no leading S
        GOOD[:-1] + ("8" if GOOD[-1] != "8" else "9"),  # checksum mismatch
        GOOD.replace("J6", "U6"),  # U is not in the alphabet
        GOOD + "!",
        GOOD[:10] + " " + GOOD[10:],
        "SP000000000000000000002Q6VF78".replace("SP", "SP0"),  # 21-byte hash
        "SPZZZZ",
        "SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7\u0661",
    ],
)
def test_bad_addresses(address: str) -> None:
    with pytest.raises(C32Error):
        c32_address_decode(address)
    with pytest.raises(ValueError):  # C32Error is a ValueError too
        StandardPrincipal.from_address(address)


def test_bad_inputs_to_encoders() -> None:
    with pytest.raises(C32Error):
        c32_address(32, bytes(20))
    with pytest.raises(C32Error):
        c32_address(-1, bytes(20))
    with pytest.raises(C32Error):
        c32_address(22, bytes(19))
    with pytest.raises(C32Error):
        c32check_encode(40, b"")
    with pytest.raises(C32Error):
        c32_decode("0O1lIU")  # U is invalid even though O/L/I normalise
    with pytest.raises(C32Error):
        c32_address_decode(123)  # type: ignore[arg-type]
    with pytest.raises(C32Error):
        c32check_decode("P")


def test_normalising_characters() -> None:
    assert c32_decode("oOlLiI") == c32_decode("001111")


@pytest.mark.parametrize("contract_id", ["SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7", "x.y", "."])
def test_bad_contract_ids(contract_id: str) -> None:
    with pytest.raises(C32Error):
        ContractPrincipal.from_contract_id(contract_id)


def test_contract_id_round_trip() -> None:
    principal = ContractPrincipal.from_contract_id("'" + GOOD + ".my-contract")
    assert principal.name == "my-contract"
    assert principal.contract_id == GOOD + ".my-contract"
