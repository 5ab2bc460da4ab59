"""Drive the bot like a Discord user: slash commands, autocomplete and component clicks."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .payloads import member_payload, role_payload, user_payload
from .permissions import effective
from .state import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    ATTACH_FILES,
    DM,
    EMBED_LINKS,
    MENTION_EVERYONE,
    USE_APPLICATION_COMMANDS,
    VIEW_CHANNEL,
    ChannelRecord,
    GuildConfig,
    InteractionRecord,
    StoredAttachment,
    StoredMessage,
)

if TYPE_CHECKING:
    from .server import DiscordEmulator

# app_permissions in a DM (receiving-and-responding.mdx, Interaction Structure note ***).
_DM_APP_PERMISSIONS = ATTACH_FILES | EMBED_LINKS | MENTION_EVERYONE

# Option types (discord/enums.py AppCommandOptionType).
SUB_COMMAND, SUB_COMMAND_GROUP, STRING, INTEGER, BOOLEAN = 1, 2, 3, 4, 5
USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 6, 7, 8, 9, 10, 11


class InteractionTimeout(AssertionError):
    """The bot did not answer an interaction (or a deferred one never got its content) in time."""


@dataclass
class InteractionReply:
    """What the invoking user sees after the bot answered an interaction."""

    interaction_id: int
    callback_type: int | None
    callback: dict[str, Any] | None
    message: StoredMessage | None
    deferred: bool
    choices: list[dict[str, Any]] | None = None
    modal: dict[str, Any] | None = None
    followups: list[StoredMessage] = field(default_factory=list)

    @property
    def ephemeral(self) -> bool:
        """Return whether only the invoking user sees the reply (flags & 64)."""
        return self.message is not None and self.message.ephemeral

    @property
    def content(self) -> str:
        """Return the reply text."""
        return self.message.content if self.message else ""

    @property
    def embeds(self) -> list[dict[str, Any]]:
        """Return the reply embeds as dicts."""
        return self.message.embeds if self.message else []

    @property
    def attachments(self) -> list[StoredAttachment]:
        """Return the reply attachments, bytes included."""
        return self.message.attachments if self.message else []

    @property
    def components(self) -> list[dict[str, Any]]:
        """Return the reply component rows."""
        return self.message.components if self.message else []

    @property
    def message_id(self) -> int | None:
        """Return the id of the message the reply lives in."""
        return self.message.id if self.message else None

    def buttons(self) -> list[Mapping[str, Any]]:
        """Return every button (component type 2) in the reply, flattened."""
        return [c for c in walk_components(self.components) if c.get("type") == 2]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able summary (attachments as filename/size/content_type)."""
        return {
            "interaction_id": str(self.interaction_id),
            "message_id": None if self.message_id is None else str(self.message_id),
            "callback_type": self.callback_type,
            "deferred": self.deferred,
            "ephemeral": self.ephemeral,
            "content": self.content,
            "embeds": self.embeds,
            "attachments": [
                {"filename": a.filename, "size": a.size, "content_type": a.content_type, "url": a.url}
                for a in self.attachments
            ],
            "components": self.components,
            "choices": self.choices,
            "modal": self.modal,
            "followups": [
                {"id": str(m.id), "content": m.content, "embeds": m.embeds} for m in self.followups
            ],
        }


def walk_components(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Flatten nested components (action rows, containers) into one list."""
    found: list[Mapping[str, Any]] = []
    for comp in rows:
        found.append(comp)
        found.extend(walk_components(comp.get("components") or []))
        if isinstance(comp.get("accessory"), Mapping):
            found.append(comp["accessory"])
    return found


def _coerce(option_type: int, value: Any, name: str) -> Any:
    """Convert a Python or command-line value to what Discord sends for an option type."""
    if option_type == INTEGER:
        return int(value)
    if option_type == NUMBER:
        return float(value)
    if option_type == BOOLEAN:
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes", "on")
        return bool(value)
    if option_type in (USER, CHANNEL, ROLE, MENTIONABLE, ATTACHMENT):
        return str(getattr(value, "id", value))
    if option_type == STRING:
        return str(value)
    raise ValueError(f"option {name!r} has unsupported type {option_type}")


class Driver:
    """Build INTERACTION_CREATE payloads from synced commands, dispatch them and await the answer."""

    def __init__(self, emu: DiscordEmulator) -> None:
        self.emu = emu
        self.world = emu.world

    # -- context -----------------------------------------------------------------------------------

    def _guild(self, guild_id: int | None) -> GuildConfig:
        if guild_id is None:
            if not self.world.guilds:
                raise LookupError("no guild configured")
            return next(iter(self.world.guilds.values()))
        try:
            return self.world.guilds[guild_id]
        except KeyError:
            raise LookupError(f"guild {guild_id} is not configured") from None

    def _context(
        self, guild_id: int | None, channel_id: int | None, user_id: int | None, in_dm: bool
    ) -> tuple[GuildConfig | None, ChannelRecord, int]:
        if in_dm:
            uid = user_id or next(iter(self._guild(None).members)).user.id
            return None, self.world.open_dm(uid), uid
        guild = self._guild(guild_id)
        if channel_id is None:
            channel = next(c for c in self.world.guild_channels(guild.id) if not c.deleted)
        else:
            channel = self.world.channels.get(channel_id)  # type: ignore[assignment]
            if channel is None or channel.guild_id != guild.id:
                raise LookupError(f"channel {channel_id} is not in guild {guild.id}")
        uid = user_id if user_id is not None else guild.members[0].user.id
        if guild.member(uid) is None:
            raise LookupError(f"user {uid} is not a member of guild {guild.id}")
        return guild, channel, uid

    def _find_command(self, name: str, guild_id: int | None, ctype: int = 1) -> dict[str, Any]:
        scopes: list[int | None] = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            for cmd in self.world.commands.get(scope, []):
                if cmd["name"] == name and int(cmd.get("type", 1)) == ctype:
                    return cmd
        synced = sorted(c["name"] for s in scopes for c in self.world.commands.get(s, []))
        raise LookupError(f"/{name} is not synced for guild {guild_id} (synced: {synced})")

    # -- options -----------------------------------------------------------------------------------

    def _build_options(
        self,
        command: Mapping[str, Any],
        path: Sequence[str],
        values: Mapping[str, Any],
        guild: GuildConfig | None,
        *,
        focused: str | None = None,
        context: tuple[ChannelRecord, int] | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Return (options, resolved) nested along a subcommand path, checked against the definition."""
        definitions: list[dict[str, Any]] = list(command.get("options") or [])
        chain: list[tuple[str, int]] = []
        for part in path:
            match = next((o for o in definitions if o["name"] == part and o["type"] in (1, 2)), None)
            if match is None:
                raise LookupError(f"/{command['name']} has no subcommand {part!r}")
            chain.append((part, match["type"]))
            definitions = list(match.get("options") or [])
        if any(o["type"] in (1, 2) for o in definitions):
            names = [o["name"] for o in definitions]
            raise LookupError(f"/{' '.join([command['name'], *path])} needs a subcommand: {names}")
        resolved: dict[str, dict[str, Any]] = {}
        leaf: list[dict[str, Any]] = []
        by_name = {o["name"]: o for o in definitions}
        for name, value in values.items():
            spec = by_name.get(name)
            if spec is None:
                raise LookupError(f"unknown option {name!r}; defined: {sorted(by_name)}")
            option: dict[str, Any] = {"name": name, "type": spec["type"]}
            if name == focused:
                # Autocomplete sends what the user typed so far, always as text.
                option["value"] = str(value)
                option["focused"] = True
            else:
                option["value"] = _coerce(spec["type"], value, name)
                self._resolve(spec["type"], option["value"], guild, resolved, context)
            leaf.append(option)
        if focused is None:
            missing = [o["name"] for o in definitions if o.get("required") and o["name"] not in values]
            if missing:
                raise ValueError(f"missing required options: {missing}")
        elif focused not in values:
            raise ValueError(f"focused option {focused!r} needs a value (the text typed so far)")
        options = leaf
        for name, kind in reversed(chain):
            options = [{"name": name, "type": kind, "options": options}]
        return options, resolved

    def _resolve(
        self,
        kind: int,
        value: str,
        guild: GuildConfig | None,
        resolved: dict[str, Any],
        context: tuple[ChannelRecord, int] | None = None,
    ) -> None:
        """Fill `resolved` as Discord does for user/channel/role/mentionable/attachment options.

        `context` is (the interaction's channel, the invoking user): resolved members carry their
        permissions in that channel; resolved channels carry the invoking user's `permissions` and the
        bot's `app_permissions` in the resolved channel (guild.mdx, partial channel note **).
        """
        ident = int(value) if kind in (USER, CHANNEL, ROLE, MENTIONABLE) else 0
        if kind in (USER, MENTIONABLE) and ident in self.world.users:
            resolved.setdefault("users", {})[value] = user_payload(self.world.users[ident])
            member = guild.member(ident) if guild else None
            if member is not None and guild is not None:
                perms = (
                    self.world.permissions_in(context[0], ident)
                    if context is not None
                    else guild.permissions_of(ident)
                )
                data = member_payload(member, permissions=perms)
                data.pop("user")
                resolved.setdefault("members", {})[value] = data
            return
        if kind in (ROLE, MENTIONABLE) and guild is not None:
            role = next((r for r in guild.roles if r.id == ident), None)
            if role is not None:
                resolved.setdefault("roles", {})[value] = role_payload(role, self.emu.config.bot.id)
                return
        if kind == ATTACHMENT:
            # interactions/receiving-and-responding.mdx, Resolved Data Structure: `attachments`, a map of
            # Snowflakes to attachment objects. An id the user never uploaded resolves to nothing.
            upload = self.world.uploads.get(int(value))
            if upload is not None:
                resolved.setdefault("attachments", {})[value] = upload.to_payload()
            return
        if kind == CHANNEL and ident in self.world.channels:
            channel = self.world.channels[ident]
            data = self.world.channel_json(channel)
            invoker = context[1] if context is not None else None
            perms = ALL_PERMISSIONS if invoker is None else self.world.permissions_in(channel, invoker)
            data["permissions"] = str(perms)
            data["app_permissions"] = str(self.world.permissions_in(channel, self.emu.config.bot.id))
            resolved.setdefault("channels", {})[value] = data

    # -- dispatch ----------------------------------------------------------------------------------

    def dispatch(
        self,
        kind: int,
        data: dict[str, Any],
        *,
        guild: GuildConfig | None,
        channel: ChannelRecord,
        user_id: int,
        permissions: int | str | None = None,
        message: StoredMessage | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """Send INTERACTION_CREATE with every key discord.py's Interaction._from_data reads."""
        config = self.emu.config
        interaction_id = self.world.snowflake()
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        channel_data = self.world.channel_json(channel)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(config.application_id),
            "type": kind,
            "token": token,
            "version": 1,
            # Interaction._from_data reads this with data[...]; a missing key kills the bot.
            "attachment_size_limit": config.attachment_size_limit,
            "data": data,
            # discord.py 2.7.1 takes Interaction.channel_id from channel.id, not the top-level channel_id.
            "channel": channel_data,
            "channel_id": str(channel.id),
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
        }
        if guild is not None:
            member = guild.member(user_id)
            assert member is not None
            perms = self.world.permissions_in(channel, user_id) if permissions is None else int(permissions)
            payload["guild_id"] = str(guild.id)
            payload["guild"] = {"id": str(guild.id), "locale": "en-US", "features": []}
            payload["guild_locale"] = "en-US"
            payload["member"] = member_payload(member, permissions=perms)
            # "Bitwise set of permissions the app has in the source location of the interaction".
            payload["app_permissions"] = str(self.world.permissions_in(channel, self.emu.config.bot.id))
            payload["authorizing_integration_owners"] = {"0": str(guild.id)}
            payload["context"] = 0
        else:
            payload["user"] = user_payload(self.world.user(user_id))
            payload["app_permissions"] = str(_DM_APP_PERMISSIONS)
            payload["authorizing_integration_owners"] = {"1": str(user_id)}
            payload["context"] = 1
        if message is not None:
            payload["message"] = self.world.gateway_message(message)
        record = InteractionRecord(
            id=interaction_id,
            token=token,
            type=kind,
            payload=payload,
            channel_id=channel.id,
            guild_id=guild.id if guild else None,
            user_id=user_id,
            created_at=time.monotonic(),
            component_message_id=message.id if message else None,
        )
        self.world.interactions[interaction_id] = record
        self.world.interactions_by_token[token] = record
        self.emu.gateway.dispatch("INTERACTION_CREATE", payload, intent=0)
        return record

    async def wait(
        self,
        record: InteractionRecord,
        *,
        timeout: float,  # noqa: ASYNC109
        wait_for_followup: bool,
    ) -> InteractionReply:
        """Wait until the interaction is answered (and a deferred answer completed), then describe it."""

        def done() -> bool:
            return record.callback is not None and (record.completed or not wait_for_followup)

        try:
            await self.emu.wait_until(done, timeout=timeout)
        except TimeoutError:
            if record.callback is None:
                raise InteractionTimeout(
                    f"the bot did not answer interaction {record.id} ({_describe(record)}) within {timeout}s"
                ) from None
            raise InteractionTimeout(
                f"the bot deferred interaction {record.id} ({_describe(record)}) but sent no followup "
                f"or edit within {timeout}s"
            ) from None
        return self.reply(record)

    def reply(self, record: InteractionRecord) -> InteractionReply:
        """Describe the current state of an interaction's answer."""
        message = self.world.messages.get(record.original_message_id or 0)
        return InteractionReply(
            interaction_id=record.id,
            callback_type=record.callback_type,
            callback=record.callback,
            message=message,
            deferred=record.callback_type in (5, 6),
            choices=record.choices,
            modal=record.modal,
            followups=[self.world.messages[i] for i in record.followup_ids],
        )

    # -- user actions ------------------------------------------------------------------------------

    async def slash(
        self,
        name: str | Sequence[str],
        options: Mapping[str, Any] | None = None,
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        permissions: int | str | None = None,
        in_dm: bool = False,
        timeout: float = 5.0,  # noqa: ASYNC109
        wait_for_followup: bool = True,
        check_permissions: bool = True,
    ) -> InteractionReply:
        """Invoke a synced chat-input command as a user and return what they see."""
        path = name.lstrip("/").split() if isinstance(name, str) else list(name)
        guild, channel, uid = self._context(guild_id, channel_id, user_id, in_dm)
        command = self._find_command(path[0], guild.id if guild else None)
        perms = self.world.permissions_in(channel, uid) if permissions is None else int(permissions)
        if check_permissions:
            self._check_usable(command, guild, channel, uid)
            self._check_visible(command, guild, perms)
        built, resolved = self._build_options(command, path[1:], options or {}, guild, context=(channel, uid))
        data: dict[str, Any] = {"id": command["id"], "name": command["name"], "type": 1, "options": built}
        if command.get("guild_id"):
            # Without data.guild_id discord.py (tree._get_app_command_options) only searches global commands.
            data["guild_id"] = command["guild_id"]
        if resolved:
            data["resolved"] = resolved
        record = self.dispatch(2, data, guild=guild, channel=channel, user_id=uid, permissions=perms)
        return await self.wait(record, timeout=timeout, wait_for_followup=wait_for_followup)

    async def autocomplete(
        self,
        name: str | Sequence[str],
        options: Mapping[str, Any],
        focused: str,
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        in_dm: bool = False,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """Type into an option with autocomplete and return the choices the bot offers."""
        path = name.lstrip("/").split() if isinstance(name, str) else list(name)
        guild, channel, uid = self._context(guild_id, channel_id, user_id, in_dm)
        command = self._find_command(path[0], guild.id if guild else None)
        built, resolved = self._build_options(
            command, path[1:], options, guild, focused=focused, context=(channel, uid)
        )
        data: dict[str, Any] = {"id": command["id"], "name": command["name"], "type": 1, "options": built}
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        if resolved:
            data["resolved"] = resolved
        record = self.dispatch(4, data, guild=guild, channel=channel, user_id=uid)
        reply = await self.wait(record, timeout=timeout, wait_for_followup=False)
        return list(reply.choices or [])

    async def click(
        self,
        message: InteractionReply | StoredMessage | int,
        custom_id: str,
        *,
        user_id: int | None = None,
        values: Sequence[str] | None = None,
        permissions: int | str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
        wait_for_followup: bool = True,
    ) -> InteractionReply:
        """Click a button (or pick `values` in a select) on a message and return the answer."""
        stored = self._message(message)
        component = next(
            (c for c in walk_components(stored.components) if c.get("custom_id") == custom_id), None
        )
        if component is None:
            ids = [c.get("custom_id") for c in walk_components(stored.components) if c.get("custom_id")]
            raise LookupError(f"message {stored.id} has no component {custom_id!r} (has {ids})")
        if component.get("disabled"):
            raise PermissionError(f"component {custom_id!r} is disabled")
        channel = self.world.channels[stored.channel_id]
        guild = self.world.guilds.get(channel.guild_id) if channel.guild_id else None
        if user_id is None:
            record = self.world.interactions.get(stored.interaction_id or 0)
            user_id = record.user_id if record else (guild.members[0].user.id if guild else None)
        if user_id is None:
            raise LookupError("click needs a user_id")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": int(component["type"])}
        if values is not None:
            data["values"] = list(values)
        record = self.dispatch(
            3, data, guild=guild, channel=channel, user_id=user_id, permissions=permissions, message=stored
        )
        return await self.wait(record, timeout=timeout, wait_for_followup=wait_for_followup)

    def _message(self, message: InteractionReply | StoredMessage | int) -> StoredMessage:
        if isinstance(message, InteractionReply):
            if message.message is None:
                raise LookupError("the reply has no message to click on")
            return message.message
        if isinstance(message, StoredMessage):
            return message
        stored = self.world.messages.get(message)
        if stored is None or stored.deleted:
            raise LookupError(f"message {message} does not exist")
        return stored

    def _check_usable(
        self, command: Mapping[str, Any], guild: GuildConfig | None, channel: ChannelRecord, user_id: int
    ) -> None:
        """Refuse what the client cannot do: commands in a channel the user cannot see or use them in."""
        if guild is None:
            return
        allowed = effective(self.world.permissions_in(channel, user_id))
        if not allowed & VIEW_CHANNEL or not allowed & USE_APPLICATION_COMMANDS:
            raise PermissionError(
                f"/{command['name']}: user {user_id} cannot view channel {channel.id} or use application "
                "commands there (pass check_permissions=False to send it anyway)"
            )

    @staticmethod
    def _check_visible(command: Mapping[str, Any], guild: GuildConfig | None, perms: int) -> None:
        """Refuse what the Discord client would not offer: commands above the user's permissions."""
        if guild is None:
            contexts = command.get("contexts")
            if command.get("dm_permission") is False or (contexts is not None and 1 not in contexts):
                raise PermissionError(f"/{command['name']} is not available in DMs")
            return
        required = command.get("default_member_permissions")
        if required is None or perms & ADMINISTRATOR:
            return
        if perms & int(required) != int(required):
            raise PermissionError(
                f"/{command['name']} needs permissions {required}; the user has {perms} "
                "(Discord hides it; pass check_permissions=False to send it anyway)"
            )


def _describe(record: InteractionRecord) -> str:
    data = record.payload.get("data") or {}
    if record.type == 3:
        return f"component {data.get('custom_id')!r}"
    return f"/{data.get('name')}"


__all__ = ["DM", "Driver", "InteractionReply", "InteractionTimeout", "walk_components"]
