"""Stacks transaction wire format (SIP-005): a pure decoder, and an encoder for tests/devnet.

Decoding reads the fields the ``transaction`` feed needs: version (mainnet/testnet), the
authorization (standard or sponsored; single-sig or multi-sig spending conditions, including
the non-sequential multi-sig modes), anchor mode, post-condition mode, post-conditions (STX,
FT, NFT; skipped), and the payload type; for a contract call also the contract, function and
arguments. The sender address is the origin condition's hash160 with an address version
from its hash mode and the transaction version (P2PKH → single-sig version, every other mode
→ multi-sig version, as stacks-core's ``address_mainnet`` / ``address_testnet``). The txid
is SHA512/256 of the raw bytes. Every failure is a :class:`TxDecodeError` with the offset.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import msgspec

from adstack_stacks import (
    ClarityDecodeError,
    ClarityValue,
    c32_address,
    c32_address_decode,
    decode_to_json,
    encode,
)

MAINNET = 0x00
TESTNET = 0x80

AUTH_STANDARD = 0x04
AUTH_SPONSORED = 0x05

P2PKH, P2SH, P2WPKH, P2WSH = 0x00, 0x01, 0x02, 0x03
P2SH_NON_SEQUENTIAL, P2WSH_NON_SEQUENTIAL = 0x05, 0x07
_SINGLESIG = (P2PKH, P2WPKH)
_MULTISIG = (P2SH, P2WSH, P2SH_NON_SEQUENTIAL, P2WSH_NON_SEQUENTIAL)

# address versions (c32): mainnet single/multi, testnet single/multi
_VERSIONS = {(True, True): 22, (True, False): 20, (False, True): 26, (False, False): 21}

PAYLOAD_TYPES = {
    0x00: "token_transfer",
    0x01: "smart_contract",
    0x02: "contract_call",
    0x03: "poison_microblock",
    0x04: "coinbase",
    0x05: "coinbase_to_alt_recipient",
    0x06: "versioned_smart_contract",
    0x07: "tenure_change",
    0x08: "nakamoto_coinbase",
}
CONTRACT_CALL = 0x02

_u16 = struct.Struct(">H").unpack_from
_u32 = struct.Struct(">I").unpack_from
_u64 = struct.Struct(">Q").unpack_from


class TxDecodeError(ValueError):
    """The bytes are not a well-formed Stacks transaction."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"{reason} at byte {offset}")
        self.reason = reason
        self.offset = offset


class DecodedTx(msgspec.Struct, frozen=True, kw_only=True):
    """What the feeds need from a transaction."""

    txid: str
    mainnet: bool
    chain_id: int
    sender: str
    sponsor: str | None
    nonce: int
    fee: int
    payload_type: str
    contract_id: str | None = None
    function_name: str | None = None
    function_args: list[Any] | None = None


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def need(self, n: int, what: str) -> int:
        start = self.pos
        if start + n > len(self.buf):
            raise TxDecodeError(f"truncated {what}: need {n} bytes", start)
        self.pos = start + n
        return start

    def u8(self, what: str) -> int:
        return self.buf[self.need(1, what)]

    def u16(self, what: str) -> int:
        return int(_u16(self.buf, self.need(2, what))[0])

    def u32(self, what: str) -> int:
        return int(_u32(self.buf, self.need(4, what))[0])

    def u64(self, what: str) -> int:
        return int(_u64(self.buf, self.need(8, what))[0])

    def take(self, n: int, what: str) -> bytes:
        start = self.need(n, what)
        return self.buf[start : start + n]

    def name(self, what: str) -> str:
        length = self.u8(what)
        raw = self.take(length, what)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise TxDecodeError(f"{what} is not ASCII", self.pos - length) from None

    def clarity(self, what: str) -> bytes:
        """The raw bytes of one serialised Clarity value (skipped structurally)."""
        start = self.pos
        self._skip_value(what, 0)
        return self.buf[start : self.pos]

    def _skip_value(self, what: str, depth: int) -> None:
        if depth > 64:
            raise TxDecodeError(f"{what}: value nested too deeply", self.pos)
        t = self.u8(what)
        if t in (0x00, 0x01):
            self.need(16, what)
        elif t in (0x02, 0x0D, 0x0E):
            self.need(self.u32(what), what)
        elif t in (0x03, 0x04, 0x09):
            pass
        elif t == 0x05:
            self.need(21, what)
        elif t == 0x06:
            self.need(21, what)
            self.need(self.u8(what), what)
        elif t in (0x07, 0x08, 0x0A):
            self._skip_value(what, depth + 1)
        elif t == 0x0B:
            for _ in range(self.u32(what)):
                self._skip_value(what, depth + 1)
        elif t == 0x0C:
            for _ in range(self.u32(what)):
                self.need(self.u8(what), what)
                self._skip_value(what, depth + 1)
        else:
            raise TxDecodeError(f"{what}: bad Clarity type prefix 0x{t:02x}", self.pos - 1)


def _address(version: int, hash160: bytes) -> str:
    return c32_address(version, hash160)


def _spending_condition(r: _Reader, mainnet: bool) -> tuple[str, int, int]:
    """(address, nonce, fee) of one spending condition."""
    mode_at = r.pos
    mode = r.u8("hash mode")
    signer = r.take(20, "signer hash160")
    nonce = r.u64("nonce")
    fee = r.u64("fee")
    if mode in _SINGLESIG:
        r.u8("key encoding")
        r.need(65, "signature")
    elif mode in _MULTISIG:
        for _ in range(r.u32("auth field count")):
            kind = r.u8("auth field type")
            if kind in (0x00, 0x01):
                r.need(33, "public key")
            elif kind in (0x02, 0x03):
                r.need(65, "signature")
            else:
                raise TxDecodeError(f"bad auth field type 0x{kind:02x}", r.pos - 1)
        r.u16("signatures required")
    else:
        raise TxDecodeError(f"bad hash mode 0x{mode:02x}", mode_at)
    version = _VERSIONS[(mainnet, mode == P2PKH)]
    return _address(version, signer), nonce, fee


def _post_condition_principal(r: _Reader) -> None:
    kind = r.u8("post-condition principal")
    if kind == 0x01:
        return
    if kind == 0x02:
        r.need(21, "principal")
    elif kind == 0x03:
        r.need(21, "principal")
        r.name("contract name")
    else:
        raise TxDecodeError(f"bad post-condition principal 0x{kind:02x}", r.pos - 1)


def _asset_info(r: _Reader) -> None:
    r.need(21, "asset address")
    r.name("asset contract name")
    r.name("asset name")


def _post_conditions(r: _Reader) -> int:
    count = r.u32("post-condition count")
    for _ in range(count):
        kind = r.u8("post-condition type")
        _post_condition_principal(r)
        if kind == 0x00:
            r.u8("condition code")
            r.u64("amount")
        elif kind == 0x01:
            _asset_info(r)
            r.u8("condition code")
            r.u64("amount")
        elif kind == 0x02:
            _asset_info(r)
            r.clarity("asset value")
            r.u8("condition code")
        else:
            raise TxDecodeError(f"bad post-condition type 0x{kind:02x}", r.pos - 1)
    return count


def txid_of(raw: bytes) -> str:
    """The transaction id: SHA512/256 of the serialised transaction, ``0x``-hex."""
    return "0x" + hashlib.new("sha512_256", raw).hexdigest()


# Standard single-sig authorization: version, chain id, auth type, hash mode, signer,
# nonce, fee, key encoding, signature; then anchor mode, post-condition mode, count.
_SINGLESIG_END = 1 + 4 + 1 + 1 + 20 + 8 + 8 + 1 + 65
_PAYLOAD_AT = _SINGLESIG_END + 1 + 1 + 4


def _fast_call(raw: bytes, txid: str | None) -> DecodedTx | None:
    """The common case (standard single-sig, no post-conditions, contract call) without
    the general reader; None when the layout is anything else."""
    n = len(raw)
    if n < _PAYLOAD_AT + 23 or raw[5] != AUTH_STANDARD or raw[6] not in _SINGLESIG:
        return None
    if raw[_SINGLESIG_END + 2 : _PAYLOAD_AT] != b"\x00\x00\x00\x00":
        return None
    version = raw[0]
    if version not in (MAINNET, TESTNET) or raw[_PAYLOAD_AT] != CONTRACT_CALL:
        return None
    p = _PAYLOAD_AT + 1
    address_version = raw[p]
    name_len = raw[p + 21]
    q = p + 22 + name_len
    if address_version > 31 or q >= n:
        return None
    function_len = raw[q]
    if q + 1 + function_len > n:
        return None
    try:
        contract = raw[p + 22 : q].decode("ascii")
        function = raw[q + 1 : q + 1 + function_len].decode("ascii")
    except UnicodeDecodeError:
        return None
    mainnet = version == MAINNET
    sender = _address(_VERSIONS[(mainnet, raw[6] == P2PKH)], raw[7:27])
    return DecodedTx(
        txid=txid or txid_of(raw), mainnet=mainnet, chain_id=int(_u32(raw, 1)[0]),
        sender=sender, sponsor=None, nonce=int(_u64(raw, 27)[0]), fee=int(_u64(raw, 35)[0]),
        payload_type="contract_call",
        contract_id=f"{_address(address_version, raw[p + 1 : p + 21])}.{contract}",
        function_name=function)


def decode_tx(raw: bytes, *, decode_args: bool = True, txid: str | None = None) -> DecodedTx:
    """Decode a serialised transaction (see the module doc).

    ``txid``, when the caller knows it, saves hashing the bytes. Without ``decode_args``
    the contract-call arguments are not read (nor checked).

    Raises:
        TxDecodeError: malformed bytes (or a malformed contract-call argument).
    """
    if not decode_args:
        fast = _fast_call(raw, txid)
        if fast is not None:
            return fast
    r = _Reader(raw)
    version = r.u8("version")
    if version not in (MAINNET, TESTNET):
        raise TxDecodeError(f"bad transaction version 0x{version:02x}", 0)
    mainnet = version == MAINNET
    chain_id = r.u32("chain id")
    auth = r.u8("auth type")
    if auth not in (AUTH_STANDARD, AUTH_SPONSORED):
        raise TxDecodeError(f"bad auth type 0x{auth:02x}", r.pos - 1)
    sender, nonce, fee = _spending_condition(r, mainnet)
    sponsor = None
    if auth == AUTH_SPONSORED:
        sponsor, _nonce, fee = _spending_condition(r, mainnet)
    r.u8("anchor mode")
    r.u8("post-condition mode")
    _post_conditions(r)
    ptype_at = r.pos
    ptype = r.u8("payload type")
    if ptype not in PAYLOAD_TYPES:
        raise TxDecodeError(f"bad payload type 0x{ptype:02x}", ptype_at)
    fields: dict[str, Any] = {}
    if ptype == CONTRACT_CALL:
        address_version = r.u8("contract address version")
        address_hash = r.take(20, "contract address")
        if address_version > 31:
            raise TxDecodeError("bad contract address version", r.pos - 21)
        contract = r.name("contract name")
        function = r.name("function name")
        raw_args = [r.clarity("function argument") for _ in range(r.u32("argument count"))]
        fields["contract_id"] = f"{_address(address_version, address_hash)}.{contract}"
        fields["function_name"] = function
        if decode_args:
            try:
                fields["function_args"] = [decode_to_json(a) for a in raw_args]
            except ClarityDecodeError as exc:
                raise TxDecodeError(f"bad function argument: {exc}", r.pos) from exc
        if r.pos != len(raw):
            raise TxDecodeError(f"{len(raw) - r.pos} trailing bytes", r.pos)
    return DecodedTx(txid=txid or txid_of(raw), mainnet=mainnet, chain_id=chain_id,
                     sender=sender,
                     sponsor=sponsor, nonce=nonce, fee=fee, payload_type=PAYLOAD_TYPES[ptype],
                     **fields)


def decode_tx_hex(text: str, *, decode_args: bool = True,
                  txid: str | None = None) -> DecodedTx:
    """:func:`decode_tx` for ``0x``-hex."""
    s = text[2:] if text[:2] in ("0x", "0X") else text
    try:
        raw = bytes.fromhex(s)
    except ValueError:
        raise TxDecodeError("invalid hex", 0) from None
    return decode_tx(raw, decode_args=decode_args, txid=txid)


def encode_tx(sender: str, payload: bytes, *, nonce: int = 0, fee: int = 0,
              chain_id: int | None = None, signature: bytes = b"\x00" * 65) -> bytes:
    """A standard single-sig (P2PKH) transaction around ``payload`` (type byte included)."""
    version, signer = c32_address_decode(sender)
    mainnet = version in (22, 20)
    if chain_id is None:
        chain_id = 0x00000001 if mainnet else 0x80000000
    out = bytearray()
    out.append(MAINNET if mainnet else TESTNET)
    out += chain_id.to_bytes(4, "big")
    out.append(AUTH_STANDARD)
    out.append(P2PKH)
    out += signer
    out += nonce.to_bytes(8, "big") + fee.to_bytes(8, "big")
    out.append(0x00)  # compressed key encoding
    out += signature
    out.append(0x03)  # anchor mode: any
    out.append(0x02)  # post-condition mode: deny
    out += (0).to_bytes(4, "big")
    out += payload
    return bytes(out)


def encode_contract_call(
    *,
    sender: str,
    contract_id: str,
    function_name: str,
    args: list[ClarityValue],
    nonce: int = 0,
    fee: int = 200,
    chain_id: int | None = None,
    signature: bytes = b"\x00" * 65,
) -> bytes:
    """A standard single-sig (P2PKH) contract-call transaction (for the devnet and tests).

    The signature is not a real one (the devnet has no keys); everything else is the real
    wire format, and :func:`decode_tx` reads it back.
    """
    address, _, contract = contract_id.partition(".")
    cversion, chash = c32_address_decode(address)
    out = bytearray([CONTRACT_CALL, cversion])
    out += chash
    out.append(len(contract))
    out += contract.encode()
    out.append(len(function_name))
    out += function_name.encode()
    out += len(args).to_bytes(4, "big")
    for arg in args:
        out += encode(arg)
    return encode_tx(sender, bytes(out), nonce=nonce, fee=fee, chain_id=chain_id,
                      signature=signature)


def encode_token_transfer(*, sender: str, recipient: str, amount: int, memo: bytes = b"",
                          nonce: int = 0, fee: int = 180, chain_id: int | None = None,
                          signature: bytes = b"\x00" * 65) -> bytes:
    """An STX transfer to a standard principal (payload type 0x00; 34-byte memo)."""
    version, hash160 = c32_address_decode(recipient)
    payload = bytes([0x00, 0x05, version]) + hash160 + amount.to_bytes(8, "big") \
        + memo[:34].ljust(34, b"\x00")
    return encode_tx(sender, payload, nonce=nonce, fee=fee, chain_id=chain_id,
                      signature=signature)


def encode_smart_contract(*, sender: str, name: str, code: str, nonce: int = 0,
                          fee: int = 5000, chain_id: int | None = None,
                          signature: bytes = b"\x00" * 65) -> bytes:
    """A contract deploy (payload type 0x01: name, then the code body)."""
    body = code.encode()
    payload = bytes([0x01, len(name)]) + name.encode() + len(body).to_bytes(4, "big") + body
    return encode_tx(sender, payload, nonce=nonce, fee=fee, chain_id=chain_id,
                      signature=signature)


def encode_coinbase(*, sender: str, nonce: int = 0, payload: bytes = b"",
                    chain_id: int | None = None, signature: bytes = b"\x00" * 65) -> bytes:
    """A coinbase (payload type 0x04: 32 bytes), as a block's first transaction."""
    return encode_tx(sender, bytes([0x04]) + payload[:32].ljust(32, b"\x00"), nonce=nonce,
                      fee=0, chain_id=chain_id, signature=signature)
