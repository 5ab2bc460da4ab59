"""The emulated Discord world at run time: channels, messages, commands and interactions."""

from __future__ import annotations

import copy
import mimetypes
import re
import time
from collections.abc import Callable
from typing import Any

# ApiError and invalid_form are re-exported: the REST modules import them from here.
from .errors import ApiError as ApiError
from .errors import invalid_form as invalid_form
from .message_rules import has_message_content, validate_embed_formats, validate_message_fields
from .payloads import (
    channel_payload,
    iso_now,
    member_payload,
    snowflake_iso,
    stored_components,
    user_payload,
)
from .permissions import channel_permissions, effective
from .recording import BodyPart
from .state import (
    ALL_PERMISSIONS,
    DM,
    EMBED_LINKS,
    MENTION_EVERYONE,
    ROLE_OVERWRITE,
    VIEW_CHANNEL,
    ChannelRecord,
    EmulatorConfig,
    GuildConfig,
    InteractionRecord,
    PermissionOverwrite,
    RoleConfig,
    SnowflakeFactory,
    StoredAttachment,
    StoredMessage,
    UserConfig,
)

# Message flags (discord/flags.py MessageFlags).
SUPPRESS_EMBEDS = 1 << 2
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_COMPONENTS_V2 = 1 << 15
# Flags a bot may set when creating a message; anything else is silently dropped, as Discord does.
SETTABLE_FLAGS = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2

# Message types (discord/enums.py MessageType).
MESSAGE_DEFAULT = 0
MESSAGE_CHAT_INPUT_COMMAND = 20

_MENTION = re.compile(r"<@!?(\d+)>")
_EVERYONE = re.compile(r"@(everyone|here)\b")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _too_long(path: str, limit: int) -> ApiError:
    return invalid_form(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


# Embed limits from Discord's docs ("Embed Limits").
_EMBED_TEXT_LIMITS = (("title", 256), ("description", 4096))


def validate_embeds(embeds: list[dict[str, Any]]) -> None:
    """Raise the 400 Discord gives for embeds over its documented limits."""
    if len(embeds) > 10:
        raise _too_long("embeds", 10)
    total = sum(_embed_size(embed, f"embeds.{i}") for i, embed in enumerate(embeds))
    if total > 6000:
        raise invalid_form("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")


def _embed_size(embed: dict[str, Any], path: str) -> int:
    """Raise the 400 for one embed over a limit; return the characters it counts towards the 6000."""
    validate_embed_formats(embed, path)
    total = 0
    for key, limit in _EMBED_TEXT_LIMITS:
        # message.mdx L607: limits count without leading/trailing whitespace (Discord trims).
        text = str(embed.get(key) or "").strip()
        if len(text) > limit:
            raise _too_long(f"{path}.{key}", limit)
        total += len(text)
    total += _fields_size(embed.get("fields") or [], f"{path}.fields")
    footer = str((embed.get("footer") or {}).get("text") or "").strip()
    author = str((embed.get("author") or {}).get("name") or "").strip()
    if len(footer) > 2048:
        raise _too_long(f"{path}.footer.text", 2048)
    if len(author) > 256:
        raise _too_long(f"{path}.author.name", 256)
    return total + len(footer) + len(author)


def _fields_size(fields: list[dict[str, Any]], path: str) -> int:
    """Raise the 400 for embed fields over a limit or missing a name or value; return their characters."""
    if len(fields) > 25:
        raise _too_long(path, 25)
    total = 0
    for j, fld in enumerate(fields):
        for key, limit in (("name", 256), ("value", 1024)):
            # message.mdx L607: trimmed, so a name or value of only whitespace is missing.
            text = str(fld.get(key) or "").strip()
            if not text:
                raise invalid_form(f"{path}.{j}.{key}", "BASE_TYPE_REQUIRED", "This field is required")
            if len(text) > limit:
                raise _too_long(f"{path}.{j}.{key}", limit)
            total += len(text)
    return total


def png_size(data: bytes) -> tuple[int, int] | None:
    """Return (width, height) of a PNG from its IHDR chunk, or None for other data."""
    if len(data) >= 24 and data.startswith(_PNG_SIGNATURE):
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None


def _file_index(part: BodyPart) -> int | None:
    """Return N for a part named files[N] (discord/http.py handle_message_parameters names them so)."""
    match = re.fullmatch(r"files\[(\d+)\]", part.name)
    if match:
        return int(match.group(1))
    match = re.fullmatch(r"file(\d*)", part.name)
    if match:
        return int(match.group(1) or 0)
    return None


class World:
    """Hold and change the emulated state; tell listeners about message events."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.snowflake = SnowflakeFactory()
        self.users: dict[int, UserConfig] = config.all_users()
        self.guilds: dict[int, GuildConfig] = {g.id: g for g in config.guilds}
        self.channels: dict[int, ChannelRecord] = {}
        self.dm_channels: dict[int, int] = {}
        self.messages: dict[int, StoredMessage] = {}
        # Files users attached to command options (type 11), served by the CDN route like message files.
        self.uploads: dict[int, StoredAttachment] = {}
        self.channel_messages: dict[int, list[int]] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.command_sync_count: dict[int | None, int] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self.interactions_by_token: dict[str, InteractionRecord] = {}
        self.base_url = "http://127.0.0.1"
        # Called as listener(event, message) for "MESSAGE_CREATE" / "MESSAGE_UPDATE" / "MESSAGE_DELETE".
        self.message_listeners: list[Callable[[str, StoredMessage], None]] = []
        for guild in config.guilds:
            guild.everyone_role()
            for ch in guild.channels:
                self.channels[ch.id] = ChannelRecord(
                    id=ch.id,
                    type=ch.type,
                    name=ch.name,
                    guild_id=guild.id,
                    position=ch.position,
                    topic=ch.topic,
                    overwrites=list(ch.overwrites),
                )

    # -- lookups -----------------------------------------------------------------------------------

    def guild_channels(self, guild_id: int) -> list[ChannelRecord]:
        """Return the guild's channels in position order (deleted ones included)."""
        return sorted(
            (c for c in self.channels.values() if c.guild_id == guild_id), key=lambda c: (c.position, c.id)
        )

    def permissions_in(self, channel: ChannelRecord, user_id: int) -> int:
        """Return a user's permissions in a channel with overwrites (all of them in a DM)."""
        guild = self.guilds.get(channel.guild_id) if channel.guild_id is not None else None
        if guild is None:
            return ALL_PERMISSIONS
        return channel_permissions(guild, channel, user_id, self.config.bot.id)

    def bot_permissions_in(self, channel: ChannelRecord) -> int:
        """Return what the bot may really do in a channel (overwrites and implicit denials applied)."""
        return effective(self.permissions_in(channel, self.config.bot.id))

    def channel_for_bot(self, channel_id: int, need: int = 0) -> ChannelRecord:
        """Return a channel the bot may use, or raise 404 10003 / 403 50001 / 403 50013 like Discord.

        Without VIEW_CHANNEL Discord answers 50001 Missing Access; with it but without another permission
        the route needs (`need`), 50013 Missing Permissions (developers/topics/opcodes-and-status-codes.mdx).
        """
        channel = self.channels.get(channel_id)
        if channel is None or channel.deleted:
            raise ApiError(404, 10003)
        allowed = self.bot_permissions_in(channel)
        if not allowed & VIEW_CHANNEL:
            raise ApiError(403, 50001)
        if allowed & need != need:
            raise ApiError(403, 50013)
        return channel

    def message_in(self, channel_id: int, message_id: int) -> StoredMessage:
        """Return a live message in a channel, or raise 404 10008."""
        msg = self.messages.get(message_id)
        if msg is None or msg.deleted or msg.channel_id != channel_id:
            raise ApiError(404, 10008)
        return msg

    def user(self, user_id: int) -> UserConfig:
        """Return a known user, or raise 404 10013."""
        user = self.users.get(user_id)
        if user is None:
            raise ApiError(404, 10013)
        return user

    def open_dm(self, user_id: int) -> ChannelRecord:
        """Return the DM channel with a user, creating it (Discord returns the same channel each time)."""
        self.user(user_id)
        channel_id = self.dm_channels.get(user_id)
        if channel_id is None:
            channel_id = self.snowflake()
            self.channels[channel_id] = ChannelRecord(id=channel_id, type=DM, recipient_id=user_id)
            self.dm_channels[user_id] = channel_id
        return self.channels[channel_id]

    def set_overwrite(
        self, channel_id: int, target_id: int, *, allow: int = 0, deny: int = 0, kind: int = ROLE_OVERWRITE
    ) -> ChannelRecord:
        """Set (or, with allow = deny = 0, remove) a channel's overwrite for a role or member."""
        channel = self.channels[channel_id]
        if channel.guild_id is None:
            raise LookupError(f"channel {channel_id} is a DM: it has no overwrites")
        channel.overwrites = [o for o in channel.overwrites if (o.id, o.type) != (target_id, kind)]
        if allow or deny:
            channel.overwrites.append(PermissionOverwrite(target_id, kind, allow, deny))
        return channel

    def set_role_permissions(self, guild_id: int, role_id: int, permissions: int) -> RoleConfig:
        """Change a role's permissions (the guild id names @everyone; the bot's role is bot_permissions)."""
        guild = self.guilds[guild_id]
        if role_id == guild.id:
            role = guild.everyone_role()
        elif role_id == guild.bot_role().id:
            guild.bot_permissions = permissions
            role = guild.bot_role()
        else:
            found = guild.role(role_id)
            if found is None:
                raise LookupError(f"guild {guild_id} has no role {role_id}")
            role = found
        role.permissions = permissions
        return role

    def channel_json(self, channel: ChannelRecord) -> dict[str, Any]:
        """Return the channel object Discord would send for this channel."""
        return channel_payload(channel, self.config)

    # -- uploads -----------------------------------------------------------------------------------

    def upload(self, filename: str, data: bytes, content_type: str | None = None) -> StoredAttachment:
        """Store a file a user attaches to an ATTACHMENT option, as the client uploads it before invoking.

        The client refuses a file over the upload limit (attachment_size_limit, reference.mdx), so a larger
        one never reaches the bot: ValueError here.
        """
        if len(data) > self.config.attachment_size_limit:
            raise ValueError(f"{filename} is {len(data)} bytes, over the upload limit")
        att_id = self.snowflake()
        stored = StoredAttachment(
            id=att_id,
            filename=filename,
            data=data,
            content_type=content_type or mimetypes.guess_type(filename)[0],
            url=f"{self.base_url}/_cdn/ephemeral-attachments/0/{att_id}/{filename}",
        )
        self.uploads[att_id] = stored
        return stored

    # -- messages ----------------------------------------------------------------------------------

    def _attachments(
        self, channel_id: int, body: dict[str, Any], files: list[BodyPart], keep: list[StoredAttachment]
    ) -> list[StoredAttachment]:
        """Turn body `attachments` + files[N] parts into stored attachments (kept ones first by id)."""
        by_index = {idx: part for part in files if (idx := _file_index(part)) is not None}
        # Spec `files[0..9]`: at most 10 files in one request.
        if len(by_index) > 10:
            raise _too_long("files", 10)
        # message.mdx L1072: a request is at most 25 MiB; reference.mdx L430: the upload limit
        # (attachment_size_limit, 10 MiB by default) applies to each file.
        if sum(len(part.data) for part in files) > self.config.message_request_size_limit:
            raise ApiError(413, 40005)
        if any(len(part.data) > self.config.attachment_size_limit for part in by_index.values()):
            raise ApiError(413, 40005)
        described = body.get("attachments")
        result: list[StoredAttachment] = []
        entries: list[dict[str, Any]]
        if described is None:
            entries = [{"id": idx} for idx in sorted(by_index)]
            result.extend(keep)
        else:
            entries = []
            existing = {a.id: a for a in keep}
            for i, entry in enumerate(described):
                try:
                    ident = int(entry.get("id"))
                except (TypeError, ValueError) as exc:
                    raise invalid_form(
                        f"attachments.{i}.id", "BASE_TYPE_REQUIRED", "This field is required"
                    ) from exc
                if ident in existing:
                    result.append(existing[ident])
                elif ident in by_index:
                    entries.append(entry)
                else:
                    raise invalid_form(
                        f"attachments.{i}", "ATTACHMENT_NOT_FOUND", "Attachment data not found"
                    )
        for entry in entries:
            part = by_index[int(entry["id"])]
            filename = str(entry.get("filename") or part.filename or "file")
            att_id = self.snowflake()
            size = png_size(part.data)
            result.append(
                StoredAttachment(
                    id=att_id,
                    filename=filename,
                    data=part.data,
                    content_type=mimetypes.guess_type(filename)[0] or part.content_type,
                    url=f"{self.base_url}/_cdn/attachments/{channel_id}/{att_id}/{filename}",
                    description=entry.get("description"),
                    width=size[0] if size else None,
                    height=size[1] if size else None,
                )
            )
        return result

    @staticmethod
    def _embeds(embeds: list[dict[str, Any]], attachments: list[StoredAttachment]) -> list[dict[str, Any]]:
        """Normalise embeds as Discord echoes them: type "rich", attachment:// URLs resolved."""
        by_name = {a.filename: a for a in attachments}
        result = []
        for raw in embeds:
            embed = copy.deepcopy(raw)
            embed.setdefault("type", "rich")
            # `inline?` (message.mdx L600) comes back as false when not sent (required in the OpenAPI
            # document's MessageEmbedFieldResponse).
            for embed_field in embed.get("fields") or []:
                if isinstance(embed_field, dict):
                    embed_field.setdefault("inline", False)
            for key in ("image", "thumbnail", "footer", "author"):
                sub = embed.get(key)
                if not isinstance(sub, dict):
                    continue
                url_key = "url" if key in ("image", "thumbnail") else "icon_url"
                url = sub.get(url_key)
                if isinstance(url, str) and url.startswith("attachment://"):
                    att = by_name.get(url.removeprefix("attachment://"))
                    if att is not None:
                        sub[url_key] = att.url
                        sub["proxy_" + url_key] = att.url
                        if att.width is not None and key in ("image", "thumbnail"):
                            sub["width"], sub["height"] = att.width, att.height
            result.append(embed)
        return result

    def _mentions(self, content: str) -> list[dict[str, Any]]:
        users = [self.users[int(m)] for m in _MENTION.findall(content) if int(m) in self.users]
        return [user_payload(u) for u in users]

    @staticmethod
    def _mentions_everyone(content: str, body: dict[str, Any], permissions: int) -> bool:
        """Return whether @everyone/@here in the content really mentions everyone.

        developers/resources/message.mdx "Allowed Mentions Object": it needs the MENTION_EVERYONE
        permission and, when allowed_mentions is sent, "everyone" in its parse list. Without the permission
        the message is still posted, only without the mention (the document lists it among what decides
        whether a mention notifies, not as an error).
        """
        if not _EVERYONE.search(content) or not permissions & MENTION_EVERYONE:
            return False
        allowed = body.get("allowed_mentions")
        return allowed is None or "everyone" in (allowed.get("parse") or [])

    @staticmethod
    def _embeds_allowed(embeds: list[dict[str, Any]], permissions: int) -> list[dict[str, Any]]:
        """Drop embeds the author may not post: Discord keeps the message but shows no embed.

        The documents are silent on rich embeds sent without EMBED_LINKS (permissions.mdx only says links
        are not auto-embedded). Assumption, as bots meet it on Discord: the request succeeds and the
        message has no embeds (a message left with nothing else is 400 50006, checked by the caller).
        """
        return embeds if permissions & EMBED_LINKS else []

    def build_message(
        self,
        channel_id: int,
        body: dict[str, Any],
        files: list[BodyPart],
        *,
        author: UserConfig | None = None,
        source: str = "channel",
        allow_ephemeral: bool = False,
        interaction: InteractionRecord | None = None,
        message_type: int = MESSAGE_DEFAULT,
        allow_empty: bool = False,
        permissions: int = ALL_PERMISSIONS,
    ) -> StoredMessage:
        """Validate a create-message body and return the stored message (not yet announced).

        `permissions` are the author's effective ones in the channel: they decide whether embeds are kept
        and @everyone mentions; REST refuses missing SEND_MESSAGES/ATTACH_FILES before this.
        """
        content = body.get("content")
        content = "" if content is None else str(content)
        if len(content) > 2000:
            raise _too_long("content", 2000)
        raw_embeds = list(body.get("embeds") or [])
        if body.get("embed"):
            raw_embeds.append(body["embed"])
        validate_embeds(raw_embeds)
        raw_embeds = self._embeds_allowed(raw_embeds, permissions)
        components = list(body.get("components") or [])
        validate_message_fields(body, flags=int(body.get("flags") or 0))
        reference = self._reference(channel_id, body.get("message_reference"))
        attachments = self._attachments(channel_id, body, files, [])
        if not allow_empty and not (
            content or raw_embeds or attachments or components or body.get("sticker_ids") or body.get("poll")
        ):
            raise ApiError(400, 50006)
        flags = int(body.get("flags") or 0) & (SETTABLE_FLAGS | (EPHEMERAL if allow_ephemeral else 0))
        author = author or self.config.bot
        message_id = self.snowflake()
        payload: dict[str, Any] = {
            "id": str(message_id),
            "type": message_type,
            "channel_id": str(channel_id),
            "content": content,
            "author": user_payload(author),
            "embeds": self._embeds(raw_embeds, attachments),
            "attachments": [a.to_payload() for a in attachments],
            "components": stored_components(components),
            "mentions": self._mentions(content),
            "mention_roles": [],
            "mention_everyone": self._mentions_everyone(content, body, permissions),
            "pinned": False,
            "tts": bool(body.get("tts", False)),
            "timestamp": snowflake_iso(message_id),
            "edited_timestamp": None,
            "flags": flags,
        }
        if body.get("nonce") is not None:
            payload["nonce"] = body["nonce"]
        if reference:
            payload["message_reference"] = reference
        if interaction is not None:
            payload["webhook_id"] = str(self.config.application_id)
            payload["application_id"] = str(self.config.application_id)
            payload["interaction_metadata"] = self.interaction_metadata(interaction)
        return StoredMessage(
            id=message_id,
            channel_id=channel_id,
            payload=payload,
            attachment_files=attachments,
            source=source,
            interaction_id=interaction.id if interaction else None,
        )

    def interaction_metadata(self, interaction: InteractionRecord) -> dict[str, Any]:
        """Return the interaction_metadata Discord attaches to messages made by an interaction."""
        user = self.users.get(interaction.user_id) or UserConfig(id=interaction.user_id, username="unknown")
        owners = {"0": str(interaction.guild_id)} if interaction.guild_id else {"1": str(interaction.user_id)}
        meta: dict[str, Any] = {
            "id": str(interaction.id),
            "type": interaction.type,
            "user": user_payload(user),
            "authorizing_integration_owners": owners,
        }
        if interaction.original_message_id is not None:
            meta["original_response_message_id"] = str(interaction.original_message_id)
        if interaction.component_message_id is not None:
            meta["interacted_message_id"] = str(interaction.component_message_id)
        return meta

    def message_with_nonce(
        self, channel_id: int, nonce: str, author_id: int, window: float | None
    ) -> StoredMessage | None:
        """Return the author's message in a channel that carried ``nonce`` within the last ``window`` s.

        enforce_nonce deduplication (resources/message.mdx, Create Message): "If another message was
        created by the same author with the same nonce" in "the past few minutes".
        """
        oldest = None if window is None else time.monotonic() - window
        for msg in self.messages.values():
            if (
                msg.channel_id == channel_id
                and str(msg.payload.get("nonce")) == nonce
                and msg.payload["author"]["id"] == str(author_id)
                and (oldest is None or msg.stored_at >= oldest)
            ):
                return msg
        return None

    def add_message(self, message: StoredMessage) -> StoredMessage:
        """Store a built message and announce MESSAGE_CREATE."""
        self.messages[message.id] = message
        self.channel_messages.setdefault(message.channel_id, []).append(message.id)
        self._announce("MESSAGE_CREATE", message)
        return message

    def edit_message(
        self,
        message: StoredMessage,
        body: dict[str, Any],
        files: list[BodyPart],
        *,
        record_history: bool = True,
        permissions: int = ALL_PERMISSIONS,
    ) -> StoredMessage:
        """Apply an edit body (only keys present change), keeping the previous version in history.

        `permissions`: the editor's effective ones (embeds and @everyone as in build_message).
        A refused edit leaves the message as it was.
        """
        before = copy.deepcopy(message.payload)
        files_before = list(message.attachment_files)
        try:
            self._apply_edit(message, body, files, permissions)
        except ApiError:
            message.payload, message.attachment_files = before, files_before
            raise
        payload = message.payload
        if message.loading:
            # Filling a deferred "thinking" message is its first content, not an edit.
            message.loading = False
            payload["flags"] = int(payload.get("flags", 0)) & ~LOADING
        elif record_history:
            message.history.append(before)
            payload["edited_timestamp"] = iso_now()
        self._announce("MESSAGE_UPDATE", message)
        return message

    def _apply_edit(
        self, message: StoredMessage, body: dict[str, Any], files: list[BodyPart], permissions: int
    ) -> None:
        payload = message.payload
        flags = int(payload.get("flags", 0))
        if body.get("flags") is not None:
            flags = int(body["flags"])
        validate_message_fields(body, flags=flags)
        if "content" in body:
            content = "" if body["content"] is None else str(body["content"])
            if len(content) > 2000:
                raise _too_long("content", 2000)
            payload["content"] = content
            payload["mentions"] = self._mentions(content)
            payload["mention_everyone"] = self._mentions_everyone(content, body, permissions)
        if "attachments" in body or files:
            message.attachment_files = self._attachments(
                message.channel_id, body, files, message.attachment_files
            )
            payload["attachments"] = [a.to_payload() for a in message.attachment_files]
        if "embeds" in body or "embed" in body:
            raw = list(body.get("embeds") or [])
            if body.get("embed"):
                raw.append(body["embed"])
            validate_embeds(raw)
            payload["embeds"] = self._embeds(self._embeds_allowed(raw, permissions), message.attachment_files)
        if "components" in body:
            payload["components"] = stored_components(list(body.get("components") or []))
        if "flags" in body and body["flags"] is not None:
            keep = payload.get("flags", 0) & EPHEMERAL
            payload["flags"] = (int(body["flags"]) & SETTABLE_FLAGS) | keep
        # An edit that leaves nothing to show is an empty message (opcodes-and-status-codes.mdx 50006;
        # message.mdx "Edit Message" keeps the create rule that one of content/embeds/... is present).
        if not has_message_content(payload):
            raise ApiError(400, 50006)

    def _reference(self, channel_id: int, reference: Any) -> dict[str, Any] | None:
        """Return the reply reference to store, or refuse one whose message does not exist.

        message.mdx L1071: the referenced message must exist; L333 `fail_if_not_exists` (default true):
        false sends a normal message instead. Assumption: the field code of the error. Forwards (type 1)
        are not modelled beyond existence either.
        """
        if not isinstance(reference, dict) or not reference:
            return None
        raw_id = reference.get("message_id")
        target_channel = int(str(reference.get("channel_id") or channel_id))
        target = self.messages.get(int(str(raw_id))) if str(raw_id or "").isdigit() else None
        if target is None or target.deleted or target.channel_id != target_channel:
            if reference.get("fail_if_not_exists") is False:
                return None
            raise invalid_form("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
        # As stored and echoed: message.mdx L338 "`channel_id` ... will always be present when receiving
        # an event/response"; `type` defaults to 0 (DEFAULT). Both are required in the OpenAPI
        # document's MessageReferenceResponse; `fail_if_not_exists` is a sending option only.
        stored = {k: v for k, v in reference.items() if k != "fail_if_not_exists"}
        stored.setdefault("type", 0)
        stored["channel_id"] = str(target_channel)
        stored["message_id"] = str(raw_id)
        guild_id = self.channels[target_channel].guild_id if target_channel in self.channels else None
        if guild_id is not None:
            stored["guild_id"] = str(guild_id)
        return stored

    def delete_message(self, message: StoredMessage) -> None:
        """Mark a message deleted and announce MESSAGE_DELETE."""
        message.deleted = True
        self._announce("MESSAGE_DELETE", message)

    def _announce(self, event: str, message: StoredMessage) -> None:
        for listener in list(self.message_listeners):
            listener(event, message)

    def gateway_message(self, message: StoredMessage) -> dict[str, Any]:
        """Return the message as a gateway event carries it (adds guild_id and the author's member)."""
        payload = copy.deepcopy(message.payload)
        channel = self.channels.get(message.channel_id)
        if channel is not None and channel.guild_id is not None:
            payload["guild_id"] = str(channel.guild_id)
            guild = self.guilds[channel.guild_id]
            member = guild.member(int(payload["author"]["id"]))
            if member is not None:
                data = member_payload(member)
                data.pop("user")
                payload["member"] = data
        return payload

    # -- queries -----------------------------------------------------------------------------------

    def messages_in(
        self, channel_id: int, *, include_deleted: bool = False, include_ephemeral: bool = False
    ) -> list[StoredMessage]:
        """Return the channel's messages in send order."""
        result = []
        for mid in self.channel_messages.get(channel_id, []):
            msg = self.messages[mid]
            if (include_deleted or not msg.deleted) and (include_ephemeral or not msg.ephemeral):
                result.append(msg)
        return result
