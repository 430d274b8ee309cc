"""``python -m adstack_stacks`` run as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SIGNERS_VOTING = (
    "0x0c00000006056576656e740d00000005766f746564036b6579020000002102dbfbcd3bdfa62e695dc7a3bf8a0a"
    "b37f796398712907e14a6c1298162b657e3d096e65772d746f74616c0100000000000000000000000000000005"
    "0c7265776172642d6379636c65010000000000000000000000000000000c05726f756e64010000000000000000"
    "0000000000000001067369676e6572051a31ef5ee9a226a792b93f2bfbfbc54f523eba7818"
)


def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    lib = str(REPO / "libs" / "clarity")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (lib, env.get("PYTHONPATH")) if p)
    env["PYTHONIOENCODING"] = "ascii"  # the CLI must not depend on the locale encoding
    return subprocess.run(
        [sys.executable, "-m", "adstack_stacks", *args],
        input=stdin.encode(),
        capture_output=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("text", [SIGNERS_VOTING, SIGNERS_VOTING[2:]])
def test_good_hex(text: str) -> None:
    result = run_cli(text)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    lines = result.stdout.decode("utf-8").splitlines()
    assert len(lines) == 2
    assert lines[0] == (
        '(tuple (event "voted") (key 0x02dbfbcd3bdfa62e695dc7a3bf8a0ab37f796398712907e14a6c129816'
        "2b657e3d) (new-total u5) (reward-cycle u12) (round u1) (signer "
        "'STRYYQQ9M8KAF4NS7WNZQYY59X93XEKR31JP64CP))"
    )
    assert json.loads(lines[1])["signer"] == "STRYYQQ9M8KAF4NS7WNZQYY59X93XEKR31JP64CP"
    assert " " not in lines[1]  # compact separators


def test_non_ascii_json_is_utf8() -> None:
    result = run_cli("0e00000003e282ac")  # u"€"
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("utf-8").splitlines() == ['u"\\u{e282ac}"', '"\u20ac"']


def test_stdin() -> None:
    result = run_cli("-", stdin=SIGNERS_VOTING + "\n")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("0xzz",), "invalid hex"),
        (("0x1010",), "bad type prefix 0x10 at byte 0"),
        (("0x0d000000016180",), "trailing"),
        ((), "expected exactly one"),
        (("03", "04"), "expected exactly one"),
    ],
)
def test_bad_input(args: tuple[str, ...], fragment: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 1
    assert result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]


def test_help() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert result.stdout.decode().startswith("usage: python -m adstack_stacks")
