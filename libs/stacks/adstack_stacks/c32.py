"""c32 (Crockford base-32) and c32check encoding of Stacks addresses.

* ``c32_encode`` treats its input as a big-endian number; every leading zero byte becomes a
  leading ``'0'`` character.
* ``c32check`` appends the first 4 bytes of ``sha256(sha256(version || data))``.
* An address is ``"S" + alphabet[version] + c32(hash160 || checksum)``.
* Decoding is case-insensitive and maps ``O -> 0`` and ``L``, ``I -> 1``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache

from adstack_stacks.errors import C32Error

__all__ = [
    "C32_ALPHABET",
    "c32_address",
    "c32_address_decode",
    "c32_decode",
    "c32_encode",
    "c32check_checksum",
    "c32check_decode",
    "c32check_encode",
]

C32_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RFC4648_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# RFC 4648 base-32 output -> c32 alphabet (same 5-bit values, different symbols).
_RFC_TO_C32 = bytes.maketrans(_RFC4648_ALPHABET, C32_ALPHABET.encode("ascii"))
# c32 (after normalisation) -> the digits Python's int(..., 32) understands.
_PY_BASE32_DIGITS = "0123456789abcdefghijklmnopqrstuv"


def _build_normaliser() -> dict[int, str]:
    table: dict[int, str] = {}
    for value, char in enumerate(C32_ALPHABET):
        digit = _PY_BASE32_DIGITS[value]
        table[ord(char)] = digit
        table[ord(char.lower())] = digit
    for char, canonical in (("O", "0"), ("L", "1"), ("I", "1")):
        digit = _PY_BASE32_DIGITS[C32_ALPHABET.index(canonical)]
        table[ord(char)] = digit
        table[ord(char.lower())] = digit
    return table


_NORMALISE = _build_normaliser()
_PY_DIGITS_RE = re.compile(r"[0-9a-v]*")
_MAX_VERSION = 31
_HASH160_LEN = 20


def c32_encode(data: bytes) -> str:
    """Encode ``data`` as c32 (no version, no checksum)."""
    data = bytes(data)
    if not data:
        return ""
    zeros = len(data) - len(data.lstrip(b"\x00"))
    pad = -len(data) % 5
    # b32encode of a multiple of 5 bytes has no '=' padding and is exactly the base-32 digits
    # of the (left-zero-padded) big-endian number; strip the zero digits and re-add one '0'
    # per leading zero byte.
    digits = base64.b32encode(b"\x00" * pad + data).translate(_RFC_TO_C32).lstrip(b"0")
    return "0" * zeros + digits.decode("ascii")


def _normalise(text: str, what: str) -> str:
    if not isinstance(text, str):
        raise C32Error(f"{what} must be a str, not {type(text).__name__}")
    digits = text.translate(_NORMALISE)
    if not digits.isascii() or _PY_DIGITS_RE.fullmatch(digits) is None:
        bad = next((c for c in text if ord(c) not in _NORMALISE), text[:1])
        raise C32Error(f"invalid c32 character {bad!r} in {what} {text!r}")
    return digits


def c32_decode(text: str) -> bytes:
    """Decode a c32 string (case-insensitive; ``O``->0, ``L``/``I``->1)."""
    digits = _normalise(text, "c32 string")
    if not digits:
        return b""
    zeros = len(digits) - len(digits.lstrip("0"))
    number = int(digits, 32)
    return b"\x00" * zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")


def _check_version(version: int) -> None:
    if isinstance(version, bool) or not isinstance(version, int):
        raise C32Error(f"c32 version must be an int, not {type(version).__name__}")
    if not 0 <= version <= _MAX_VERSION:
        raise C32Error(f"c32 version must be in 0..31, got {version}")


def c32check_checksum(version: int, data: bytes) -> bytes:
    """First 4 bytes of ``sha256(sha256(version_byte || data))``."""
    payload = bytes((version,)) + bytes(data)
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]


def c32check_encode(version: int, data: bytes) -> str:
    """``alphabet[version] + c32(data || checksum)``."""
    _check_version(version)
    data = bytes(data)
    return C32_ALPHABET[version] + c32_encode(data + c32check_checksum(version, data))


def c32check_decode(text: str) -> tuple[int, bytes]:
    """Inverse of :func:`c32check_encode`; verifies the checksum."""
    digits = _normalise(text, "c32check string")
    if len(digits) < 2:
        raise C32Error(f"c32check string too short: {text!r}")
    version = int(digits[0], 32)
    payload = c32_decode(text[1:])
    if len(payload) < 4:
        raise C32Error(f"c32check string too short: {text!r}")
    data, checksum = payload[:-4], payload[-4:]
    if c32check_checksum(version, data) != checksum:
        raise C32Error(f"bad c32check checksum in {text!r}")
    return version, data


@lru_cache(maxsize=16384)
def _c32_address_cached(version: int, hash160: bytes) -> str:
    return "S" + c32check_encode(version, hash160)


def c32_address(version: int, hash160: bytes) -> str:
    """Stacks address (``S`` + c32check) for a version (0..31) and a 20-byte hash160.

    Results are cached, so repeated principals cost a dict lookup.
    """
    _check_version(version)
    if type(hash160) is not bytes:
        hash160 = bytes(hash160)
    if len(hash160) != _HASH160_LEN:
        raise C32Error(f"hash160 must be 20 bytes, got {len(hash160)}")
    return _c32_address_cached(version, hash160)


@lru_cache(maxsize=16384)
def _c32_address_decode_cached(address: str) -> tuple[int, bytes]:
    if len(address) < 3 or address[0] not in "Ss":
        raise C32Error(f"not a Stacks address (must start with 'S'): {address!r}")
    version, data = c32check_decode(address[1:])
    if len(data) != _HASH160_LEN:
        raise C32Error(f"address hash160 must be 20 bytes, got {len(data)}: {address!r}")
    return version, data


def c32_address_decode(address: str) -> tuple[int, bytes]:
    """Parse a Stacks address into ``(version, hash160)``; verifies the checksum."""
    if not isinstance(address, str):
        raise C32Error(f"address must be a str, not {type(address).__name__}")
    return _c32_address_decode_cached(address)
