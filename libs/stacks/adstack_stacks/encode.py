"""Encoder: Clarity values -> consensus serialisation (inverse of :func:`decode`).

The encoder validates what the decoder would reject (integer ranges, principal versions and
hash lengths, names, string contents, empty tuples), raising :class:`ClarityEncodeError`, so its
output always decodes back to an equal value (within the decoder's depth limit). Tuple fields are
written sorted by name (byte order), as the consensus format requires.
"""

from __future__ import annotations

import struct

from adstack_stacks.decode import (
    _ASCII_OK,
    _CLARITY_NAME_RE,
    _CONTRACT_NAME_RE,
    MAX_NAME_LENGTH,
    MAX_VALUE_SIZE,
)
from adstack_stacks.errors import ClarityEncodeError
from adstack_stacks.values import (
    Bool,
    Buffer,
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
)

__all__ = ["encode", "encode_hex"]

_pack_u32 = struct.Struct(">I").pack
_INT_MIN = -(2**127)
_INT_MAX = 2**127 - 1
_UINT_MAX = 2**128 - 1


def _name_bytes(name: str, kind: str, contract: bool) -> bytes:
    if not isinstance(name, str):
        raise ClarityEncodeError(f"{kind} must be a str, not {type(name).__name__}")
    raw = name.encode("utf-8", "surrogatepass")
    if not raw or len(raw) > MAX_NAME_LENGTH:
        raise ClarityEncodeError(f"{kind} must be 1..{MAX_NAME_LENGTH} bytes: {name!r}")
    pattern = _CONTRACT_NAME_RE if contract else _CLARITY_NAME_RE
    if pattern.fullmatch(raw) is None:
        raise ClarityEncodeError(f"invalid {kind}: {name!r}")
    return raw


def _principal(version: int, hash160: bytes) -> bytes:
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= 31:
        raise ClarityEncodeError(f"principal version must be 0..31, got {version!r}")
    if len(hash160) != 20:
        raise ClarityEncodeError(f"principal hash160 must be 20 bytes, got {len(hash160)}")
    return bytes((version,)) + hash160


def _int(value: object, kind: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ClarityEncodeError(f"{kind} value must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ClarityEncodeError(f"{kind} value out of range: {value}")
    return value


def _first(pair: tuple[bytes, ClarityValue]) -> bytes:
    return pair[0]


def _enc_text(value: StringAscii | StringUtf8) -> bytes:
    if isinstance(value, StringAscii):
        text = value.value
        if not isinstance(text, str) or not text.isascii():
            raise ClarityEncodeError(f"string-ascii must be ASCII text: {text!r}")
        raw = text.encode("ascii")
        if raw.translate(None, _ASCII_OK):
            raise ClarityEncodeError(f"string-ascii has characters Clarity rejects: {text!r}")
        return b"\x0d" + _pack_u32(len(raw)) + raw
    try:
        raw = value.value.encode("utf-8")
    except (UnicodeEncodeError, AttributeError) as exc:
        raise ClarityEncodeError(f"string-utf8 is not encodable: {exc}") from None
    return b"\x0e" + _pack_u32(len(raw)) + raw


def _enc_leaf(value: ClarityValue) -> bytes | None:
    """The encoding of a value that holds no other value; ``None`` for a composite one."""
    if isinstance(value, UInt):
        return b"\x01" + _int(value.value, "uint", 0, _UINT_MAX).to_bytes(16, "big")
    if isinstance(value, Int):
        v = _int(value.value, "int", _INT_MIN, _INT_MAX)
        return b"\x00" + v.to_bytes(16, "big", signed=True)
    if isinstance(value, Bool):
        return b"\x03" if value.value else b"\x04"
    if isinstance(value, Buffer):
        return b"\x02" + _pack_u32(len(value.value)) + value.value
    if isinstance(value, StringAscii | StringUtf8):
        return _enc_text(value)
    if isinstance(value, StandardPrincipal):
        return b"\x05" + _principal(value.version, value.hash160)
    if isinstance(value, ContractPrincipal):
        name = _name_bytes(value.name, "contract name", contract=True)
        return b"\x06" + _principal(value.version, value.hash160) + bytes((len(name),)) + name
    if isinstance(value, OptionalNone):
        return b"\x09"
    return None


def _enc_tuple(value: Tuple, out: bytearray) -> None:
    if not value.fields:
        raise ClarityEncodeError("empty tuples are not valid Clarity values")
    named = sorted(
        (
            (_name_bytes(name, "tuple key", contract=False), item)
            for name, item in value.fields.items()
        ),
        key=_first,
    )
    out += b"\x0c" + _pack_u32(len(named))
    for raw, item in named:
        out += bytes((len(raw),)) + raw
        _enc(item, out)


def _enc(value: ClarityValue, out: bytearray) -> None:
    leaf = _enc_leaf(value)
    if leaf is not None:
        out += leaf
    elif isinstance(value, ResponseOk):
        out += b"\x07"
        _enc(value.value, out)
    elif isinstance(value, ResponseErr):
        out += b"\x08"
        _enc(value.value, out)
    elif isinstance(value, OptionalSome):
        out += b"\x0a"
        _enc(value.value, out)
    elif isinstance(value, List):
        out += b"\x0b" + _pack_u32(len(value.items))
        for item in value.items:
            _enc(item, out)
    elif isinstance(value, Tuple):
        _enc_tuple(value, out)
    else:
        raise ClarityEncodeError(f"not a Clarity value: {type(value).__name__}")
    if len(out) > MAX_VALUE_SIZE:
        raise ClarityEncodeError(f"encoded value exceeds {MAX_VALUE_SIZE} bytes")


def encode(value: ClarityValue) -> bytes:
    """Consensus-serialise ``value``. Raises :class:`ClarityEncodeError` for invalid values."""
    out = bytearray()
    try:
        _enc(value, out)
    except RecursionError:
        raise ClarityEncodeError("value nested too deeply to encode") from None
    return bytes(out)


def encode_hex(value: ClarityValue) -> str:
    """``"0x" + encode(value).hex()``."""
    return "0x" + encode(value).hex()
