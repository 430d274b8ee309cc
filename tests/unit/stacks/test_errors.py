"""Decoder failure modes: every one is a ClarityDecodeError with a sensible byte offset."""

from __future__ import annotations

import pickle
import tracemalloc

import pytest

from adstack_stacks import (
    Buffer,
    ClarityDecodeError,
    ClarityEncodeError,
    ClarityError,
    ClarityValue,
    ContractPrincipal,
    Int,
    OptionalSome,
    StandardPrincipal,
    StringAscii,
    StringUtf8,
    Tuple,
    UInt,
    decode,
    decode_hex,
    decode_to_json,
    encode,
)

# A few vectors from clarity_value_vectors.json (indices 45, 49, 38, 0, 7, 41).
SIGNERS_VOTING = (
    "0c00000006056576656e740d00000005766f746564036b6579020000002102dbfbcd3bdfa62e695dc7a3bf8a0a"
    "b37f796398712907e14a6c1298162b657e3d096e65772d746f74616c0100000000000000000000000000000005"
    "0c7265776172642d6379636c65010000000000000000000000000000000c05726f756e64010000000000000000"
    "0000000000000001067369676e6572051a31ef5ee9a226a792b93f2bfbfbc54f523eba7818"
)
MINTED = (
    "0c0000000306616374696f6e0d000000066d696e74656404646174610c0000000206616d6f756e740100000000"
    "000000000000000007bfa48009726563697069656e740516f9b6dcdf1b6d77436a6e2477596a9118b0d41c6e04"
    "747970650d00000005746f6b656e"
)
SAMPLES = [
    SIGNERS_VOTING,
    MINTED,
    "0b000000040000000000000000000000000000000001000000000000000000000000000000000200000000000000"
    "0000000000000000000300fffffffffffffffffffffffffffffffc",
    "0616e685b016b3b6cd9ebf35f38e5ae29392e2acd51d176167653030302d676f7665726e616e63652d746f6b656e",
    "070c000000020e656e7469746c65642d746f6b656e0100000000000000000000000021db1fb309746f2d7265747572"
    "6e0100000000000000000000000000000000",
    "0e0000000b68656c6c6f20776f726c64",
]


def _both_fail(data: bytes, **kwargs: int) -> ClarityDecodeError:
    """decode and decode_to_json must fail identically; return the error."""
    with pytest.raises(ClarityDecodeError) as first:
        decode(data, **kwargs)
    with pytest.raises(ClarityDecodeError) as second:
        decode_to_json(data, **kwargs)
    assert (first.value.reason, first.value.offset) == (second.value.reason, second.value.offset)
    return first.value


def test_samples_decode() -> None:
    for sample in SAMPLES:
        decode_hex(sample)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s[:16])
def test_truncated_at_every_cut_point(sample: str) -> None:
    data = bytes.fromhex(sample)
    for cut in range(len(data)):
        err = _both_fail(data[:cut])
        assert 0 <= err.offset <= cut, (cut, err)
        assert "end of input" in err.reason or "exceeds the" in err.reason, (cut, err)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s[:16])
def test_trailing_bytes(sample: str) -> None:
    data = bytes.fromhex(sample)
    err = _both_fail(data + b"\x00")
    assert err.offset == len(data)
    assert "trailing" in err.reason
    assert str(err) == f"1 trailing bytes after the value at byte {len(data)}"


def test_error_shape() -> None:
    with pytest.raises(ClarityDecodeError) as info:
        decode_hex("0x1010")
    err = info.value
    assert isinstance(err, ClarityError)
    assert isinstance(err, ValueError)
    assert err.offset == 0
    assert err.reason == "bad type prefix 0x10"
    assert str(err) == "bad type prefix 0x10 at byte 0"
    clone = pickle.loads(pickle.dumps(err))
    assert (clone.reason, clone.offset, str(clone)) == (err.reason, err.offset, str(err))


def test_nested_bad_prefix_offset() -> None:
    assert _both_fail(bytes.fromhex("0a0a0aff")).offset == 3
    assert _both_fail(bytes.fromhex("0b00000002030f")).offset == 6


def test_empty_input() -> None:
    assert _both_fail(b"").offset == 0


UINT1 = bytes.fromhex("0100000000000000000000000000000001")


def _somes(n: int) -> bytes:
    return b"\x0a" * n + UINT1


def _lists(n: int) -> bytes:
    return b"\x0b\x00\x00\x00\x01" * n + UINT1


def _tuples(n: int) -> bytes:
    return b"\x0c\x00\x00\x00\x01\x01a" * n + UINT1


@pytest.mark.parametrize("wrap", [_somes, _lists, _tuples])
def test_depth_limit(wrap: object) -> None:
    assert callable(wrap)
    decode(wrap(31))  # 31 containers + the uint = depth 32
    decode_to_json(wrap(31))
    err = _both_fail(wrap(32))
    assert "depth" in err.reason
    # fails at the container whose child would be the 33rd level
    assert 0 < err.offset < len(wrap(32))


def test_depth_is_configurable() -> None:
    decode(_somes(4), max_depth=5)
    _both_fail(_somes(5), max_depth=5)
    decode(UINT1, max_depth=1)
    _both_fail(_somes(1), max_depth=1)
    decode(_somes(40), max_depth=41)
    decode(b"\x0b\x00\x00\x00\x00", max_depth=1)  # an empty list has no children
    with pytest.raises(ValueError):
        decode(UINT1, max_depth=0)


def test_interpreter_recursion_limit_is_a_decode_error() -> None:
    err = _both_fail(_somes(50_000), max_depth=10**9)
    assert "deeply" in err.reason


@pytest.mark.parametrize(
    ("hex_", "offset", "fragment"),
    [
        ("02ffffffff", 1, "buffer length 4294967295 exceeds"),
        ("0dffffffff41", 1, "string-ascii length"),
        ("0effffffff41", 1, "string-utf8 length"),
        ("0bffffffff03", 1, "list length"),
        ("0cffffffff0161", 1, "tuple field count"),
        ("0b000000040303", 1, "list length 4 exceeds the 2 remaining"),
        ("020000000501020304", 1, "buffer length 5 exceeds the 4 remaining"),
    ],
)
def test_declared_lengths_beyond_input_fail_fast(hex_: str, offset: int, fragment: str) -> None:
    # "Fast" as in: the declared length is refused before anything of that size is allocated
    # or walked. Measured in bytes, not seconds (a wall-clock bound fails on a loaded machine).
    tracemalloc.start()
    try:
        err = _both_fail(bytes.fromhex(hex_))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024, f"{peak} bytes allocated to refuse a {len(hex_) // 2}-byte input"
    assert err.offset == offset
    assert fragment in err.reason


def test_input_size_limit() -> None:
    limit = 1_048_576
    ok = b"\x02" + (limit - 5).to_bytes(4, "big") + bytes(limit - 5)
    assert len(ok) == limit
    value = decode(ok)
    assert isinstance(value, Buffer)
    assert len(value.value) == limit - 5
    too_big = b"\x02" + (limit - 4).to_bytes(4, "big") + bytes(limit - 4)
    err = _both_fail(too_big)
    assert err.offset == limit
    assert "limit" in err.reason


@pytest.mark.parametrize(
    ("hex_", "offset", "fragment"),
    [
        ("0e00000002c328", 5, "invalid utf-8"),  # bad continuation byte
        ("0e0000000461eda080", 6, "invalid utf-8"),  # UTF-16 surrogate
        ("0e00000002c0af", 5, "invalid utf-8"),  # overlong
        ("0e0000000261", 1, "exceeds the 1 remaining"),  # short, not bad utf-8
        ("0d000000026180", 6, "0x80"),
        ("0d0000000341420162", 7, "0x01"),
        ("0d000000017f", 5, "0x7f"),
        ("0d000000010b", 5, "0x0b"),  # vertical tab is not Rust is_ascii_whitespace
        ("0520" + "00" * 20, 1, "bad principal version 32"),
        ("06ff" + "00" * 20 + "0161", 1, "bad principal version 255"),
        ("0600" + "00" * 20 + "00", 22, "empty contract name"),
        ("0600" + "00" * 20 + "023161", 23, "invalid contract name"),
        ("0600" + "00" * 20 + "02612e", 23, "invalid contract name"),
        ("0600" + "00" * 20 + "81" + "61" * 129, 22, "exceeds 128"),
        ("0c0000000000", 1, "empty tuple"),
        ("0c00000002016103016103", 8, "duplicate tuple key 'a'"),
        ("0c000000010003" + "00", 5, "empty tuple key"),
        ("0c00000001023161030000", 6, "invalid tuple key"),
        ("0c0000000102c3a903", 6, "invalid tuple key"),
        ("0c00000001" + "81" + "61" * 129 + "03", 5, "exceeds 128"),
        ("0600" + "00" * 20 + "0561", 23, "end of input"),
    ],
)
def test_invalid_content(hex_: str, offset: int, fragment: str) -> None:
    err = _both_fail(bytes.fromhex(hex_))
    assert err.offset == offset, err
    assert fragment in err.reason, err


def test_accepted_edge_content() -> None:
    assert decode_hex("0d0000000409200a0d") == StringAscii("\t \n\r")
    assert decode_hex("0d000000010c") == StringAscii("\x0c")
    assert decode_hex("0e00000004f09f9880") == StringUtf8("\U0001f600")
    # tuple keys from the stacks-core grammar, and an unsorted wire order is accepted as found
    value = decode_hex("0c00000003013c03012d04023e3d09")
    assert isinstance(value, Tuple)
    assert list(value.fields) == ["<", "-", ">="]
    name = "a" * 128
    principal = decode(b"\x06\x1f" + bytes(20) + b"\x80" + name.encode())
    assert principal == ContractPrincipal(31, bytes(20), name)


@pytest.mark.parametrize(
    ("text", "offset"),
    [("0x0g", 0), ("zz", 0), ("0x010", 1), ("0x01 203", 1), ("0x", 0), ("", 0), ("0x0102gg", 2)],
)
def test_bad_hex(text: str, offset: int) -> None:
    with pytest.raises(ClarityDecodeError) as info:
        decode_hex(text)
    assert info.value.offset == offset


def test_wrong_argument_types() -> None:
    with pytest.raises(TypeError):
        decode("0x03")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        decode_hex(b"03")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        Int(2**127),
        Int(-(2**127) - 1),
        UInt(-1),
        UInt(2**128),
        StandardPrincipal(32, bytes(20)),
        StandardPrincipal(1, bytes(19)),
        ContractPrincipal(1, bytes(20), ""),
        ContractPrincipal(1, bytes(20), "1abc"),
        ContractPrincipal(1, bytes(20), "a" * 129),
        Tuple({}),
        Tuple({"": UInt(1)}),
        Tuple({"a b": UInt(1)}),
        Tuple({"\u00e9": UInt(1)}),
        StringAscii("caf\u00e9"),
        StringAscii("bell\x07"),
        StringUtf8("\ud800"),
        OptionalSome(Buffer(bytes(1_048_576))),
    ],
)
def test_encode_rejects_invalid_values(value: ClarityValue) -> None:
    with pytest.raises(ClarityEncodeError):
        encode(value)


def test_encode_rejects_non_values() -> None:
    with pytest.raises(ClarityEncodeError):
        encode(3)  # type: ignore[arg-type]


def test_encode_sorts_tuple_fields_by_name_bytes() -> None:
    value = Tuple({"b": UInt(1), "a-b": UInt(2), "a": UInt(3), "B": UInt(4)})
    raw = encode(value)
    decoded = decode(raw)
    assert isinstance(decoded, Tuple)
    assert list(decoded.fields) == ["B", "a", "a-b", "b"]
    assert decoded == value
