"""Mutation fuzzer over every decoder that takes untrusted input: ``make fuzz N=…``.

Each target feeds mutated real inputs (and random ones) to a pure decoder and counts
*crashes*: any exception other than the decoder's own documented error. Crashing inputs
are written to ``tests/fuzz/crashes/`` so they can become regression tests.

    python -m tests.fuzz.fuzz --iterations 1000000 [--target clarity] [--seed 1]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from tests.helpers.paths import stacks_fixture

CRASH_DIR = Path(__file__).parent / "crashes"


@dataclass
class Target:
    name: str
    seeds: list[bytes]
    run: Callable[[bytes], object]
    expected: tuple[type[BaseException], ...]
    crashes: dict[str, bytes] = field(default_factory=dict)
    accepted: int = 0
    """Inputs the decoder took (returned a value)."""
    refused: int = 0
    """Inputs the decoder refused with its own documented error."""
    crashed: int = 0
    """Inputs that raised anything else (``crashes`` keeps one input per distinct crash)."""


def mutate(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """One to four random edits: flips, inserts, deletes, duplications, splices."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(9)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[pos:pos] = bytes([rng.randrange(256)])
        elif op == 2 and buf:
            del buf[pos : pos + rng.randint(1, 8)]
        elif op == 3 and buf:
            chunk = buf[pos : pos + rng.randint(1, 16)]
            buf[pos:pos] = chunk * rng.randint(1, 8)
        elif op == 4:
            other = rng.choice(seeds)
            start = rng.randrange(len(other) + 1)
            buf[pos:] = other[start:]
        elif op == 5 and buf:
            buf[min(pos, len(buf) - 1)] = rng.choice([0x00, 0xFF, 0x7F, 0x80, 0x0B, 0x0C])
        elif op == 6:
            buf[pos:pos] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b'"', b"{",
                                       b"[", b"-1", b"1e999", b"null", b"\\u0000",
                                       b"100000000000000000000000000000", b"-9"])
        elif op == 7 and rng.randrange(8) == 0:
            # Deep nesting (JSON arrays/objects, Clarity optionals/lists): recursion limits.
            unit = rng.choice([b"[", b'{"a":', b"\x0a", b"\x0b\x00\x00\x00\x01"])
            buf[pos:pos] = unit * rng.randint(200, 3000)
        else:
            buf = buf[:pos]
    return bytes(buf)


def clarity_target() -> Target:
    from adstack_stacks import ClarityDecodeError, decode, to_json, to_repr

    vectors = json.loads(stacks_fixture("clarity_value_vectors.json").read_text())
    seeds = [bytes.fromhex(v["hex"][2:]) for v in vectors]
    seeds += [b"\x0a" * 5000 + b"\x03", b"\x0b\xff\xff\xff\xff", b"\x0c\x00\x01\x00\x00"]

    def run(data: bytes) -> object:
        value = decode(data)
        to_repr(value)
        return to_json(value)

    return Target("clarity", seeds, run, (ClarityDecodeError,))


def protocol_target() -> Target:
    from adstack_gateway.protocol import ProtocolError, parse_command, parse_frame
    from adstack_gateway.siopacket import command_arguments

    contract = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"
    seeds = [json.dumps(f).encode() for f in [
        {"event": "subscribe", "data": {"contractId": contract, "eventTypes": ["a", "b_c"]}},
        {"event": "subscribe", "data": {"contractId": contract,
                                        "since": {"offset": 5, "epoch": "abc"}}},
        {"event": "unsubscribe", "data": {"contractId": contract}, "requestId": 1},
        {"event": "getHistory", "data": {"contractId": contract, "limit": 20}},
        {"event": "getStats", "data": {"contractId": contract}},
        {"event": "refresh", "data": {"token": "a.b.c"}},
        {"event": "subscribeBlocks"}, {"event": "ping", "requestId": "x"},
    ]]

    def run(data: bytes) -> object:
        # Native transport: raw text frames.
        text = data.decode("utf-8", errors="replace")
        try:
            event, body, request_id = parse_frame(text)
            parse_command(event, body, request_id)
        except ProtocolError:
            pass
        # Already-decoded values, as Socket.IO hands them over: the event name and the
        # arguments are whatever JSON the client sent (not necessarily a string / object).
        try:
            decoded = msgspec.json.decode(data)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            return None  # python-socketio would have rejected the packet
        if isinstance(decoded, dict):
            return parse_command(decoded.get("event"), decoded.get("data"))
        if isinstance(decoded, list) and decoded:
            return parse_command(decoded[0], *command_arguments(decoded[1:]))
        return parse_command("subscribe", decoded)

    return Target("protocol", seeds, run, (ProtocolError,))


def position_target() -> Target:
    """Positions as clients send them: an SSE ``Last-Event-ID`` header (Starlette decodes
    header bytes as Latin-1, so a raw 0xB2 is ``²``) or ``lastEventId`` query, and the
    positions the SDK reads from server frames."""
    from adstack_client.positions import parse_epoch, parse_offset
    from adstack_gateway.protocol import ProtocolError
    from adstack_gateway.sse import parse_last_event_id

    seeds = [b"abc:42", b"01HZXK3Q5J:9007199254740991", b"e:0", b"a:b:7",
             b"e:" + b"9" * 40]

    def run(data: bytes) -> object:
        for text in (data.decode("latin-1"), data.decode("utf-8", errors="replace")):
            epoch, _, offset = text.rpartition(":")
            parse_offset(offset)
            parse_epoch(epoch)
            parsed = parse_last_event_id(text)
            if parsed is not None:
                assert 0 <= parsed["offset"] < 2**53 and parsed["epoch"].isascii()
        return None

    return Target("position", seeds, run, (ProtocolError,))


def socketio_target() -> Target:
    """Socket.IO packets as a client sends them: the packet check, then the command."""
    from socketio import packet as sio_packet

    from adstack_gateway.protocol import ProtocolError, parse_command
    from adstack_gateway.siopacket import command_arguments, packet_problem

    contract = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.promo-manager"
    # Socket.IO packets as python-engineio hands them over (an Engine.IO message without
    # its "4" type prefix).
    seeds = [p.encode() for p in (
        '0{"token":"a.b.c"}', "0", "1", '2["ping"]',
        f'2["subscribe",{{"contractId":"{contract}","eventTypes":["a"],"requestId":7}}]',
        f'21["getHistory",{{"contractId":"{contract}","limit":5}}]',
        f'2["subscribe",{{"contractId":"{contract}","since":{{"offset":3,"epoch":"e"}}}}]',
        '2/admin,["ping"]', '3[]', '51-["ping",{"_placeholder":true,"num":0}]',
    )]

    def run(data: bytes) -> object:
        message = data.decode("utf-8", errors="replace")
        if packet_problem(message) is not None:
            return None  # the connection is closed with 4501
        packet = sio_packet.Packet(encoded_packet=message)
        if packet.packet_type != sio_packet.EVENT:
            return None  # CONNECT / DISCONNECT: python-socketio's own handling
        name, *args = packet.data
        return parse_command(name, *command_arguments(args))

    return Target("socketio", seeds, run, (ProtocolError,))


def observer_target() -> Target:
    from adstack_ingester.chain import encode_record
    from adstack_ingester.payloads import PAYLOAD_ERRORS, new_block_decoder
    from adstack_ingester.pipeline import block_record, contract_filter

    seeds = [stacks_fixture(name).read_bytes() for name in (
        "observer_new_block_epoch25_print_events_signers_voting.json",
        "observer_new_block_nakamoto_tenure_start.json")]
    allow = contract_filter(("*",))

    def run(data: bytes) -> object:
        # Through to the stored form (msgpack): values must fit where they are kept.
        return encode_record(block_record(new_block_decoder.decode(data), allow))

    return Target("observer", seeds, run, PAYLOAD_ERRORS)


def chainhook_target() -> Target:
    from adstack_ingester.chain import encode_record
    from adstack_ingester.chainhook import block_record, delivery_decoder
    from adstack_ingester.payloads import PAYLOAD_ERRORS
    from adstack_ingester.pipeline import contract_filter

    seeds = [stacks_fixture(name).read_bytes() for name in (
        "chainhook_predicate_print_event_http_post.json",
        "chainhook_predicate_print_event_file_append.json")]
    allow = contract_filter(("*",))

    def run(data: bytes) -> object:
        delivery = delivery_decoder.decode(data)
        return [encode_record(block_record(b, allow))
                for b in (*delivery.apply, *delivery.rollback)]

    return Target("chainhook", seeds, run, PAYLOAD_ERRORS)


def hiro_target() -> Target:
    from adstack_ingester.hiro import rpc_decoder, tx_decoder
    from adstack_ingester.payloads import PAYLOAD_ERRORS

    seeds = [stacks_fixture(name).read_bytes() for name in (
        "hiro_docs_example_v1_tx_smart_contract_with_events.json",
        "hiro_docs_example_v1_block.json")]
    seeds.append(b'{"jsonrpc":"2.0","method":"block","params":{"height":5,"hash":"0x00"}}')

    def run(data: bytes) -> object:
        try:
            return tx_decoder.decode(data)
        except PAYLOAD_ERRORS:
            return rpc_decoder.decode(data)

    return Target("hiro", seeds, run, PAYLOAD_ERRORS)


def jwt_target() -> Target:
    import jwt

    from adstack_auth import AuthError, TokenVerifier, VerifierConfig

    secret = "fuzz-secret-with-at-least-32-bytes!!"
    verifier = TokenVerifier(VerifierConfig(secret=secret, algorithms=("HS256",)))
    now = int(time.time())
    seeds = [jwt.encode(claims, secret, algorithm="HS256").encode() for claims in (
        {"userId": "u1", "exp": now + 3600},
        {"sub": "u2", "contracts": ["SP*"], "exp": now + 3600, "nbf": now - 10},
        {"userId": 5, "contracts": "a,b"},
    )]
    seeds.append(jwt.encode({"userId": "x"}, "other-secret-with-at-least-32-bytes!",
                            algorithm="HS256").encode())

    def run(data: bytes) -> object:
        return verifier.verify(data.decode("utf-8", errors="replace"))

    return Target("jwt", seeds, run, (AuthError,))


TARGETS: dict[str, Callable[[], Target]] = {
    "clarity": clarity_target,
    "protocol": protocol_target,
    "socketio": socketio_target,
    "position": position_target,
    "observer": observer_target,
    "chainhook": chainhook_target,
    "hiro": hiro_target,
    "jwt": jwt_target,
}


def fuzz(target: Target, iterations: int, rng: random.Random) -> tuple[int, float]:
    started = time.perf_counter()
    for i in range(iterations):
        if i % 10 == 9:
            data = rng.randbytes(rng.randrange(64))
        else:
            data = mutate(rng, rng.choice(target.seeds), target.seeds)
        try:
            target.run(data)
        except target.expected:
            target.refused += 1
        except RecursionError as exc:
            target.crashed += 1
            target.crashes.setdefault(f"RecursionError {exc}", data)
        except Exception as exc:
            target.crashed += 1
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            key = f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno}"
            target.crashes.setdefault(key, data)
        else:
            target.accepted += 1
    return iterations, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", "-n", type=int, default=100_000,
                        help="inputs per target")
    parser.add_argument("--target", action="append", choices=sorted(TARGETS))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    total_crashes = 0
    print(f"{'target':<10} {'inputs':>10} {'seconds':>8} {'inputs/s':>10} crashes")
    for name in args.target or sorted(TARGETS):
        target = TARGETS[name]()
        n, seconds = fuzz(target, args.iterations, random.Random(args.seed))
        print(f"{name:<10} {n:>10,} {seconds:>8.1f} {n / seconds:>10,.0f} "
              f"{len(target.crashes)}", flush=True)
        for key, data in target.crashes.items():
            CRASH_DIR.mkdir(exist_ok=True)
            digest = hashlib.sha256(data).hexdigest()[:12]
            path = CRASH_DIR / f"{name}-{digest}.bin"
            path.write_bytes(data)
            print(f"  crash: {key} -> {path}")
        total_crashes += len(target.crashes)
    print(f"total crashes: {total_crashes}")
    return 1 if total_crashes else 0


if __name__ == "__main__":
    sys.exit(main())
