"""Property tests: encode/decode round trips, and arbitrary bytes never leak other exceptions."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    decode_to_json,
    encode,
    to_json,
    to_repr,
)

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    database=None,  # keep the suite from writing a .hypothesis directory
    suppress_health_check=[HealthCheck.too_slow],
)

ASCII_CHARS = "\t\n\x0c\r" + "".join(chr(c) for c in range(0x20, 0x7F))

tuple_keys = st.one_of(
    st.from_regex(r"\A[a-zA-Z][a-zA-Z0-9\-_!?+<>=/*]{0,15}\Z"),
    st.sampled_from(["-", "+", "=", "/", "*", "<", ">", "<=", ">=", "a" * 128]),
)
contract_names = st.one_of(
    st.from_regex(r"\A[a-zA-Z][a-zA-Z0-9_\-]{0,39}\Z"),
    st.just("__transient"),
    st.just("z" * 128),
)
versions = st.integers(0, 31)
hashes = st.binary(min_size=20, max_size=20)

leaves: st.SearchStrategy[ClarityValue] = st.one_of(
    st.builds(Int, st.integers(-(2**127), 2**127 - 1)),
    st.builds(UInt, st.integers(0, 2**128 - 1)),
    st.builds(Bool, st.booleans()),
    st.builds(Buffer, st.binary(max_size=48)),
    st.builds(StringAscii, st.text(ASCII_CHARS, max_size=24)),
    st.builds(StringUtf8, st.text(max_size=24)),
    st.builds(StandardPrincipal, versions, hashes),
    st.builds(ContractPrincipal, versions, hashes, contract_names),
    st.just(OptionalNone()),
)


def _containers(
    children: st.SearchStrategy[ClarityValue],
) -> st.SearchStrategy[ClarityValue]:
    return st.one_of(
        st.builds(ResponseOk, children),
        st.builds(ResponseErr, children),
        st.builds(OptionalSome, children),
        st.builds(List, st.lists(children, max_size=5)),
        st.builds(Tuple, st.dictionaries(tuple_keys, children, min_size=1, max_size=5)),
    )


clarity_values: st.SearchStrategy[ClarityValue] = st.recursive(leaves, _containers, max_leaves=24)


def depth(value: ClarityValue) -> int:
    if isinstance(value, ResponseOk | ResponseErr | OptionalSome):
        return 1 + depth(value.value)
    if isinstance(value, List):
        return 1 + max((depth(v) for v in value.items), default=0)
    if isinstance(value, Tuple):
        return 1 + max(depth(v) for v in value.fields.values())
    return 1


@PROPERTY
@given(clarity_values)
def test_encode_decode_round_trip(value: ClarityValue) -> None:
    raw = encode(value)
    max_depth = max(32, depth(value))
    decoded = decode(raw, max_depth=max_depth)
    assert decoded == value
    assert encode(decoded) == raw
    assert to_repr(decoded) == to_repr(value)
    assert to_json(decoded) == to_json(value)
    assert decode_to_json(raw, max_depth=max_depth) == to_json(value)


def _outcome(data: bytes) -> tuple[str, object]:
    """('ok', json) or ('error', (reason, offset)); anything but ClarityDecodeError escapes."""
    try:
        value = decode(data)
    except ClarityDecodeError as err:
        assert 0 <= err.offset <= len(data)
        return "error", (err.reason, err.offset)
    to_repr(value)
    return "ok", to_json(value)


def _check_never_leaks(data: bytes) -> None:
    outcome = _outcome(data)
    try:
        fast: tuple[str, object] = ("ok", decode_to_json(data))
    except ClarityDecodeError as err:
        fast = ("error", (err.reason, err.offset))
    assert fast == outcome


@PROPERTY
@given(st.binary(max_size=96))
def test_arbitrary_bytes_only_raise_decode_errors(data: bytes) -> None:
    _check_never_leaks(data)


@PROPERTY
@given(st.sampled_from(range(15)), st.binary(max_size=64))
def test_arbitrary_payloads_after_a_valid_prefix(prefix: int, payload: bytes) -> None:
    _check_never_leaks(bytes((prefix,)) + payload)


@PROPERTY
@given(clarity_values, st.data())
def test_mutated_encodings_only_raise_decode_errors(
    value: ClarityValue, data: st.DataObject
) -> None:
    raw = bytearray(encode(value))
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(raw) - 1))
        raw[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    _check_never_leaks(bytes(raw[:cut]))
    _check_never_leaks(bytes(raw))
