"""OKX v5: the public websocket (liquidation-orders), liquidation-orders and instruments REST."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from .context import Context, json_response
from .data import OkxLiquidation
from .ws import WsConn, WsVenue

INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")
LIQ_INST_TYPES = ("MARGIN", "SWAP", "FUTURES", "OPTION")
# ctVal/ctMult/ctValCcy are the values named in the reference (verify at runtime on the real API).
# tickSz and lotSz are what the recorded excerpt's prices and sizes show (86160.3, 2742.77; 0.03, 3.01).
SWAP_INSTRUMENTS: list[dict[str, str]] = [
    {
        "instType": "SWAP",
        "instId": f"{base}-USDT-SWAP",
        "uly": f"{base}-USDT",
        "instFamily": f"{base}-USDT",
        "baseCcy": "",
        "quoteCcy": "",
        "settleCcy": "USDT",
        "ctVal": ct_val,
        "ctMult": "1",
        "ctValCcy": base,
        "ctType": "linear",
        "alias": "",
        "expTime": "",
        "state": "live",
        "tickSz": tick,
        "lotSz": "0.01",
        "minSz": "0.01",
    }
    for base, ct_val, tick in (("BTC", "0.01", "0.1"), ("ETH", "0.1", "0.01"))
]


def okx_response(data: list[Any], code: str = "0", msg: str = "", status: int = 200) -> web.Response:
    """Return OKX's REST envelope {"code","msg","data"}."""
    return json_response({"code": code, "msg": msg, "data": data}, status=status)


def _order_side(pos_side: str) -> str:
    # A forced order closes the position: a long is closed by a sell, a short by a buy.
    return "sell" if pos_side == "long" else "buy"


def _detail(liq: OkxLiquidation, ts_ms: int) -> dict[str, str]:
    # bkLoss was not recorded: "0", as in the live captured frame. ccy is for MARGIN only.
    return {
        "bkLoss": "0",
        "bkPx": liq.bk_px,
        "ccy": "",
        "posSide": liq.pos_side,
        "side": _order_side(liq.pos_side),
        "sz": liq.sz,
        "ts": str(ts_ms),
    }


class OkxVenue:
    """OKX v5 public data on one emulated host."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.ws = WsVenue("okx", ctx.config.okx_ws)

    def routes(self) -> list[web.RouteDef]:
        """Return the HTTP and websocket routes of OKX v5."""
        return [
            web.get("/api/v5/public/liquidation-orders", self.liquidation_orders),
            web.get("/api/v5/public/instruments", self.instruments),
            web.get("/ws/v5/public", self.ws_public),
        ]

    def _event_offset(self) -> int:
        return self.ctx.clock.event_offset(self.ctx.data.okx_liquidations[-1].ts_ms)

    def _visible(self, served_ms: int) -> bool:
        # The excerpt was recorded on another date than the January series: unshifted, all of it is
        # served as recorded; shifted, it ends at the anchor and nothing lies after "now".
        return not self.ctx.clock.shifted or served_ms <= self.ctx.clock.now_ms()

    # -- REST ------------------------------------------------------------------------------------------
    async def instruments(self, request: web.Request) -> web.Response:
        """GET /api/v5/public/instruments?instType=SWAP[&instId=]: BTC- and ETH-USDT-SWAP."""
        inst_type = request.query.get("instType", "")
        if not inst_type:
            return okx_response([], "50014", "Parameter instType can not be empty.", 400)
        if inst_type not in INST_TYPES:
            return okx_response([], "51000", "Parameter instType error", 400)
        items = SWAP_INSTRUMENTS if inst_type == "SWAP" else []
        inst_id = request.query.get("instId")
        return okx_response([i for i in items if inst_id is None or i["instId"] == inst_id])

    async def liquidation_orders(self, request: web.Request) -> web.Response:
        """GET /api/v5/public/liquidation-orders from the recorded BTC/ETH excerpt, newest first.

        Parameters as OKX's clients send them: instType (required), uly or instFamily (required for
        SWAP), state (filled; nothing unfilled was recorded), after (records older than ts), before
        (newer than ts), limit (1..100, default 100). Errors are HTTP 400 with OKX's codes [the exact
        texts are unverified].
        """
        q = request.query
        inst_type = q.get("instType", "")
        if not inst_type:
            return okx_response([], "50014", "Parameter instType can not be empty.", 400)
        if inst_type not in LIQ_INST_TYPES:
            return okx_response([], "51000", "Parameter instType error", 400)
        family = q.get("instFamily") or q.get("uly")
        if inst_type in ("SWAP", "FUTURES", "OPTION") and not family:
            return okx_response([], "50014", "Parameter instFamily can not be empty.", 400)
        try:
            limit = int(q.get("limit", "100"))
            after = int(q["after"]) if q.get("after") else None
            before = int(q["before"]) if q.get("before") else None
        except ValueError:
            return okx_response([], "51000", "Parameter limit error", 400)
        if not 1 <= limit <= 100:
            return okx_response([], "51000", "Parameter limit error", 400)
        if inst_type != "SWAP" or q.get("state", "filled") != "filled":
            return okx_response([])
        offset = self._event_offset()
        picked = [
            (liq, liq.ts_ms + offset)
            for liq in reversed(self.ctx.data.okx_liquidations)
            if liq.uly == family
            and self._visible(liq.ts_ms + offset)
            and (after is None or liq.ts_ms + offset < after)
            and (before is None or liq.ts_ms + offset > before)
        ][:limit]
        if not picked:
            return okx_response([])
        return okx_response(
            [
                {
                    "details": [_detail(liq, ts) for liq, ts in picked],
                    "instFamily": family,
                    "instId": f"{family}-SWAP",
                    "instType": "SWAP",
                    "totalLoss": "0",
                    "uly": family,
                }
            ]
        )

    # -- websocket ---------------------------------------------------------------------------------------
    async def ws_public(self, request: web.Request) -> web.StreamResponse:
        """Serve wss://ws.okx.com:8443/ws/v5/public."""
        return await self.ws.serve(request, "public", self._on_text)

    async def _on_text(self, conn: WsConn, text: str) -> None:
        if text == "ping":
            # OKX's keep-alive is the plain text "ping", answered by the plain text "pong".
            await self.ws.send(conn, "pong")
            return
        try:
            message = json.loads(text)
            op, args = message["op"], message.get("args", [])
        except (ValueError, KeyError, TypeError):
            op, args = None, []
        if op not in ("subscribe", "unsubscribe"):
            error = {
                "event": "error",
                "code": "60012",
                "msg": f"Invalid request: {text}",
                "connId": conn.conn_id,
            }
            await self.ws.send(conn, error)
            return
        for arg in args:
            channel, inst_type = arg.get("channel"), arg.get("instType")
            if channel != "liquidation-orders" or inst_type not in LIQ_INST_TYPES:
                await self.ws.send(
                    conn,
                    {
                        "event": "error",
                        "code": "60018",
                        "msg": f"Wrong URL or channel:{channel},instType:{inst_type} doesn't exist. "
                        "Please use the correct URL, channel and parameters referring to API document.",
                        "connId": conn.conn_id,
                    },
                )
                continue
            key = f"{channel}:{inst_type}"
            if op == "subscribe":
                conn.subscriptions.add(key)
            else:
                conn.subscriptions.discard(key)
            reply: dict[str, Any] = {"id": message["id"]} if "id" in message else {}
            reply.update(
                {"event": op, "arg": {"channel": channel, "instType": inst_type}, "connId": conn.conn_id}
            )
            await self.ws.send(conn, reply)

    async def push(self, frame: Any) -> int:
        """Push a liquidation-orders frame to connections subscribed to its channel and instType."""
        if isinstance(frame, str):
            return await self.ws.broadcast(lambda conn: frame)
        arg = frame.get("arg", {})
        key = f"{arg.get('channel')}:{arg.get('instType')}"
        return await self.ws.broadcast(lambda conn: frame if key in conn.subscriptions else None)

    def replay_frames(self) -> Iterator[dict[str, Any]]:
        """Yield liquidation-orders frames forever: the recorded excerpt, then the live captured frame.

        Excerpt records of the same second and instrument share one frame's `details`, as OKX groups
        them. Timestamps are the recorded ones, or now when the clock is shifted.
        """
        groups = [
            list(g)
            for _, g in itertools.groupby(self.ctx.data.okx_liquidations, key=lambda r: (r.ts_ms, r.uly))
        ]
        live = self.ctx.data.live_frames["okx"]
        while True:
            for group in groups:
                ts = self.ctx.clock.now_ms() if self.ctx.clock.shifted else group[0].ts_ms
                uly = group[0].uly
                yield {
                    "arg": {"channel": "liquidation-orders", "instType": "SWAP"},
                    "data": [
                        {
                            "details": [_detail(liq, ts) for liq in group],
                            "instFamily": uly,
                            "instId": f"{uly}-SWAP",
                            "instType": "SWAP",
                            "uly": uly,
                        }
                    ],
                }
            for recorded in live:
                frame = copy.deepcopy(recorded)
                if self.ctx.clock.shifted:
                    for item in frame["data"]:
                        for detail in item["details"]:
                            detail["ts"] = str(self.ctx.clock.now_ms())
                yield frame
