"""Decoder for consensus-serialised Clarity values (stacks-core ``serialization.rs`` format).

Limits and checks (every failure is a :class:`ClarityDecodeError` carrying the byte offset):

* input at most 1 MiB; the value must consume all input (trailing bytes are an error);
* nesting at most ``max_depth`` values deep (default 32, a top-level scalar is depth 1);
* declared lengths / counts are checked against the remaining input before anything is read;
* tuple keys and contract names: 1..128 bytes matching the stacks-core name grammars; tuples
  must be non-empty and keys unique (field order on the wire is accepted as found);
* string-ascii bytes must be what stacks-core accepts (ASCII alphanumeric, punctuation, space,
  ``\\t \\n \\x0c \\r``); string-utf8 must be valid UTF-8; principal versions must be < 32.

Not checked (stacks-core does, but it needs type inference): that list elements share a type.
"""

from __future__ import annotations

import re
import struct
from typing import NoReturn

from adstack_stacks.c32 import _c32_address_cached
from adstack_stacks.errors import ClarityDecodeError
from adstack_stacks.values import (
    Bool,
    Buffer,
    ClarityValue,
    ContractPrincipal,
    Int,
    OptionalNone,
    OptionalSome,
    ResponseErr,
    ResponseOk,
    StandardPrincipal,
    StringAscii,
    StringUtf8,
    UInt,
    _list_from_tuple,
    _tuple_from_dict,
)

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "MAX_NAME_LENGTH",
    "MAX_VALUE_SIZE",
    "decode",
    "decode_hex",
    "decode_hex_to_json",
    "decode_to_json",
    "hex_to_bytes",
]

MAX_VALUE_SIZE = 1_048_576
DEFAULT_MAX_DEPTH = 32
MAX_NAME_LENGTH = 128
JSON_SAFE_INT = 2**53 - 1

_MAX_PRINCIPAL_VERSION = 31
_NAME_CACHE_LIMIT = 65_536

_u32 = struct.Struct(">I").unpack_from
_from_bytes = int.from_bytes

_CLARITY_NAME_RE = re.compile(rb"[a-zA-Z][a-zA-Z0-9\-_!?+<>=/*]*|[-+=/*]|[<>]=?")
_CONTRACT_NAME_RE = re.compile(rb"[a-zA-Z][a-zA-Z0-9\-_]*|__transient")
# Bytes stacks-core accepts in string-ascii: is_ascii_alphanumeric || is_ascii_punctuation
# || is_ascii_whitespace, i.e. 0x20..0x7e plus \t \n \x0c \r.
_ASCII_OK = bytes([0x09, 0x0A, 0x0C, 0x0D, *range(0x20, 0x7F)])

# Validated names (raw bytes -> str). Tuple keys repeat endlessly across events, so after the
# first sighting a key costs one dict lookup.
_tuple_names: dict[bytes, str] = {}
_contract_names: dict[bytes, str] = {}

_TRUE = Bool(True)
_FALSE = Bool(False)
_NONE = OptionalNone()


def _fail(reason: str, offset: int) -> NoReturn:
    raise ClarityDecodeError(reason, offset)


def _truncated(what: str, offset: int, need: int, end: int) -> NoReturn:
    left = max(end - offset, 0)
    _fail(f"unexpected end of input reading {what}: need {need} bytes, {left} left", offset)


def _too_deep(offset: int, max_depth: int) -> NoReturn:
    _fail(f"value nested deeper than max depth {max_depth}", offset)


def _check_name(
    raw: bytes, offset: int, kind: str, pattern: re.Pattern[bytes], cache: dict[bytes, str]
) -> str:
    """Validate a tuple key / contract name found at ``offset`` (its length byte)."""
    if not raw:
        _fail(f"empty {kind}", offset)
    if len(raw) > MAX_NAME_LENGTH:
        _fail(f"{kind} of {len(raw)} bytes exceeds {MAX_NAME_LENGTH}", offset)
    if pattern.fullmatch(raw) is None:
        _fail(f"invalid {kind} {raw!r}", offset + 1)
    name = raw.decode("ascii")
    if len(cache) >= _NAME_CACHE_LIMIT:
        cache.clear()
    cache[raw] = name
    return name


def _tuple_name(raw: bytes, offset: int) -> str:
    return _check_name(raw, offset, "tuple key", _CLARITY_NAME_RE, _tuple_names)


def _contract_name(raw: bytes, offset: int) -> str:
    return _check_name(raw, offset, "contract name", _CONTRACT_NAME_RE, _contract_names)


def _bad_ascii(raw: bytes, offset: int) -> NoReturn:
    index = next(i for i, b in enumerate(raw) if b not in _ASCII_OK)
    _fail(f"invalid string-ascii byte 0x{raw[index]:02x}", offset + index)


def _bad_utf8(exc: UnicodeDecodeError, offset: int) -> NoReturn:
    _fail(f"invalid utf-8 in string-utf8 ({exc.reason})", offset + exc.start)


def _bad_length(what: str, length: int, offset: int, left: int) -> NoReturn:
    _fail(f"{what} length {length} exceeds the {left} remaining bytes", offset)


# One flat branch per type prefix, inlined: the ingester's hot path (a dispatch table or
# per-type helpers add a call per value); every branch is covered by the decoder tests.
def _dec(  # noqa: C901, PLR0912, PLR0915
    buf: bytes, pos: int, depth: int, max_depth: int
) -> tuple[ClarityValue, int]:
    """Decode the value starting at ``pos``; return it and the offset just past it."""
    end = len(buf)
    if pos >= end:
        _truncated("type prefix", pos, 1, end)
    t = buf[pos]
    p = pos + 1
    if t == 1:  # uint
        q = p + 16
        if q > end:
            _truncated("uint", p, 16, end)
        return UInt(_from_bytes(buf[p:q], "big")), q
    if t == 12:  # tuple
        q = p + 4
        if q > end:
            _truncated("tuple field count", p, 4, end)
        count = _u32(buf, p)[0]
        if count == 0:
            _fail("empty tuple", p)
        if count * 3 > end - q:  # every field needs >= 3 bytes: name length, name, type
            _bad_length("tuple field count", count, p, end - q)
        if depth >= max_depth:
            _too_deep(pos, max_depth)
        p = q
        depth += 1
        fields: dict[str, ClarityValue] = {}
        for _ in range(count):
            if p >= end:
                _truncated("tuple key length", p, 1, end)
            q = p + 1 + buf[p]
            if q > end:
                _truncated("tuple key", p + 1, buf[p], end)
            raw = buf[p + 1 : q]
            name = _tuple_names.get(raw)
            if name is None:
                name = _tuple_name(raw, p)
            if name in fields:
                _fail(f"duplicate tuple key {name!r}", p)
            fields[name], p = _dec(buf, q, depth, max_depth)
        return _tuple_from_dict(fields), p
    if t == 13:  # string-ascii
        q = p + 4
        if q > end:
            _truncated("string-ascii length", p, 4, end)
        n = _u32(buf, p)[0]
        if n > end - q:
            _bad_length("string-ascii", n, p, end - q)
        raw = buf[q : q + n]
        if raw.translate(None, _ASCII_OK):
            _bad_ascii(raw, q)
        return StringAscii(raw.decode("ascii")), q + n
    if t == 5:  # standard principal
        q = p + 21
        if q > end:
            _truncated("standard principal", p, 21, end)
        version = buf[p]
        if version > _MAX_PRINCIPAL_VERSION:
            _fail(f"bad principal version {version}", p)
        return StandardPrincipal(version, buf[p + 1 : q]), q
    if t == 2:  # buffer
        q = p + 4
        if q > end:
            _truncated("buffer length", p, 4, end)
        n = _u32(buf, p)[0]
        if n > end - q:
            _bad_length("buffer", n, p, end - q)
        return Buffer(buf[q : q + n]), q + n
    if t == 0:  # int
        q = p + 16
        if q > end:
            _truncated("int", p, 16, end)
        return Int(_from_bytes(buf[p:q], "big", signed=True)), q
    if t == 3:
        return _TRUE, p
    if t == 4:
        return _FALSE, p
    if t == 9:
        return _NONE, p
    if t in {7, 8, 10}:  # (ok v) / (err v) / (some v)
        if depth >= max_depth:
            _too_deep(pos, max_depth)
        inner, q = _dec(buf, p, depth + 1, max_depth)
        if t == 7:
            return ResponseOk(inner), q
        if t == 8:
            return ResponseErr(inner), q
        return OptionalSome(inner), q
    if t == 6:  # contract principal
        q = p + 22
        if q > end:
            _truncated("contract principal", p, 22, end)
        version = buf[p]
        if version > _MAX_PRINCIPAL_VERSION:
            _fail(f"bad principal version {version}", p)
        n = buf[q - 1]
        if n > end - q:
            _truncated("contract name", q, n, end)
        raw = buf[q : q + n]
        name = _contract_names.get(raw)
        if name is None:
            name = _contract_name(raw, q - 1)
        return ContractPrincipal(version, buf[p + 1 : p + 21], name), q + n
    if t == 11:  # list
        q = p + 4
        if q > end:
            _truncated("list length", p, 4, end)
        count = _u32(buf, p)[0]
        if count > end - q:  # every element needs >= 1 byte
            _bad_length("list", count, p, end - q)
        if count and depth >= max_depth:
            _too_deep(pos, max_depth)
        p = q
        depth += 1
        items: list[ClarityValue] = []
        append = items.append
        for _ in range(count):
            item, p = _dec(buf, p, depth, max_depth)
            append(item)
        return _list_from_tuple(tuple(items)), p
    if t == 14:  # string-utf8
        q = p + 4
        if q > end:
            _truncated("string-utf8 length", p, 4, end)
        n = _u32(buf, p)[0]
        if n > end - q:
            _bad_length("string-utf8", n, p, end - q)
        try:
            text = buf[q : q + n].decode("utf-8")
        except UnicodeDecodeError as exc:
            _bad_utf8(exc, q)
        return StringUtf8(text), q + n
    _fail(f"bad type prefix 0x{t:02x}", pos)


# One flat branch per type prefix, inlined: the ingester's hot path (a dispatch table or
# per-type helpers add a call per value); every branch is covered by the decoder tests.
def _dec_json(  # noqa: C901, PLR0912, PLR0915
    buf: bytes, pos: int, depth: int, max_depth: int
) -> tuple[object, int]:
    """Same grammar and checks as :func:`_dec`, but builds the ``to_json`` form directly."""
    end = len(buf)
    if pos >= end:
        _truncated("type prefix", pos, 1, end)
    t = buf[pos]
    p = pos + 1
    if t == 1:  # uint
        q = p + 16
        if q > end:
            _truncated("uint", p, 16, end)
        v = _from_bytes(buf[p:q], "big")
        return (v if v <= JSON_SAFE_INT else str(v)), q
    if t == 12:  # tuple
        q = p + 4
        if q > end:
            _truncated("tuple field count", p, 4, end)
        count = _u32(buf, p)[0]
        if count == 0:
            _fail("empty tuple", p)
        if count * 3 > end - q:
            _bad_length("tuple field count", count, p, end - q)
        if depth >= max_depth:
            _too_deep(pos, max_depth)
        p = q
        depth += 1
        fields: dict[str, object] = {}
        for _ in range(count):
            if p >= end:
                _truncated("tuple key length", p, 1, end)
            q = p + 1 + buf[p]
            if q > end:
                _truncated("tuple key", p + 1, buf[p], end)
            raw = buf[p + 1 : q]
            name = _tuple_names.get(raw)
            if name is None:
                name = _tuple_name(raw, p)
            if name in fields:
                _fail(f"duplicate tuple key {name!r}", p)
            fields[name], p = _dec_json(buf, q, depth, max_depth)
        return fields, p
    if t == 13:  # string-ascii
        q = p + 4
        if q > end:
            _truncated("string-ascii length", p, 4, end)
        n = _u32(buf, p)[0]
        if n > end - q:
            _bad_length("string-ascii", n, p, end - q)
        raw = buf[q : q + n]
        if raw.translate(None, _ASCII_OK):
            _bad_ascii(raw, q)
        return raw.decode("ascii"), q + n
    if t == 5:  # standard principal
        q = p + 21
        if q > end:
            _truncated("standard principal", p, 21, end)
        version = buf[p]
        if version > _MAX_PRINCIPAL_VERSION:
            _fail(f"bad principal version {version}", p)
        return _c32_address_cached(version, buf[p + 1 : q]), q
    if t == 2:  # buffer
        q = p + 4
        if q > end:
            _truncated("buffer length", p, 4, end)
        n = _u32(buf, p)[0]
        if n > end - q:
            _bad_length("buffer", n, p, end - q)
        return "0x" + buf[q : q + n].hex(), q + n
    if t == 0:  # int
        q = p + 16
        if q > end:
            _truncated("int", p, 16, end)
        v = _from_bytes(buf[p:q], "big", signed=True)
        return (v if -JSON_SAFE_INT <= v <= JSON_SAFE_INT else str(v)), q
    if t == 3:
        return True, p
    if t == 4:
        return False, p
    if t == 9:
        return None, p
    if t in {7, 8, 10}:  # (ok v) / (err v) / (some v)
        if depth >= max_depth:
            _too_deep(pos, max_depth)
        inner, q = _dec_json(buf, p, depth + 1, max_depth)
        if t == 7:
            return {"ok": inner}, q
        if t == 8:
            return {"err": inner}, q
        return inner, q
    if t == 6:  # contract principal
        q = p + 22
        if q > end:
            _truncated("contract principal", p, 22, end)
        version = buf[p]
        if version > _MAX_PRINCIPAL_VERSION:
            _fail(f"bad principal version {version}", p)
        n = buf[q - 1]
        if n > end - q:
            _truncated("contract name", q, n, end)
        raw = buf[q : q + n]
        name = _contract_names.get(raw)
        if name is None:
            name = _contract_name(raw, q - 1)
        address = _c32_address_cached(version, buf[p + 1 : p + 21])
        return f"{address}.{name}", q + n
    if t == 11:  # list
        q = p + 4
        if q > end:
            _truncated("list length", p, 4, end)
        count = _u32(buf, p)[0]
        if count > end - q:
            _bad_length("list", count, p, end - q)
        if count and depth >= max_depth:
            _too_deep(pos, max_depth)
        p = q
        depth += 1
        items: list[object] = []
        append = items.append
        for _ in range(count):
            item, p = _dec_json(buf, p, depth, max_depth)
            append(item)
        return items, p
    if t == 14:  # string-utf8
        q = p + 4
        if q > end:
            _truncated("string-utf8 length", p, 4, end)
        n = _u32(buf, p)[0]
        if n > end - q:
            _bad_length("string-utf8", n, p, end - q)
        try:
            text = buf[q : q + n].decode("utf-8")
        except UnicodeDecodeError as exc:
            _bad_utf8(exc, q)
        return text, q + n
    _fail(f"bad type prefix 0x{t:02x}", pos)


def _prepare(data: bytes | bytearray | memoryview, max_depth: int) -> bytes:
    if type(data) is not bytes:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"decode() needs bytes, not {type(data).__name__}")
        data = bytes(data)
    if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1:
        raise ValueError(f"max_depth must be a positive int, got {max_depth!r}")
    if len(data) > MAX_VALUE_SIZE:
        _fail(f"input of {len(data)} bytes exceeds the {MAX_VALUE_SIZE}-byte limit", MAX_VALUE_SIZE)
    return data


def decode(
    data: bytes | bytearray | memoryview, *, max_depth: int = DEFAULT_MAX_DEPTH
) -> ClarityValue:
    """Decode one consensus-serialised Clarity value; it must span all of ``data``."""
    buf = _prepare(data, max_depth)
    try:
        value, pos = _dec(buf, 0, 1, max_depth)
    except RecursionError:
        _fail("value nested too deeply for the interpreter stack", 0)
    if pos != len(buf):
        _fail(f"{len(buf) - pos} trailing bytes after the value", pos)
    return value


def decode_to_json(
    data: bytes | bytearray | memoryview, *, max_depth: int = DEFAULT_MAX_DEPTH
) -> object:
    """``to_json(decode(data))`` in one pass (about twice as fast); same errors as decode."""
    buf = _prepare(data, max_depth)
    try:
        value, pos = _dec_json(buf, 0, 1, max_depth)
    except RecursionError:
        _fail("value nested too deeply for the interpreter stack", 0)
    if pos != len(buf):
        _fail(f"{len(buf) - pos} trailing bytes after the value", pos)
    return value


def hex_to_bytes(text: str) -> bytes:
    """Parse hex with or without ``0x`` (surrounding whitespace ignored).

    Errors are :class:`ClarityDecodeError` whose offset is the byte (= hex-digit pair) index.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a hex str, not {type(text).__name__}")
    s = text.strip()
    if s[:2] in ("0x", "0X"):
        s = s[2:]
    if len(s) > 2 * MAX_VALUE_SIZE:
        _fail(f"input of {len(s) // 2} bytes exceeds the {MAX_VALUE_SIZE}-byte limit", 0)
    if len(s) % 2:
        _fail("invalid hex: odd number of digits", len(s) // 2)
    try:
        data = bytes.fromhex(s)
    except ValueError:
        data = b""
    if len(data) * 2 != len(s):  # fromhex failed or skipped whitespace
        index = next((i for i, c in enumerate(s) if c not in "0123456789abcdefABCDEF"), 0)
        _fail(f"invalid hex: bad character {s[index]!r}", index // 2)
    return data


def decode_hex(text: str, *, max_depth: int = DEFAULT_MAX_DEPTH) -> ClarityValue:
    """:func:`decode` for a hex string, with or without the ``0x`` prefix."""
    return decode(hex_to_bytes(text), max_depth=max_depth)


def decode_hex_to_json(text: str, *, max_depth: int = DEFAULT_MAX_DEPTH) -> object:
    """:func:`decode_to_json` for a hex string, with or without the ``0x`` prefix."""
    return decode_to_json(hex_to_bytes(text), max_depth=max_depth)
