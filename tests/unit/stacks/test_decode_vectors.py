"""Every vector in clarity_value_vectors.json, plus to_repr / to_json / value-class behaviour."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest

from adstack_stacks import (
    Bool,
    Buffer,
    ClarityDecodeError,
    ClarityValue,
    ContractPrincipal,
    Int,
    List,
    OptionalNone,
    OptionalSome,
    ResponseErr,
    ResponseOk,
    StandardPrincipal,
    StringAscii,
    StringUtf8,
    Tuple,
    UInt,
    decode,
    decode_hex,
    decode_to_json,
    encode,
    encode_hex,
    to_json,
    to_repr,
)
from tests.helpers.paths import stacks_fixture

VECTORS: list[dict[str, Any]] = json.loads(
    stacks_fixture("clarity_value_vectors.json").read_text(encoding="utf-8")
)
VALID = [v for v in VECTORS if not v.get("expect_error")]
INVALID = [v for v in VECTORS if v.get("expect_error")]
SIGNERS_VOTING_HEX = VECTORS[45]["hex"]


def _ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [f"{VECTORS.index(v)}-{v['hex'][:24]}" for v in vectors]


def test_vector_file_shape() -> None:
    assert len(VECTORS) == 52
    assert len(VALID) == 51
    assert len(INVALID) == 1


@pytest.mark.parametrize("vector", VALID, ids=_ids(VALID))
def test_valid_vector(vector: dict[str, Any]) -> None:
    value = decode_hex(vector["hex"])
    assert to_repr(value) == vector["repr"]
    assert encode_hex(value) == vector["hex"]
    raw = bytes.fromhex(vector["hex"][2:])
    assert decode(raw) == value
    assert decode_hex(vector["hex"][2:]) == value
    assert decode(bytearray(raw)) == value
    assert decode(memoryview(raw)) == value
    assert encode(value) == raw
    assert decode_to_json(raw) == to_json(value)
    json.dumps(to_json(value))  # JSON-able


@pytest.mark.parametrize("vector", INVALID, ids=_ids(INVALID))
def test_invalid_vector(vector: dict[str, Any]) -> None:
    with pytest.raises(ClarityDecodeError) as info:
        decode_hex(vector["hex"])
    assert vector["expect_error"].lower() in str(info.value).lower()
    assert info.value.offset == 0
    with pytest.raises(ClarityDecodeError, match=r"(?i)bad type prefix"):
        decode_to_json(bytes.fromhex(vector["hex"][2:]))


def test_signers_voting_tuple_fields() -> None:
    value = decode_hex(SIGNERS_VOTING_HEX)
    assert isinstance(value, Tuple)
    assert list(value.fields) == ["event", "key", "new-total", "reward-cycle", "round", "signer"]
    assert value["event"] == StringAscii("voted")
    assert value["new-total"] == UInt(5)
    signer = value["signer"]
    assert isinstance(signer, StandardPrincipal)
    assert signer.address == "STRYYQQ9M8KAF4NS7WNZQYY59X93XEKR31JP64CP"
    assert to_json(value) == {
        "event": "voted",
        "key": "0x02dbfbcd3bdfa62e695dc7a3bf8a0ab37f796398712907e14a6c1298162b657e3d",
        "new-total": 5,
        "reward-cycle": 12,
        "round": 1,
        "signer": "STRYYQQ9M8KAF4NS7WNZQYY59X93XEKR31JP64CP",
    }


# --- to_repr details not covered by the vectors ---------------------------------------------

PRINCIPAL = StandardPrincipal(22, bytes.fromhex("e685b016b3b6cd9ebf35f38e5ae29392e2acd51d"))
CONTRACT = ContractPrincipal(22, PRINCIPAL.hash160, "token-wstx")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (List(()), "(list)"),
        (Buffer(b""), "0x"),
        (StringAscii(""), '""'),
        (StringUtf8(""), 'u""'),
        (StringAscii("a\"b'c\\d\te\nf\rg"), '"a\\"b\\\'c\\\\d\\te\\nf\\rg"'),
        (StringAscii("\x01\x7f"), '"\\x01\\x7f"'),
        (StringUtf8("caf\u00e9 \U0001f600!"), 'u"caf\\u{c3a9} \\u{f09f9880}!"'),
        (StringUtf8('"\n'), 'u"\\"\\n"'),
        (Int(-(2**127)), str(-(2**127))),
        (UInt(2**128 - 1), f"u{2**128 - 1}"),
        (OptionalSome(OptionalNone()), "(some none)"),
        (ResponseErr(UInt(3)), "(err u3)"),
        (PRINCIPAL, "'SP3K8BC0PPEVCV7NZ6QSRWPQ2JE9E5B6N3PA0KBR9"),
        (CONTRACT, "'SP3K8BC0PPEVCV7NZ6QSRWPQ2JE9E5B6N3PA0KBR9.token-wstx"),
        # tuples print sorted by name, whatever the insertion order
        (Tuple({"b": Bool(True), "a": List([Int(1)])}), "(tuple (a (list 1)) (b true))"),
    ],
)
def test_to_repr(value: ClarityValue, expected: str) -> None:
    assert to_repr(value) == expected


# --- to_json rules ----------------------------------------------------------------------------

LIMIT = 2**53 - 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (UInt(0), 0),
        (UInt(LIMIT), LIMIT),
        (UInt(LIMIT + 1), str(LIMIT + 1)),
        (UInt(2**128 - 1), str(2**128 - 1)),
        (Int(LIMIT), LIMIT),
        (Int(LIMIT + 1), str(LIMIT + 1)),
        (Int(-LIMIT), -LIMIT),
        (Int(-LIMIT - 1), str(-LIMIT - 1)),
        (Int(-(2**127)), str(-(2**127))),
        (Bool(True), True),
        (Bool(False), False),
        (Buffer(b""), "0x"),
        (Buffer(b"\xde\xad"), "0xdead"),
        (StringAscii("hi"), "hi"),
        (StringUtf8("h\u00e9"), "h\u00e9"),
        (PRINCIPAL, "SP3K8BC0PPEVCV7NZ6QSRWPQ2JE9E5B6N3PA0KBR9"),
        (CONTRACT, "SP3K8BC0PPEVCV7NZ6QSRWPQ2JE9E5B6N3PA0KBR9.token-wstx"),
        (OptionalNone(), None),
        (OptionalSome(UInt(7)), 7),
        (OptionalSome(OptionalNone()), None),
        (ResponseOk(Bool(True)), {"ok": True}),
        (ResponseErr(UInt(LIMIT + 1)), {"err": str(LIMIT + 1)}),
        (List([UInt(1), OptionalNone()]), [1, None]),
        (List(()), []),
        (Tuple({"z": UInt(1), "a": List([])}), {"z": 1, "a": []}),
    ],
)
def test_to_json(value: ClarityValue, expected: object) -> None:
    assert to_json(value) == expected
    assert type(to_json(value)) is type(expected)
    if not isinstance(value, Tuple) or value.fields:
        assert decode_to_json(encode(value)) == expected


def test_to_json_keeps_field_order() -> None:
    value = Tuple({"z": UInt(1), "a": UInt(2)})
    assert list(to_json(value)) == ["z", "a"]  # type: ignore[call-overload]


def test_to_json_and_repr_reject_non_values() -> None:
    with pytest.raises(TypeError):
        to_json(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        to_repr("x")  # type: ignore[arg-type]


# --- value classes ---------------------------------------------------------------------------


def test_value_equality_is_by_class_and_value() -> None:
    assert Int(1) == Int(1)
    assert Int(1) != UInt(1)
    assert StringAscii("a") != StringUtf8("a")
    assert ResponseOk(UInt(1)) != ResponseErr(UInt(1))
    assert OptionalNone() == OptionalNone()
    assert Tuple({"a": UInt(1), "b": UInt(2)}) == Tuple({"b": UInt(2), "a": UInt(1)})
    assert hash(Tuple({"a": UInt(1), "b": UInt(2)})) == hash(Tuple({"b": UInt(2), "a": UInt(1)}))
    assert List([UInt(1)]) == List((UInt(1),))
    assert len({Int(1), Int(1), UInt(1)}) == 2
    assert Int(1) != 1


def test_values_are_immutable() -> None:
    value = UInt(1)
    with pytest.raises(AttributeError):
        value.value = 2
    with pytest.raises(AttributeError):
        PRINCIPAL.version = 1
    with pytest.raises(AttributeError):
        OptionalNone().x = 1
    fields = {"a": UInt(1)}
    tup = Tuple(fields)
    fields["b"] = UInt(2)
    assert tup == Tuple({"a": UInt(1)})  # the constructor copies


def test_copy_and_pickle() -> None:
    value = decode_hex(VECTORS[49]["hex"])
    assert copy.copy(value) == value
    assert copy.deepcopy(value) == value
    assert pickle.loads(pickle.dumps(value)) == value
    assert pickle.loads(pickle.dumps(CONTRACT)) == CONTRACT


def test_principal_helpers() -> None:
    assert PRINCIPAL.address == "SP3K8BC0PPEVCV7NZ6QSRWPQ2JE9E5B6N3PA0KBR9"
    assert StandardPrincipal.from_address(PRINCIPAL.address) == PRINCIPAL
    assert StandardPrincipal.from_address("'" + PRINCIPAL.address) == PRINCIPAL
    assert CONTRACT.address == PRINCIPAL.address
    assert CONTRACT.issuer == PRINCIPAL
    assert CONTRACT.contract_id == "SP3K8BC0PPEVCV7NZ6QSRWPQ2JE9E5B6N3PA0KBR9.token-wstx"
    assert ContractPrincipal.from_contract_id(CONTRACT.contract_id) == CONTRACT
    assert repr(UInt(5)) == "UInt(5)"
