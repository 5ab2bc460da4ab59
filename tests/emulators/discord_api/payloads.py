"""Build the JSON objects Discord sends, with every key discord.py 2.7.1 reads with `data[...]`."""

from __future__ import annotations

import copy
import datetime
from typing import Any

from .state import (
    DISCORD_EPOCH_MS,
    ChannelRecord,
    EmulatorConfig,
    GuildConfig,
    MemberConfig,
    RoleConfig,
    UserConfig,
)


def iso_now() -> str:
    """Return the current UTC time in Discord's ISO 8601 form."""
    return datetime.datetime.now(datetime.UTC).isoformat()


def snowflake_iso(snowflake: int) -> str:
    """Return the creation time encoded in a snowflake as ISO 8601."""
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).isoformat()


def user_payload(user: UserConfig) -> dict[str, Any]:
    """Return a user object (discord/user.py BaseUser._update needs id/username/discriminator/avatar)."""
    # `flags` and `primary_guild` are required in the OpenAPI document's UserResponse (spec/openapi.json).
    payload: dict[str, Any] = {
        "id": str(user.id),
        "username": user.username,
        "discriminator": "0",
        "global_name": user.global_name,
        "avatar": None,
        "public_flags": 0,
        "flags": 0,
        "primary_guild": None,
    }
    if user.bot:
        payload["bot"] = True
    return payload


def member_payload(member: MemberConfig, *, permissions: int | None = None) -> dict[str, Any]:
    """Return a guild member object (discord/member.py Member needs user/roles/flags)."""
    payload: dict[str, Any] = {
        "user": user_payload(member.user),
        "roles": [str(r) for r in member.roles],
        "nick": member.nick,
        "avatar": None,
        "banner": None,
        "joined_at": "2025-01-01T00:00:00+00:00",
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }
    if permissions is not None:
        payload["permissions"] = str(permissions)
    return payload


def role_payload(role: RoleConfig, bot_id: int | None = None) -> dict[str, Any]:
    """Return a role object (a managed bot role carries tags.bot_id)."""
    payload: dict[str, Any] = {
        "id": str(role.id),
        "name": role.name,
        "color": role.color,
        "colors": {"primary_color": role.color, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": role.position,
        "permissions": str(role.permissions),
        "managed": role.managed,
        "mentionable": False,
        "flags": 0,
    }
    if role.managed and bot_id is not None:
        payload["tags"] = {"bot_id": str(bot_id)}
    return payload


def channel_payload(channel: ChannelRecord, config: EmulatorConfig) -> dict[str, Any]:
    """Return a channel object with its permission_overwrites (a DM has recipients instead)."""
    if channel.recipient_id is not None:
        users = config.all_users()
        recipient = users.get(channel.recipient_id)
        recipients = [user_payload(recipient)] if recipient else []
        # `flags` is required in the OpenAPI document's PrivateChannelResponse (spec/openapi.json).
        return {
            "id": str(channel.id),
            "type": channel.type,
            "last_message_id": None,
            "flags": 0,
            "recipients": recipients,
        }
    overwrites = [o.to_payload() for o in channel.overwrites]
    payload: dict[str, Any] = {
        "id": str(channel.id),
        "type": channel.type,
        "name": channel.name,
        "position": channel.position,
        "parent_id": None,
        "topic": channel.topic,
        "nsfw": False,
        "rate_limit_per_user": 0,
        "last_message_id": None,
        # Required in the OpenAPI document's GuildChannelResponse (spec/openapi.json).
        "flags": 0,
        "permission_overwrites": overwrites,
    }
    if channel.guild_id is not None:
        payload["guild_id"] = str(channel.guild_id)
    return payload


def bot_member(config: EmulatorConfig, guild: GuildConfig) -> MemberConfig:
    """Return the bot's own membership (every guild has it), with its managed role."""
    return MemberConfig(user=config.bot, roles=guild.roles_of(config.bot.id, config.bot.id))


def guild_members(guild: GuildConfig, config: EmulatorConfig) -> list[MemberConfig]:
    """Return the guild's members with the bot included exactly once."""
    members = [m for m in guild.members if m.user.id != config.bot.id]
    members.append(bot_member(config, guild))
    return members


def guild_create_payload(
    guild: GuildConfig, channels: list[ChannelRecord], config: EmulatorConfig
) -> dict[str, Any]:
    """Return a full GUILD_CREATE guild; member_count equals the members sent, so no chunking starts."""
    guild.everyone_role()
    guild.bot_role()
    members = guild_members(guild, config)
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(guild.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 1,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "vanity_url_code": None,
        "features": [],
        "roles": [role_payload(r, config.bot.id) for r in guild.roles],
        "emojis": [],
        "stickers": [],
        "channels": [channel_payload(c, config) for c in channels if not c.deleted],
        "threads": [],
        "members": [member_payload(m) for m in members],
        "member_count": len(members),
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "large": False,
        "unavailable": False,
        "joined_at": "2025-01-01T00:00:00+00:00",
        "lazy": True,
        "application_id": None,
        "max_members": 500000,
        "max_video_channel_users": 25,
        "premium_progress_bar_enabled": False,
        "nsfw": False,
    }


def application_payload(config: EmulatorConfig) -> dict[str, Any]:
    """Return GET /oauth2/applications/@me (discord/appinfo.py AppInfo required keys).

    The keys from `type` on are required by the OpenAPI document's PrivateApplicationResponse
    (spec/openapi.json); values as for a new, unverified bot-only application.
    """
    return {
        "id": str(config.application_id),
        "name": config.application_name,
        "description": "Emulated application",
        "icon": None,
        "bot_public": True,
        "bot_require_code_grant": False,
        "owner": user_payload(config.app_owner),
        "verify_key": "0" * 64,
        "flags": 0,
        "team": None,
        "summary": "",
        "rpc_origins": [],
        "interactions_endpoint_url": None,
        "bot": user_payload(config.bot),
        "type": None,
        "flags_new": "0",
        "redirect_uris": [],
        "role_connections_verification_url": None,
        "approximate_guild_count": len(config.guilds),
        "approximate_user_install_count": 0,
        "approximate_user_authorization_count": 0,
        # 0 = DISABLED (the document's ApplicationExplicitContentFilterTypes).
        "explicit_content_filter": 0,
        "eligible_oauth2_scopes": [],
    }


# Component types of select menus: string, user, role, mentionable, channel.
_SELECT_TYPES = (3, 5, 6, 7, 8)


def stored_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return components as Discord stores and returns them: every `id` filled in, no null emoji id.

    developers/components/reference.mdx: "The `id` must be unique within the message and is generated
    sequentially if left empty. Generation of `id`s won't use another `id` that exists in the message";
    an `id` of 0 is "treated as empty". Responses carry it (required in the OpenAPI document's
    ActionRowComponentResponse, ButtonComponentResponse, ...). Assumption: numbering is depth-first in
    document order (a row before its children), which the documents do not spell out.
    A unicode emoji arrives as {"id": null, "name": "◀"} (discord.py PartialEmoji.to_dict; the
    document's ComponentEmojiForRequest allows the null) and comes back without `id`, which the
    document's ComponentEmojiResponse has as an optional string.
    """
    result = copy.deepcopy(components)
    used: set[int] = set()
    order: list[dict[str, Any]] = []

    def walk(items: list[Any]) -> None:
        for item in items:
            if not isinstance(item, dict):
                continue
            order.append(item)
            if isinstance(item.get("id"), int) and item["id"]:
                used.add(item["id"])
            for holder in [item, *(o for o in item.get("options") or [] if isinstance(o, dict))]:
                emoji = holder.get("emoji")  # buttons and select-menu options
                if isinstance(emoji, dict) and emoji.get("id") is None:
                    emoji.pop("id", None)
            if item.get("type") in _SELECT_TYPES:
                # min_values/max_values default to 1 (components/reference.mdx, select menus) and are
                # always returned (required in the OpenAPI document's ...SelectComponentResponse).
                item.setdefault("min_values", 1)
                item.setdefault("max_values", 1)
            for key in ("components", "accessory"):
                child = item.get(key)
                walk(child if isinstance(child, list) else [child] if isinstance(child, dict) else [])

    walk(result)
    next_id = 1
    for item in order:
        if not (isinstance(item.get("id"), int) and item["id"]):
            while next_id in used:
                next_id += 1
            item["id"] = next_id
            used.add(next_id)
    return result


def error_body(code: int, message: str | None = None, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return Discord's JSON error body {"message", "code"[, "errors"]}."""
    body: dict[str, Any] = {"message": message or ERROR_MESSAGES.get(code, "Unknown error"), "code": code}
    if errors:
        body["errors"] = errors
    return body


# JSON error codes used by the emulator (Discord API docs, "JSON Error Codes").
ERROR_MESSAGES: dict[int, str] = {
    0: "General error",
    10002: "Unknown Application",
    10003: "Unknown Channel",
    10004: "Unknown Guild",
    10007: "Unknown Member",
    10008: "Unknown Message",
    10013: "Unknown User",
    10015: "Unknown Webhook",
    10062: "Unknown interaction",
    10063: "Unknown application command",
    20001: "Bots cannot use this endpoint",
    40005: "Request entity too large",
    40060: "Interaction has already been acknowledged.",
    50001: "Missing Access",
    50005: "Cannot edit a message authored by another user",
    50006: "Cannot send an empty message",
    50007: "Cannot send messages to this user",
    50013: "Missing Permissions",
    50027: "Invalid Webhook Token",
    50035: "Invalid Form Body",
}
