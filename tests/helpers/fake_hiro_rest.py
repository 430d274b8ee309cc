"""A small stand-in for the Hiro Stacks API's REST endpoints that history backfill uses (gateway).

It serves a contract's print events (``/extended/v1/contract/{id}/events``, newest first,
``limit`` at most 50 or HTTP 400, as the real API), transactions
(``/extended/v1/tx/{tx_id}``) and blocks (``/extended/v1/block/{hash}``), on a real port.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from adstack_stacks import StringAscii, Tuple, UInt, encode_hex


class FakeHiro:
    """Serves ``chain``: a contract's transactions, each with print (and other) events."""

    def __init__(self) -> None:
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.txs: dict[str, dict[str, Any]] = {}
        self.blocks: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []
        self.fail = False
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                status, body = owner.route(self.path)
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *_args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeHiro:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def add_tx(self, contract: str, txid: str, height: int, prints: dict[int, int],
               event_count: int) -> None:
        """A transaction in its own block at ``height``; ``prints`` maps the event's
        per-transaction index to the ``n`` its print carries (other indexes are STX
        transfers)."""
        block_hash = f"0x{height:064x}"
        self.blocks[block_hash] = {"hash": block_hash, "height": height,
                                   "index_block_hash": index_block_hash(height)}
        self.txs[txid] = {"tx_id": txid, "tx_status": "success", "block_hash": block_hash,
                          "block_height": height, "burn_block_time": 1_700_000_000 + height,
                          "canonical": True}
        listing = self.events.setdefault(contract, [])
        for index in range(event_count):
            if index in prints:
                hex_value = encode_hex(Tuple({"event": StringAscii("spend-recorded"),
                                              "n": UInt(prints[index])}))
                listing.append({"event_index": index, "event_type": "smart_contract_log",
                                "tx_id": txid, "contract_log": {
                                    "contract_id": contract, "topic": "print",
                                    "value": {"hex": hex_value, "repr": "…"}}})
        # Newest first: by block height, then event index, descending.
        listing.sort(key=lambda e: (self.txs[e["tx_id"]]["block_height"], e["event_index"]),
                     reverse=True)

    def route(self, path: str) -> tuple[int, Any]:
        if self.fail:
            return 500, {"error": "down"}
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if m := re.fullmatch(r"/extended/v1/contract/([^/]+)/events", parts.path):
            limit, offset = int(query.get("limit", 20)), int(query.get("offset", 0))
            if limit > 50:
                return 400, {"error": "'limit' must be equal to or less than 50"}
            listing = self.events.get(unquote(m.group(1)), [])
            return 200, {"limit": limit, "offset": offset,
                         "results": listing[offset:offset + limit]}
        if m := re.fullmatch(r"/extended/v1/tx/(0x[0-9a-f]+)", parts.path):
            tx = self.txs.get(m.group(1))
            return (200, tx) if tx else (404, {"error": "not found"})
        if m := re.fullmatch(r"/extended/v1/block/(0x[0-9a-f]+)", parts.path):
            block = self.blocks.get(m.group(1))
            return (200, block) if block else (404, {"error": "not found"})
        return 404, {"error": "no route"}


def index_block_hash(height: int) -> str:
    return f"0x{height + 0xABC000:064x}"
