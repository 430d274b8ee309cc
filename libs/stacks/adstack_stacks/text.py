"""Text forms of Clarity values.

* :func:`to_repr` — the Hiro API ``repr`` string (stacks-encoding-native-js ``repr_string``).
* :func:`to_json` — the public JSON shape our clients receive.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adstack_stacks.c32 import c32_address
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

__all__ = ["JSON_SAFE_INT", "to_json", "to_repr"]

JSON_SAFE_INT = 2**53 - 1


def _rust_escape_default(byte: int) -> str:
    """Rust ``std::ascii::escape_default`` for one byte."""
    special = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x22: '\\"', 0x27: "\\'", 0x5C: "\\\\"}
    if byte in special:
        return special[byte]
    if 0x20 <= byte <= 0x7E:
        return chr(byte)
    return f"\\x{byte:02x}"


_BYTE_ESCAPES = [_rust_escape_default(b) for b in range(256)]
_ASCII_TABLE = {b: _BYTE_ESCAPES[b] for b in range(128)}


def _escape_ascii(text: str) -> str:
    if text.isascii():
        return text.translate(_ASCII_TABLE)
    # Only reachable for a hand-built StringAscii holding non-ASCII text: escape its bytes.
    return "".join(_BYTE_ESCAPES[b] for b in text.encode("utf-8", "surrogatepass"))


def _escape_utf8(text: str) -> str:
    if text.isascii():
        return text.translate(_ASCII_TABLE)
    parts: list[str] = []
    for char in text:
        code = ord(char)
        if code < 0x80:
            parts.append(_BYTE_ESCAPES[code])
        else:
            parts.append("\\u{" + char.encode("utf-8", "surrogatepass").hex() + "}")
    return "".join(parts)


def _name_key(item: tuple[str, ClarityValue]) -> bytes:
    return item[0].encode("utf-8", "surrogatepass")


def _leaf_repr(value: ClarityValue) -> str | None:
    """The repr of a value that holds no other value; ``None`` for a composite one."""
    if isinstance(value, UInt):
        return f"u{value.value}"
    if isinstance(value, Int):
        return str(value.value)
    if isinstance(value, Bool):
        return "true" if value.value else "false"
    if isinstance(value, Buffer):
        return "0x" + value.value.hex()
    if isinstance(value, StringAscii):
        return '"' + _escape_ascii(value.value) + '"'
    if isinstance(value, StringUtf8):
        return 'u"' + _escape_utf8(value.value) + '"'
    if isinstance(value, StandardPrincipal):
        return "'" + c32_address(value.version, value.hash160)
    if isinstance(value, ContractPrincipal):
        return "'" + c32_address(value.version, value.hash160) + "." + value.name
    if isinstance(value, OptionalNone):
        return "none"
    return None


def _repr(value: ClarityValue, out: list[str]) -> None:
    leaf = _leaf_repr(value)
    if leaf is not None:
        out.append(leaf)
    elif isinstance(value, ResponseOk | ResponseErr | OptionalSome):
        out.append(
            "(ok "
            if isinstance(value, ResponseOk)
            else "(err "
            if isinstance(value, ResponseErr)
            else "(some "
        )
        _repr(value.value, out)
        out.append(")")
    elif isinstance(value, List):
        out.append("(list")
        for item in value.items:
            out.append(" ")
            _repr(item, out)
        out.append(")")
    elif isinstance(value, Tuple):
        # Upstream keeps tuples in a BTreeMap, so fields print sorted by name.
        out.append("(tuple")
        for name, item in sorted(value.fields.items(), key=_name_key):
            out.append(f" ({name} ")
            _repr(item, out)
            out.append(")")
        out.append(")")
    else:
        raise TypeError(f"not a Clarity value: {type(value).__name__}")


def to_repr(value: ClarityValue) -> str:
    """Hiro API ``repr``: ``u5``, ``-1``, ``0x…``, ``"…"``, ``u"…"``, ``'SP…[.name]``,
    ``(list …)``, ``(tuple (k v) …)`` (fields sorted by name), ``(ok …)``, ``(err …)``,
    ``(some …)``, ``none``, ``true`` / ``false``.
    """
    out: list[str] = []
    _repr(value, out)
    return "".join(out)


def _int_json(value: Int | UInt) -> object:
    v = value.value
    return v if -JSON_SAFE_INT <= v <= JSON_SAFE_INT else str(v)


def _tuple_json(value: Tuple) -> object:
    return {name: to_json(item) for name, item in value.fields.items()}


def _list_json(value: List) -> object:
    return [to_json(item) for item in value.items]


def _plain_json(value: Bool | StringAscii | StringUtf8) -> object:
    return value.value


def _buffer_json(value: Buffer) -> object:
    return "0x" + value.value.hex()


def _standard_json(value: StandardPrincipal) -> object:
    return c32_address(value.version, value.hash160)


def _contract_json(value: ContractPrincipal) -> object:
    return c32_address(value.version, value.hash160) + "." + value.name


def _none_json(value: OptionalNone) -> object:
    return None


def _some_json(value: OptionalSome) -> object:
    return to_json(value.value)


def _ok_json(value: ResponseOk) -> object:
    return {"ok": to_json(value.value)}


def _err_json(value: ResponseErr) -> object:
    return {"err": to_json(value.value)}


_JSON: dict[type, Callable[[Any], object]] = {
    Int: _int_json,
    UInt: _int_json,
    Bool: _plain_json,
    Buffer: _buffer_json,
    StringAscii: _plain_json,
    StringUtf8: _plain_json,
    StandardPrincipal: _standard_json,
    ContractPrincipal: _contract_json,
    ResponseOk: _ok_json,
    ResponseErr: _err_json,
    OptionalNone: _none_json,
    OptionalSome: _some_json,
    List: _list_json,
    Tuple: _tuple_json,
}


def to_json(value: ClarityValue) -> object:
    """The public JSON form (a ``json.dumps``-able object).

    ints outside +/-(2**53 - 1) become decimal strings; buffers ``"0x…"``; principals their
    address (no apostrophe); ``none`` -> ``None``; ``(some v)`` -> ``v``; ``(ok v)`` ->
    ``{"ok": v}``; ``(err v)`` -> ``{"err": v}``; lists -> lists; tuples -> dicts (field order
    kept).
    """
    try:
        handler = _JSON[type(value)]
    except KeyError:
        raise TypeError(f"not a Clarity value: {type(value).__name__}") from None
    return handler(value)
