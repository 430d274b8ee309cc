"""``python -m adstack_stacks <hex>``: print the repr, then the compact JSON form.

``-`` reads the hex from stdin (for values too long for a command line). Errors print one
``error: …`` line to stderr and exit 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from adstack_stacks.decode import decode_hex
from adstack_stacks.errors import ClarityError
from adstack_stacks.text import to_json, to_repr

USAGE = """\
usage: python -m adstack_stacks <hex> | -

Decode a consensus-serialised Clarity value given as hex (the 0x prefix is optional;
'-' reads it from stdin). Prints the Hiro API repr on line 1 and the compact JSON form
on line 2. Exit status 0 on success; 1 with one 'error: ...' line on stderr otherwise.
"""


def _error(message: str) -> int:
    sys.stderr.write("error: " + " ".join(message.split()) + "\n")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        sys.stdout.write(USAGE)
        return 0
    if len(args) != 1:
        return _error(f"expected exactly one hex argument, got {len(args)} (see --help)")
    text = sys.stdin.read() if args[0] == "-" else args[0]
    try:
        value = decode_hex(text)
    except ClarityError as exc:
        return _error(str(exc))
    line = (
        to_repr(value)
        + "\n"
        + json.dumps(to_json(value), separators=(",", ":"), ensure_ascii=False)
        + "\n"
    )
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:  # bypass the locale encoding: JSON may hold non-ASCII text
        sys.stdout.flush()
        buffer.write(line.encode("utf-8"))
        buffer.flush()
    else:
        sys.stdout.write(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
