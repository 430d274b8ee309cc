"""adstack_stacks: decode / encode consensus-serialised Clarity values (pure stdlib).

>>> from adstack_stacks import decode_hex, to_repr, to_json
>>> v = decode_hex("0x0c000000020362617a0906666f6f62617203")
>>> to_repr(v)
'(tuple (baz none) (foobar true))'
>>> to_json(v)
{'baz': None, 'foobar': True}
"""

from adstack_stacks.c32 import (
    c32_address,
    c32_address_decode,
    c32_decode,
    c32_encode,
    c32check_decode,
    c32check_encode,
)
from adstack_stacks.decode import (
    DEFAULT_MAX_DEPTH,
    MAX_NAME_LENGTH,
    MAX_VALUE_SIZE,
    decode,
    decode_hex,
    decode_hex_to_json,
    decode_to_json,
)
from adstack_stacks.encode import encode, encode_hex
from adstack_stacks.errors import C32Error, ClarityDecodeError, ClarityEncodeError, ClarityError
from adstack_stacks.text import JSON_SAFE_INT, to_json, to_repr
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

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "JSON_SAFE_INT",
    "MAX_NAME_LENGTH",
    "MAX_VALUE_SIZE",
    "Bool",
    "Buffer",
    "C32Error",
    "ClarityDecodeError",
    "ClarityEncodeError",
    "ClarityError",
    "ClarityValue",
    "ContractPrincipal",
    "Int",
    "List",
    "OptionalNone",
    "OptionalSome",
    "ResponseErr",
    "ResponseOk",
    "StandardPrincipal",
    "StringAscii",
    "StringUtf8",
    "Tuple",
    "UInt",
    "c32_address",
    "c32_address_decode",
    "c32_decode",
    "c32_encode",
    "c32check_decode",
    "c32check_encode",
    "decode",
    "decode_hex",
    "decode_hex_to_json",
    "decode_to_json",
    "encode",
    "encode_hex",
    "to_json",
    "to_repr",
]
