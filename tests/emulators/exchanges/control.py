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
from collections.abc import Awaitable, Callable
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


async def _ws_push(emu: ExchangeEmulator, venue: str, spec: dict[str, Any]) -> Any:
    """Send a payload to the venue's websocket connections."""
    return await emu.push_ws(venue, spec["payload"])


async def _ws_close(emu: ExchangeEmulator, venue: str, spec: dict[str, Any]) -> Any:
    """Close the venue's websocket connections with a code and reason."""
    return await emu.ws_close(venue, spec.get("code", 1000), spec.get("reason", ""))


async def _ws_drop(emu: ExchangeEmulator, venue: str, spec: dict[str, Any]) -> Any:
    """Drop the venue's websocket connections without a close handshake."""
    return await emu.ws_drop(venue)


async def _ws_silence(emu: ExchangeEmulator, venue: str, spec: dict[str, Any]) -> Any:
    """Stop (or restart) the venue's websocket traffic."""
    emu.ws_silence(venue, bool(spec.get("on", True)))
    return True


async def _ws_refuse(emu: ExchangeEmulator, venue: str, spec: dict[str, Any]) -> Any:
    """Refuse the venue's next websocket handshakes with an HTTP status."""
    return _fault_json(emu.ws_refuse(venue, spec.get("times", 1), spec.get("status", 503)))


# /_control/ws/{venue}/{action}: each action's handler.
_WS_ACTIONS: dict[str, Callable[[ExchangeEmulator, str, dict[str, Any]], Awaitable[Any]]] = {
    "push": _ws_push,
    "close": _ws_close,
    "drop": _ws_drop,
    "silence": _ws_silence,
    "refuse": _ws_refuse,
}


class _Control:
    """The /_control/ handlers of one emulator."""

    def __init__(self, emu: ExchangeEmulator) -> None:
        self.emu = emu

    def routes(self) -> list[web.RouteDef]:
        """Return the routes bound to these handlers."""
        return [
            web.get("/_control/state", self.state),
            web.get("/_control/requests", self.requests),
            web.delete("/_control/requests", self.clear_requests),
            web.post("/_control/faults", self.add_fault),
            web.delete("/_control/faults", self.clear_faults),
            web.delete("/_control/faults/{fault_id}", self.clear_faults),
            web.post("/_control/rest", self.set_rest),
            web.post("/_control/ws/{venue}/{action}", self.ws_action),
            web.post("/_control/binance/geo_block", self.geo_block),
        ]

    async def state(self, request: web.Request) -> web.Response:
        """Report the clock, connections, active faults and replay counts."""
        emu = self.emu
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

    async def requests(self, request: web.Request) -> web.Response:
        """List recorded requests, optionally those matching ?route=."""
        return web.json_response([r.to_json() for r in self.emu.requests(request.query.get("route"))])

    async def clear_requests(self, request: web.Request) -> web.Response:
        """Forget the recorded requests."""
        self.emu.log.clear()
        return web.json_response({"ok": True})

    async def add_fault(self, request: web.Request) -> web.Response:
        """Activate a fault described as JSON (the fields of faults.Fault)."""
        try:
            fault = self.emu.add_fault(Fault.from_json(await _json(request)))
        except (TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(_fault_json(fault))

    async def clear_faults(self, request: web.Request) -> web.Response:
        """Remove every fault, or the one named in the path."""
        fault_id = request.match_info.get("fault_id")
        if fault_id is None:
            self.emu.clear_faults()
            return web.json_response({"ok": True})
        return web.json_response({"ok": self.emu.faults.remove(int(fault_id))})

    async def set_rest(self, request: web.Request) -> web.Response:
        """Answer a route with a fixed JSON payload until cleared."""
        spec = await _json(request)
        fault = self.emu.set_rest(
            spec["route"], spec["payload"], status=spec.get("status", 200), query=spec.get("query")
        )
        return web.json_response(_fault_json(fault))

    async def ws_action(self, request: web.Request) -> web.Response:
        """Push, close, drop, silence or refuse a venue's websocket connections."""
        venue, action = request.match_info["venue"], request.match_info["action"]
        spec = await _json(request)
        act = _WS_ACTIONS.get(action)
        if act is None:
            return web.json_response({"error": f"unknown action {action}"}, status=404)
        try:
            result = await act(self.emu, venue, spec)
        except KeyError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"result": result})

    async def geo_block(self, request: web.Request) -> web.Response:
        """Turn Binance's 451 geo-block on or off."""
        self.emu.set_geo_block(bool((await _json(request)).get("on", True)))
        return web.json_response({"geo_block": self.emu.binance.geo_block})


def control_routes(emu: ExchangeEmulator) -> list[web.RouteDef]:
    """Return the /_control/ routes bound to one emulator."""
    return _Control(emu).routes()
