"""Control API under /_control (outside /api/v10): drive the emulator from another process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from .driver import InteractionTimeout
from .rest import json_response

if TYPE_CHECKING:
    from .server import DiscordEmulator


def _int_or_none(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


class ControlApi:
    """Handlers for /_control/*; errors come back as {"error": "..."} with status 400/404/504."""

    def __init__(self, emu: DiscordEmulator) -> None:
        self.emu = emu

    def routes(self) -> list[web.RouteDef]:
        """Return the aiohttp routes this class serves."""
        return [
            web.get("/_control/state", self.state),
            web.post("/_control/slash", self.slash),
            web.post("/_control/autocomplete", self.autocomplete),
            web.post("/_control/click", self.click),
            web.get("/_control/messages", self.messages),
            web.post("/_control/fault", self.fault),
            web.post("/_control/gateway", self.gateway),
            web.get("/_control/stats", self.stats),
            web.post("/_control/permissions", self.permissions),
        ]

    async def _json(self, request: web.Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except ValueError as exc:
            raise web.HTTPBadRequest(text=f"invalid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="expected a JSON object")
        return data

    async def state(self, request: web.Request) -> web.Response:
        """GET: guilds, channels, synced commands and gateway sessions."""
        world = self.emu.world
        return json_response(
            {
                "rest_base": self.emu.api_base,
                "gateway_url": self.emu.gateway_url,
                "guilds": [
                    {
                        "id": str(g.id),
                        "name": g.name,
                        "channels": [
                            {"id": str(c.id), "name": c.name, "deleted": c.deleted}
                            for c in world.guild_channels(g.id)
                        ],
                        "members": [{"id": str(m.user.id), "username": m.user.username} for m in g.members],
                    }
                    for g in world.guilds.values()
                ],
                "commands": {str(k): [c["name"] for c in v] for k, v in world.commands.items()},
                "sessions": len([s for s in self.emu.gateway.sessions.values() if s.conn is not None]),
            }
        )

    async def permissions(self, request: web.Request) -> web.Response:
        """POST {channel_id, target_id, allow?, deny?, member?} sets an overwrite;
        {guild_id, role_id, permissions} a role's permissions ("bot" as role_id: the bot's role).
        """
        data = await self._json(request)
        try:
            if "channel_id" in data:
                self.emu.set_overwrite(
                    int(data["channel_id"]),
                    int(data["target_id"]),
                    allow=int(data.get("allow") or 0),
                    deny=int(data.get("deny") or 0),
                    member=bool(data.get("member", False)),
                )
            elif data.get("role_id") == "bot":
                self.emu.set_bot_permissions(int(data["guild_id"]), int(data["permissions"]))
            else:
                self.emu.set_role_permissions(
                    int(data["guild_id"]), int(data["role_id"]), int(data["permissions"])
                )
        except (KeyError, TypeError, ValueError, LookupError) as exc:
            return json_response({"error": f"bad permissions request: {exc!r}"}, 400)
        return json_response({"ok": True})

    async def slash(self, request: web.Request) -> web.Response:
        """POST {name, options, guild_id?, channel_id?, user_id?, permissions?, timeout?}: the reply."""
        data = await self._json(request)
        try:
            reply = await self.emu.slash(
                data["name"],
                data.get("options") or {},
                guild_id=_int_or_none(data.get("guild_id")),
                channel_id=_int_or_none(data.get("channel_id")),
                user_id=_int_or_none(data.get("user_id")),
                permissions=data.get("permissions"),
                timeout=float(data.get("timeout", 10.0)),
            )
        except InteractionTimeout as exc:
            return json_response({"error": str(exc)}, 504)
        except (LookupError, ValueError, PermissionError) as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response(reply.to_dict())

    async def autocomplete(self, request: web.Request) -> web.Response:
        """POST {name, options, focused, ...}: {"choices": [...]}."""
        data = await self._json(request)
        try:
            choices = await self.emu.autocomplete(
                data["name"],
                data.get("options") or {},
                data["focused"],
                guild_id=_int_or_none(data.get("guild_id")),
                channel_id=_int_or_none(data.get("channel_id")),
                user_id=_int_or_none(data.get("user_id")),
            )
        except InteractionTimeout as exc:
            return json_response({"error": str(exc)}, 504)
        except (LookupError, ValueError) as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response({"choices": choices})

    async def click(self, request: web.Request) -> web.Response:
        """POST {message_id, custom_id, user_id?, values?}: the reply."""
        data = await self._json(request)
        try:
            reply = await self.emu.click(
                int(data["message_id"]),
                data["custom_id"],
                user_id=_int_or_none(data.get("user_id")),
                values=data.get("values"),
            )
        except InteractionTimeout as exc:
            return json_response({"error": str(exc)}, 504)
        except (LookupError, ValueError, PermissionError) as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response(reply.to_dict())

    async def messages(self, request: web.Request) -> web.Response:
        """GET ?channel_id=...: the channel's messages as Discord payloads."""
        channel_id = int(request.query.get("channel_id", "0"))
        return json_response([m.payload for m in self.emu.messages_in(channel_id)])

    async def fault(self, request: web.Request) -> web.Response:
        """POST {method, path, status?, times?, code?, retry_after?, global?, scope?, delay?}: a fault."""
        data = await self._json(request)
        if data.get("delay") and not data.get("status"):
            self.emu.delay_next(
                data["method"], data["path"], float(data["delay"]), times=int(data.get("times", 1))
            )
        else:
            self.emu.fail_next(
                data["method"],
                data["path"],
                int(data["status"]),
                times=int(data.get("times", 1)),
                code=_int_or_none(data.get("code")),
                retry_after=float(data.get("retry_after", 0.5)),
                is_global=bool(data.get("global", False)),
                scope=data.get("scope"),
            )
        return json_response({"queued": True})

    async def gateway(self, request: web.Request) -> web.Response:
        """POST {action: reconnect|invalidate|close|heartbeat|silent|stop_acking, code?, resumable?}."""
        data = await self._json(request)
        action = data.get("action")
        if action == "reconnect":
            self.emu.gateway_reconnect()
        elif action == "invalidate":
            self.emu.gateway_invalidate(bool(data.get("resumable", False)))
        elif action == "close":
            self.emu.gateway_close(int(data.get("code", 4000)))
        elif action == "heartbeat":
            self.emu.gateway_request_heartbeat()
        elif action == "silent":
            self.emu.gateway_go_silent()
        elif action == "stop_acking":
            self.emu.gateway_stop_acking()
        else:
            return json_response({"error": f"unknown action {action!r}"}, 400)
        return json_response({"done": action})

    async def stats(self, request: web.Request) -> web.Response:
        """GET: request count, 429s served, identifies and resumes."""
        return json_response(
            {
                "requests": len(self.emu.requests),
                "responses_429": self.emu.count_429,
                "identifies": len(self.emu.gateway.identifies),
                "resumes": len(self.emu.gateway.resumes),
                "invalid_request_bans": len(self.emu.invalid_requests.bans),
            }
        )
