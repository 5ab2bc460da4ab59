"""REST handlers for bot-authenticated routes under /api/v10: identity, commands, channels, DMs."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .command_rules import CommandCreateQuota, check_command_count, validate_command, validate_commands
from .payloads import application_payload, error_body, member_payload, user_payload
from .recording import BODY_KEY, ParsedBody
from .state import (
    ATTACH_FILES,
    MANAGE_MESSAGES,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    SEND_TTS_MESSAGES,
    StoredMessage,
)
from .world import ApiError, invalid_form

if TYPE_CHECKING:
    from .server import DiscordEmulator

API_PREFIX = "/api/v10"

__all__ = ["API_PREFIX", "RestApi", "validate_commands"]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """Return JSON with Content-Type exactly `application/json`.

    discord.py (http.py json_or_text) compares the header with `==`; aiohttp's web.json_response adds
    "; charset=utf-8", which would make discord.py treat the body as a string.
    """
    all_headers = {"Content-Type": "application/json"}
    all_headers.update(headers or {})
    return web.Response(body=json.dumps(data).encode(), status=status, headers=all_headers)


def error_response(error: ApiError) -> web.Response:
    """Return the JSON error Discord sends for an ApiError."""
    return json_response(error_body(error.code, error.message, error.errors), status=error.status)


def body_of(request: web.Request) -> ParsedBody:
    """Return the body the middleware parsed."""
    return request.get(BODY_KEY) or ParsedBody()


def json_object(request: web.Request) -> dict[str, Any]:
    """Return the request's JSON object (or payload_json) or raise 400 50035."""
    data = body_of(request).json
    if not isinstance(data, dict):
        raise ApiError(400, 50035, "Invalid Form Body")
    return data


def snowflake_param(request: web.Request, name: str, not_found_code: int) -> int:
    """Return a path snowflake; a non-numeric one is a 404 as on Discord."""
    raw = request.match_info[name]
    if not raw.isdigit():
        raise ApiError(404, not_found_code)
    return int(raw)


def fetched(message: StoredMessage) -> dict[str, Any]:
    """Return a message as GET /channels/{id}/messages[/{id}] shows it: without the nonce.

    Assumption: resources/message.mdx says of Create Message's nonce only that its "Value will appear in
    the Message Create event" (and the create response); nothing says Discord stores it, and messages
    fetched later from Discord do not carry it. So a fetched message never has a nonce here, and a bot
    must recognise its own earlier message by what it wrote in it.
    """
    return {key: value for key, value in message.payload.items() if key != "nonce"}


class RestApi:
    """Route table and handlers for the bot's REST calls."""

    def __init__(self, emu: DiscordEmulator) -> None:
        self.emu = emu
        self.world = emu.world
        self.command_creates = CommandCreateQuota()

    def routes(self) -> list[web.RouteDef]:
        """Return the aiohttp routes this class serves."""
        p = API_PREFIX
        return [
            web.get(p + "/users/@me", self.get_me),
            web.get(p + "/users/{user_id}", self.get_user),
            web.post(p + "/users/@me/channels", self.create_dm),
            web.get(p + "/oauth2/applications/@me", self.get_application),
            web.get(p + "/gateway", self.get_gateway),
            web.get(p + "/gateway/bot", self.get_gateway_bot),
            web.get(p + "/applications/{application_id}/commands", self.get_commands),
            web.put(p + "/applications/{application_id}/commands", self.put_commands),
            web.post(p + "/applications/{application_id}/commands", self.create_command),
            web.get(p + "/applications/{application_id}/guilds/{guild_id}/commands", self.get_commands),
            web.put(p + "/applications/{application_id}/guilds/{guild_id}/commands", self.put_commands),
            web.post(p + "/applications/{application_id}/guilds/{guild_id}/commands", self.create_command),
            web.get(p + "/guilds/{guild_id}", self.get_guild),
            web.get(p + "/guilds/{guild_id}/members/{user_id}", self.get_member),
            web.get(p + "/channels/{channel_id}", self.get_channel),
            web.get(p + "/channels/{channel_id}/messages", self.list_messages),
            web.post(p + "/channels/{channel_id}/messages", self.create_message),
            web.get(p + "/channels/{channel_id}/messages/{message_id}", self.get_message),
            web.patch(p + "/channels/{channel_id}/messages/{message_id}", self.edit_message),
            web.delete(p + "/channels/{channel_id}/messages/{message_id}", self.delete_message),
        ]

    # -- identity ----------------------------------------------------------------------------------

    async def get_me(self, request: web.Request) -> web.Response:
        """GET /users/@me: the bot user (discord.py login's first call)."""
        data = user_payload(self.emu.config.bot)
        data.update({"verified": True, "mfa_enabled": False, "flags": 0, "email": None, "locale": "en-US"})
        return json_response(data)

    async def get_user(self, request: web.Request) -> web.Response:
        """GET /users/{id}: a known user or 404 10013."""
        return json_response(user_payload(self.world.user(snowflake_param(request, "user_id", 10013))))

    async def get_application(self, request: web.Request) -> web.Response:
        """GET /oauth2/applications/@me: the application (sets Client.application_id)."""
        return json_response(application_payload(self.emu.config))

    async def get_gateway(self, request: web.Request) -> web.Response:
        """GET /gateway: the websocket URL (plain clients never call it; sharded ones call /gateway/bot)."""
        return json_response({"url": self.emu.gateway_url})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        """GET /gateway/bot: URL, shards and the session start limit (AutoShardedClient reads these).

        `session_start_limit` is the gateway's live budget: `remaining` drops with each IDENTIFY
        (gateway.mdx "Session Start Limit Object"). Assumption: one recommended shard per 1,000 guilds.
        """
        shards = max(1, -(-len(self.world.guilds) // 1000))
        return json_response(
            {
                "url": self.emu.gateway_url,
                "shards": shards,
                "session_start_limit": self.emu.gateway.limits.snapshot(),
            }
        )

    # -- application commands ----------------------------------------------------------------------

    def _scope(self, request: web.Request) -> int | None:
        app_id = snowflake_param(request, "application_id", 10002)
        if app_id != self.emu.config.application_id:
            raise ApiError(403, 50001)
        if "guild_id" not in request.match_info:
            return None
        guild_id = snowflake_param(request, "guild_id", 10004)
        if guild_id not in self.world.guilds:
            raise ApiError(403, 50001)
        return guild_id

    async def get_commands(self, request: web.Request) -> web.Response:
        """GET the stored global or guild commands."""
        return json_response(self.world.commands.get(self._scope(request), []))

    def _take_creates(self, scope: int | None, count: int) -> None:
        config = self.emu.config
        self.command_creates.take(
            scope,
            count,
            limit=config.command_creates_per_day,
            window=config.command_create_window,
            now=time.monotonic(),
        )

    def _stored_command(
        self, cmd: dict[str, Any], scope: int | None, prev: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Return the command as Discord stores and echoes it; ids stay stable for a name that existed."""
        item = dict(cmd)
        item.setdefault("type", 1)
        item["id"] = prev["id"] if prev else str(self.world.snowflake())
        item["application_id"] = str(self.emu.config.application_id)
        item["version"] = str(self.world.snowflake())
        item.setdefault("description", "")
        item.setdefault("options", [])
        # A command sent without integration_types gets "your app's configured contexts"
        # (developers/interactions/application-commands.mdx); this app is installed to guilds only,
        # so [0] (GUILD_INSTALL). The response always carries the list (an array, not null, in the
        # OpenAPI document's ApplicationCommandResponse).
        if item.get("integration_types") is None:
            item["integration_types"] = [0]
        # Discord stores and echoes the bitfield as a string; discord.py sends an int.
        perms = item.get("default_member_permissions")
        item["default_member_permissions"] = None if perms is None else str(int(perms))
        if scope is not None:
            item["guild_id"] = str(scope)
        return item

    async def put_commands(self, request: web.Request) -> web.Response:
        """PUT (bulk overwrite) commands; new names count towards the daily create limit."""
        scope = self._scope(request)
        commands = validate_commands(body_of(request).json, check_size=self.emu.config.enforce_command_size)
        old = {(c["name"], c.get("type", 1)): c for c in self.world.commands.get(scope, [])}
        keys = [(c["name"], c.get("type") or 1) for c in commands]
        self._take_creates(scope, sum(1 for key in keys if key not in old))
        stored = [
            self._stored_command(cmd, scope, old.get(key)) for cmd, key in zip(commands, keys, strict=True)
        ]
        self.world.commands[scope] = stored
        self.world.command_sync_count[scope] = self.world.command_sync_count.get(scope, 0) + 1
        self.emu.notify()
        return json_response(stored)

    async def create_command(self, request: web.Request) -> web.Response:
        """POST one command: 201 when new, 200 when it overwrote the same name and type (AC L1207)."""
        scope = self._scope(request)
        cmd = validate_command(json_object(request), check_size=self.emu.config.enforce_command_size)
        key = (cmd["name"], cmd.get("type") or 1)
        existing = self.world.commands.get(scope, [])
        prev = next((c for c in existing if (c["name"], c.get("type", 1)) == key), None)
        others = [c for c in existing if c is not prev]
        check_command_count([*others, cmd])
        if prev is None:
            self._take_creates(scope, 1)
        item = self._stored_command(cmd, scope, prev)
        self.world.commands[scope] = (
            [item if c is prev else c for c in existing] if prev else [*existing, item]
        )
        self.emu.notify()
        return json_response(item, status=200 if prev else 201)

    # -- guilds ------------------------------------------------------------------------------------

    async def get_guild(self, request: web.Request) -> web.Response:
        """GET /guilds/{id}: the guild without members/channels, as REST returns it."""
        guild_id = snowflake_param(request, "guild_id", 10004)
        guild = self.world.guilds.get(guild_id)
        if guild is None:
            raise ApiError(404, 10004)
        data = self.emu.gateway.guild_payload(guild)
        for key in ("members", "channels", "threads", "presences", "voice_states", "member_count"):
            data.pop(key, None)
        data["approximate_member_count"] = len(guild.members) + 1
        return json_response(data)

    async def get_member(self, request: web.Request) -> web.Response:
        """GET /guilds/{id}/members/{user}: a member or 404 10007."""
        guild = self.world.guilds.get(snowflake_param(request, "guild_id", 10004))
        if guild is None:
            raise ApiError(404, 10004)
        user_id = snowflake_param(request, "user_id", 10013)
        member = guild.member(user_id)
        if member is None:
            raise ApiError(404, 10007)
        return json_response(member_payload(member))

    # -- channels and messages ---------------------------------------------------------------------

    async def get_channel(self, request: web.Request) -> web.Response:
        """GET /channels/{id}: 404 10003 if unknown or deleted, 403 50001 if hidden from the bot."""
        channel = self.world.channel_for_bot(snowflake_param(request, "channel_id", 10003))
        return json_response(self.world.channel_json(channel))

    async def list_messages(self, request: web.Request) -> web.Response:
        """GET /channels/{id}/messages: newest first, honouring limit/before/after.

        developers/resources/message.mdx "Get Channel Messages": needs VIEW_CHANNEL; "If the current user
        is missing the READ_MESSAGE_HISTORY permission in the channel, then no messages will be returned."
        """
        channel = self.world.channel_for_bot(snowflake_param(request, "channel_id", 10003))
        if not self.world.bot_permissions_in(channel) & READ_MESSAGE_HISTORY:
            return json_response([])
        limit = max(1, min(100, int(request.query.get("limit", "50"))))
        before = int(request.query.get("before", "0") or 0)
        after = int(request.query.get("after", "0") or 0)
        msgs = [
            m for m in self.world.messages_in(channel.id) if (not before or m.id < before) and m.id > after
        ]
        # With `after` Discord returns the oldest `limit` messages after it; otherwise the newest ones.
        selected = msgs[:limit] if after else msgs[-limit:]
        return json_response([fetched(m) for m in reversed(selected)])

    async def create_message(self, request: web.Request) -> web.Response:
        """POST /channels/{id}/messages: JSON or multipart; DMs to a user with closed DMs give 403 50007.

        developers/resources/message.mdx "Create Message" limitations: SEND_MESSAGES in a guild channel,
        SEND_TTS_MESSAGES for tts, READ_MESSAGE_HISTORY for a reply; ATTACH_FILES for files
        (permissions.mdx "Allows for uploading images and files"). Missing one: 403 50013.
        """
        body = body_of(request)
        data = json_object(request)
        need = SEND_MESSAGES
        if body.files:
            need |= ATTACH_FILES
        if data.get("tts"):
            need |= SEND_TTS_MESSAGES
        if data.get("message_reference"):
            need |= READ_MESSAGE_HISTORY
        channel = self.world.channel_for_bot(snowflake_param(request, "channel_id", 10003), need)
        if channel.recipient_id is not None and self.world.user(channel.recipient_id).dms_closed:
            raise ApiError(403, 50007)
        # Discord (resources/message.mdx, Create Message): with enforce_nonce, a message sent by the same
        # user with the same nonce in the past few minutes (config.nonce_window) is returned instead of
        # creating a second one; after the window the same nonce makes a new message.
        nonce = data.get("nonce")
        if data.get("enforce_nonce") and nonce is not None:
            earlier = self.world.message_with_nonce(
                channel.id, str(nonce), self.emu.config.bot.id, self.emu.config.nonce_window
            )
            if earlier is not None:
                return json_response(earlier.payload)
        msg = self.world.build_message(
            channel.id, data, body.files, permissions=self.world.bot_permissions_in(channel)
        )
        self.world.add_message(msg)
        self.emu.notify()
        return json_response(msg.payload)

    async def get_message(self, request: web.Request) -> web.Response:
        """GET one message: VIEW_CHANNEL and READ_MESSAGE_HISTORY (message.mdx "Get Channel Message").

        Assumption (the document names the permissions, not the error): without READ_MESSAGE_HISTORY the
        answer is 403 50013 Missing Permissions, as for every other missing permission but VIEW_CHANNEL.
        """
        channel = self.world.channel_for_bot(
            snowflake_param(request, "channel_id", 10003), READ_MESSAGE_HISTORY
        )
        msg = self.world.message_in(channel.id, snowflake_param(request, "message_id", 10008))
        return json_response(fetched(msg))

    async def edit_message(self, request: web.Request) -> web.Response:
        """PATCH a message the bot sent; editing another user's message gives 403 50005.

        Assumption (message.mdx "Edit Message" names no permission for the author): editing one's own
        message needs only VIEW_CHANNEL, not SEND_MESSAGES; new files need ATTACH_FILES as on create.
        """
        files = body_of(request).files
        channel = self.world.channel_for_bot(
            snowflake_param(request, "channel_id", 10003), ATTACH_FILES if files else 0
        )
        msg = self.world.message_in(channel.id, snowflake_param(request, "message_id", 10008))
        if msg.payload["author"]["id"] != str(self.emu.config.bot.id):
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        self.world.edit_message(
            msg, json_object(request), files, permissions=self.world.bot_permissions_in(channel)
        )
        self.emu.notify()
        return json_response(msg.payload)

    async def delete_message(self, request: web.Request) -> web.Response:
        """DELETE a message: 204 with no body; another user's message needs MANAGE_MESSAGES (403 50013).

        developers/resources/message.mdx "Delete Message".
        """
        channel = self.world.channel_for_bot(snowflake_param(request, "channel_id", 10003))
        msg = self.world.message_in(channel.id, snowflake_param(request, "message_id", 10008))
        others = msg.payload["author"]["id"] != str(self.emu.config.bot.id)
        if others and not self.world.bot_permissions_in(channel) & MANAGE_MESSAGES:
            raise ApiError(403, 50013)
        self.world.delete_message(msg)
        self.emu.notify()
        return web.Response(status=204)

    async def create_dm(self, request: web.Request) -> web.Response:
        """POST /users/@me/channels {recipient_id}: the DM channel (created once, then reused)."""
        data = json_object(request)
        try:
            user_id = int(data["recipient_id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise invalid_form("recipient_id", "BASE_TYPE_REQUIRED", "This field is required") from exc
        channel = self.world.open_dm(user_id)
        self.emu.notify()
        return json_response(self.world.channel_json(channel))
