"""/_control/ endpoints: the fault-injection API over HTTP, for the command-line mode.

GET    /_control/state                  clock, port, connections, active faults
GET    /_control/requests[?route=/x/*]  recorded requests;  DELETE clears them
POST   /_control/faults                 {"route", "kind", "times", "status", "retry_after", ...}
DELETE /_control/faults[/{id}]          clear all faults, or one
POST   /_control/rest                   {"route", "payload", "status", "query"}: set a REST answer
POST   /_control/ws/{venue}/push        {"payload": ...}
POST   /_control/ws/{venue}/close       {"code": 1000, "reason": ""}
POST   /_control/ws/{venue}/drop
POST   /_control/ws/{venue}/silence     {"on": true}
POST   /_control/ws/{venue}/refuse      {"times": 1, "status": 503}
POST   /_control/binance/geo_block      {"on": true}
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .faults import Fault

if TYPE_CHECKING:
    from .server import ExchangeEmulator


def _fault_json(fault: Fault) -> dict[str, Any]:
    out = dataclasses.asdict(fault)
    out["body"] = fault.body.decode(errors="replace") if fault.body is not None else None
    return out


async def _json(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    body = await request.json()
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="a JSON object is expected")
    return body


def control_routes(emu: ExchangeEmulator) -> list[web.RouteDef]:
    """Return the /_control/ routes bound to one emulator."""

    async def state(request: web.Request) -> web.Response:
        """Report the clock, connections, active faults and replay counts."""
        return web.json_response(
            {
                "base_url": emu.base_url,
                "now_ms": emu.clock.now_ms(),
                "offset_ms": emu.clock.offset_ms,
                "shifted": emu.clock.shifted,
                "connections": {
                    name: len(emu.ws_connections(name))
                    for name in ("binance", "binance-legacy", "bybit", "okx")
                },
                "faults": [_fault_json(f) for f in emu.faults.faults],
                "replay": emu.replayer.sent if emu.replayer else None,
                "geo_block": emu.binance.geo_block,
            }
        )

    async def requests(request: web.Request) -> web.Response:
        """List recorded requests, optionally those matching ?route=."""
        return web.json_response([r.to_json() for r in emu.requests(request.query.get("route"))])

    async def clear_requests(request: web.Request) -> web.Response:
        """Forget the recorded requests."""
        emu.log.clear()
        return web.json_response({"ok": True})

    async def add_fault(request: web.Request) -> web.Response:
        """Activate a fault described as JSON (the fields of faults.Fault)."""
        try:
            fault = emu.add_fault(Fault.from_json(await _json(request)))
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(_fault_json(fault))

    async def clear_faults(request: web.Request) -> web.Response:
        """Remove every fault, or the one named in the path."""
        fault_id = request.match_info.get("fault_id")
        if fault_id is None:
            emu.clear_faults()
            return web.json_response({"ok": True})
        return web.json_response({"ok": emu.faults.remove(int(fault_id))})

    async def set_rest(request: web.Request) -> web.Response:
        """Answer a route with a fixed JSON payload until cleared."""
        spec = await _json(request)
        fault = emu.set_rest(
            spec["route"], spec["payload"], status=spec.get("status", 200), query=spec.get("query")
        )
        return web.json_response(_fault_json(fault))

    async def ws_action(request: web.Request) -> web.Response:
        """Push, close, drop, silence or refuse a venue's websocket connections."""
        venue, action = request.match_info["venue"], request.match_info["action"]
        spec = await _json(request)
        try:
            if action == "push":
                result: Any = await emu.push_ws(venue, spec["payload"])
            elif action == "close":
                result = await emu.ws_close(venue, spec.get("code", 1000), spec.get("reason", ""))
            elif action == "drop":
                result = await emu.ws_drop(venue)
            elif action == "silence":
                emu.ws_silence(venue, bool(spec.get("on", True)))
                result = True
            elif action == "refuse":
                result = _fault_json(emu.ws_refuse(venue, spec.get("times", 1), spec.get("status", 503)))
            else:
                return web.json_response({"error": f"unknown action {action}"}, status=404)
        except KeyError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"result": result})

    async def geo_block(request: web.Request) -> web.Response:
        """Turn Binance's 451 geo-block on or off."""
        emu.set_geo_block(bool((await _json(request)).get("on", True)))
        return web.json_response({"geo_block": emu.binance.geo_block})

    return [
        web.get("/_control/state", state),
        web.get("/_control/requests", requests),
        web.delete("/_control/requests", clear_requests),
        web.post("/_control/faults", add_fault),
        web.delete("/_control/faults", clear_faults),
        web.delete("/_control/faults/{fault_id}", clear_faults),
        web.post("/_control/rest", set_rest),
        web.post("/_control/ws/{venue}/{action}", ws_action),
        web.post("/_control/binance/geo_block", geo_block),
    ]
