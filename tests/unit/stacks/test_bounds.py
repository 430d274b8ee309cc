"""Decoding hostile bytes takes bounded memory: linear in the input, and the input is capped.

(Depth is bounded too: see ``test_depth_limit`` and
``test_interpreter_recursion_limit_is_a_decode_error`` in ``test_errors.py``.)
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable

import pytest

from adstack_stacks import ClarityDecodeError, decode, decode_to_json, to_json, to_repr
from adstack_stacks.decode import MAX_VALUE_SIZE

SIZE = 64 * 1024
PER_BYTE = 64
"""Peak bytes allocated per input byte, worst case (measured: 17–31 for lists of ``none``
or ``(some none)``, the densest values: one Python object per input byte or two; the bound
leaves room for allocator noise when the suite runs in parallel)."""


def _list_of(item: bytes, size: int) -> bytes:
    count = (size - 5) // len(item)
    return b"\x0b" + count.to_bytes(4, "big") + item * count


DENSE = {
    "list of none": _list_of(b"\x09", SIZE),
    "list of true": _list_of(b"\x03", SIZE),
    "list of empty lists": _list_of(b"\x0b\x00\x00\x00\x00", SIZE),
    "list of empty buffers": _list_of(b"\x02\x00\x00\x00\x00", SIZE),
    "list of (some none)": _list_of(b"\x0a\x09", SIZE),
    "tuple of many fields": b"\x0c" + (SIZE // 8).to_bytes(4, "big") + b"".join(
        bytes([5]) + f"k{n:04x}".encode() + b"\x04" for n in range(SIZE // 8)),
}


def _peak(work: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", sorted(DENSE))
def test_memory_is_linear_in_the_input(name: str) -> None:
    data = DENSE[name]
    assert len(data) <= SIZE
    value = decode(data)  # a valid value: the worst case allocates everything
    assert _peak(lambda: decode(data)) <= PER_BYTE * len(data)
    assert _peak(lambda: decode_to_json(data)) <= PER_BYTE * len(data)
    assert _peak(lambda: (to_json(value), to_repr(value))) <= PER_BYTE * len(data)


def test_the_input_is_capped_before_anything_is_allocated() -> None:
    """So no accepted input can make the decoder hold more than PER_BYTE × 1 MiB."""
    data = _list_of(b"\x09", MAX_VALUE_SIZE + 5)
    with pytest.raises(ClarityDecodeError) as info:
        decode(data)
    assert "limit" in info.value.reason


    def refused() -> None:
        with pytest.raises(ClarityDecodeError):
            decode(data)

    assert _peak(refused) < 64 * 1024
