"""A tiny WebSocket client that prints live events: ``python -m adstack_devnet.watch``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os

import websockets


async def watch(url: str, token: str | None, contracts: list[str], types: list[str] | None,
                count: int) -> int:
    if token:
        url += ("&" if "?" in url else "?") + f"token={token}"
    received = 0
    async with websockets.connect(url, compression=None) as ws:
        for contract in contracts:
            await ws.send(json.dumps({"event": "subscribe",
                                      "data": {"contractId": contract, "eventTypes": types}}))
        async for raw in ws:
            frame = json.loads(raw)
            if frame["event"] == "event":
                data = frame["data"]
                received += 1
                print(f"#{data['offset']:>5} h={data['blockHeight']} {data['type']:<20} "
                      f"{data['contractId'].split('.')[-1]:<18} {json.dumps(data['data'])}",
                      flush=True)
                if count and received >= count:
                    break
            else:
                print(f"[{frame['event']}] {json.dumps(frame.get('data'))}", flush=True)
    return received


def main() -> None:
    parser = argparse.ArgumentParser(description="Print live AdStack events from a gateway.")
    parser.add_argument("--url", default="ws://127.0.0.1:3002/ws")
    parser.add_argument("--token", default=os.environ.get("ADSTACK_TOKEN"))
    parser.add_argument("--contract", action="append", required=True)
    parser.add_argument("--type", action="append", dest="types")
    parser.add_argument("--count", type=int, default=0, help="exit after N events")
    args = parser.parse_args()
    asyncio.run(watch(args.url, args.token, args.contract, args.types, args.count))


if __name__ == "__main__":
    main()
