"""A local fake of the Hiro Stacks API: the JSON-RPC WebSocket and the REST shapes we use.

Shapes follow ../shared/reference/stacks-sources.md §1.1–2: ``subscribe`` with
``params.event`` (``invalidParams`` -32602 without it, ``methodNotFound`` -32601 for other
methods), ``block`` notifications carrying a v1 ``Block``, ``/extended/v1/block/by_height``,
``/extended/v1/block`` (limit ≤ 30), ``/extended/v1/tx/{id}`` with ``event_limit`` ≤ 100 and
``event_offset`` (a larger limit is HTTP 400), events renumbered per transaction, and
``canonical`` flags on blocks and transactions. Blocks come from devnet observer payloads,
so the same chain can be fed to the observer endpoint too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from adstack_localredis import free_port
from adstack_stacks import decode_hex, to_repr
from adstack_stacks.txwire import decode_tx_hex


class FakeHiro:
    def __init__(self, *, page_max: int = 100) -> None:
        self.port = free_port()
        self.page_max = page_max
        self.blocks: dict[str, dict[str, Any]] = {}  # index hash → v1 Block
        self.canonical: dict[int, str] = {}  # height → index hash
        self.txs: dict[str, dict[str, Any]] = {}
        self.sockets: set[WebSocket] = set()
        self.requests: list[str] = []
        self.bad_requests = 0
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- chain control ----------------------------------------------------------------

    def add(self, payload: dict[str, Any], *, canonical: bool = True) -> dict[str, Any]:
        """Add a devnet /new_block payload as a Hiro block (and its transactions)."""
        index_hash = payload["index_block_hash"]
        self.blocks[index_hash] = block = hiro_block(payload, canonical=canonical)
        for entry in hiro_txs(payload, canonical=canonical):
            self.txs[entry["tx_id"]] = entry
        if canonical:
            self.canonical[block["height"]] = index_hash
        return block

    def orphan(self, index_hash: str) -> None:
        """Mark a block (and its transactions) non-canonical, as after a reorg."""
        block = self.blocks[index_hash]
        block["canonical"] = False
        for txid in block["txs"]:
            self.txs[txid]["canonical"] = False
        if self.canonical.get(block["height"]) == index_hash:
            del self.canonical[block["height"]]

    async def notify(self, block: dict[str, Any]) -> None:
        frame = json.dumps({"jsonrpc": "2.0", "method": "block", "params": block})
        for ws in list(self.sockets):
            with contextlib.suppress(Exception):
                await ws.send_text(frame)

    async def disconnect_all(self) -> None:
        for ws in list(self.sockets):
            with contextlib.suppress(Exception):
                await ws.close(1011)
        self.sockets.clear()

    # -- HTTP ------------------------------------------------------------------------

    def app(self) -> Starlette:
        def limit_error(name: str, value: int, maximum: int) -> Response | None:
            if value > maximum:
                self.bad_requests += 1
                return JSONResponse({"error": f"'{name}' must be equal to or less than "
                                              f"{maximum}"}, status_code=400)
            return None

        async def by_height(request: Request) -> Response:
            self.requests.append(request.url.path)
            height = int(request.path_params["height"])
            index_hash = self.canonical.get(height)
            if index_hash is None:
                return JSONResponse({"error": "cannot find block"}, status_code=404)
            return JSONResponse(self.blocks[index_hash])

        async def block_list(request: Request) -> Response:
            limit = int(request.query_params.get("limit", 20))
            if (bad := limit_error("limit", limit, 30)) is not None:
                return bad
            heights = sorted(self.canonical, reverse=True)[:limit]
            return JSONResponse({"limit": limit, "offset": 0, "total": len(self.canonical),
                                 "results": [self.blocks[self.canonical[h]] for h in heights]})

        async def transaction(request: Request) -> Response:
            self.requests.append(request.url.path)
            tx = self.txs.get(request.path_params["tx_id"])
            if tx is None:
                return JSONResponse({"error": "not found"}, status_code=404)
            limit = int(request.query_params.get("event_limit", 20))
            offset = int(request.query_params.get("event_offset", 0))
            if (bad := limit_error("event_limit", limit, 100)) is not None:
                return bad
            page = tx["events"][offset: offset + min(limit, self.page_max)]
            return JSONResponse({**tx, "events": page})

        async def ws_rpc(ws: WebSocket) -> None:
            await ws.accept()
            self.sockets.add(ws)
            try:
                while True:
                    message = json.loads(await ws.receive_text())
                    reply: dict[str, Any] = {"jsonrpc": "2.0", "id": message.get("id")}
                    params = message.get("params") or {}
                    if message.get("method") not in ("subscribe", "unsubscribe"):
                        reply["error"] = {"code": -32601, "message": "Method not found"}
                    elif params.get("event") != "block":
                        reply["error"] = {"code": -32602, "message": "Invalid params"}
                    else:
                        reply["result"] = {}
                    if message.get("id") is not None:
                        await ws.send_text(json.dumps(reply))
            except (WebSocketDisconnect, RuntimeError):
                pass
            finally:
                self.sockets.discard(ws)

        return Starlette(routes=[
            Route("/extended/v1/block/by_height/{height:int}", by_height),
            Route("/extended/v1/block", block_list),
            Route("/extended/v1/tx/{tx_id}", transaction),
            WebSocketRoute("/extended/v1/ws", ws_rpc),
        ])

    async def __aenter__(self) -> FakeHiro:
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off", ws="websockets-sansio")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(500):
            if self._server.started:
                break
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect_all()
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            await asyncio.wait([self._task], timeout=5)


_ASSET_TYPES = {"stx": "stx_asset", "ft": "fungible_token_asset",
                "nft": "non_fungible_token_asset"}


def hiro_event(event: dict[str, Any], index: int) -> dict[str, Any]:
    """An observer event as the API's ``/extended/v1/tx/{id}`` lists it (``index``: its
    number within the transaction)."""
    kind = event["type"]
    body = event[kind]
    out: dict[str, Any] = {"event_index": index, "tx_id": event["txid"]}
    if kind == "contract_event":
        out["event_type"] = "smart_contract_log"
        out["contract_log"] = {"contract_id": body["contract_identifier"],
                               "topic": body["topic"],
                               "value": {"hex": body["raw_value"],
                                         "repr": to_repr(decode_hex(body["raw_value"]))}}
    elif kind == "stx_lock_event":
        out["event_type"] = "stx_lock"
        out["stx_lock_event"] = {"locked_amount": body["locked_amount"],
                                 "unlock_height": int(body["unlock_height"]),
                                 "locked_address": body["locked_address"]}
    else:
        family, action, _ = kind.split("_", 2)
        out["event_type"] = _ASSET_TYPES[family]
        asset: dict[str, Any] = {"asset_event_type": action,
                                 "sender": body.get("sender", ""),
                                 "recipient": body.get("recipient", "")}
        if family == "nft":
            asset["asset_id"] = body["asset_identifier"]
            asset["value"] = {"hex": body["raw_value"],
                              "repr": to_repr(decode_hex(body["raw_value"]))}
        else:
            asset["amount"] = body["amount"]
            if family == "ft":
                asset["asset_id"] = body["asset_identifier"]
        out["asset"] = asset
    return out


def hiro_block(payload: dict[str, Any], *, canonical: bool = True) -> dict[str, Any]:
    """A v1 ``Block`` for an observer ``/new_block`` payload."""
    return {"canonical": canonical, "height": payload["block_height"],
            "hash": payload["block_hash"], "index_block_hash": payload["index_block_hash"],
            "parent_block_hash": payload["parent_block_hash"],
            "burn_block_time": payload["burn_block_time"],
            "burn_block_height": payload["burn_block_height"],
            "block_time": payload.get("block_time"),
            "txs": [tx["txid"] for tx in sorted(payload["transactions"],
                                                key=lambda t: t["tx_index"])]}


def hiro_txs(payload: dict[str, Any], *, canonical: bool = True) -> list[dict[str, Any]]:
    """The block's v1 ``Transaction`` objects with all their events, as the API stores
    them: uncommitted events and the events of failed transactions are dropped, and the
    rest renumbered ``0..n-1`` per transaction in node order."""
    events_by_tx: dict[str, list[dict[str, Any]]] = {}
    for event in sorted(payload["events"], key=lambda e: e["event_index"]):
        if event.get("committed", True):
            events_by_tx.setdefault(event["txid"], []).append(event)
    out = []
    for tx in sorted(payload["transactions"], key=lambda t: t["tx_index"]):
        kept = events_by_tx.get(tx["txid"], []) if tx["status"] == "success" else []
        events = [hiro_event(event, i) for i, event in enumerate(kept)]
        entry: dict[str, Any] = {
            "tx_id": tx["txid"], "tx_status": tx["status"], "tx_type": "coinbase",
            "tx_index": tx["tx_index"],
            "block_height": payload["block_height"], "block_hash": payload["block_hash"],
            "index_block_hash": payload["index_block_hash"], "canonical": canonical,
            "microblock_canonical": True, "event_count": len(events), "events": events}
        if tx["raw_tx"] != "0x00":
            decoded = decode_tx_hex(tx["raw_tx"])
            entry["sender_address"] = decoded.sender
            entry["tx_type"] = decoded.payload_type
            if decoded.contract_id:
                entry["contract_call"] = {"contract_id": decoded.contract_id,
                                          "function_name": decoded.function_name}
        out.append(entry)
    return out
