"""Configuration of the emulated Discord world and the state the emulator keeps while it runs."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .gateway_config import GatewayConfig

# Discord's epoch (2015-01-01T00:00:00Z) in milliseconds; snowflakes encode milliseconds since then.
DISCORD_EPOCH_MS = 1_420_070_400_000

# Permission bits (developers/topics/permissions.mdx "Bitwise Permission Flags").
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
SEND_TTS_MESSAGES = 1 << 12
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_APPLICATION_COMMANDS = 1 << 31
ALL_PERMISSIONS = (1 << 53) - 1

#: What @everyone may do in a freshly created Discord server (the parts a bot cares about).
DEFAULT_EVERYONE_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_APPLICATION_COMMANDS
)

# Channel types (discord/enums.py ChannelType).
GUILD_TEXT = 0
DM = 1

# 10 MiB: the upload limit Discord gives bots in servers without boosts; sent as attachment_size_limit.
DEFAULT_ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


class SnowflakeFactory:
    """Make real Discord snowflakes, so `discord.utils.snowflake_time()` gives the creation time."""

    def __init__(self, worker: int = 1) -> None:
        self._worker = worker & 0x1F
        self._increment = itertools.count()
        self._lock = threading.Lock()
        self._last = 0

    def __call__(self) -> int:
        """Return a new snowflake, strictly greater than the previous one."""
        with self._lock:
            ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
            value = (ms << 22) | (self._worker << 17) | (next(self._increment) & 0xFFF)
            self._last = max(value, self._last + 1)
            return self._last


@dataclass
class UserConfig:
    """A Discord user (or the bot user) that the emulated world knows."""

    id: int
    username: str
    bot: bool = False
    global_name: str | None = None
    # A user who blocks DMs from server members: sending them a DM gives 403 code 50007.
    dms_closed: bool = False


@dataclass
class RoleConfig:
    """A guild role; the role whose id equals the guild id is @everyone."""

    id: int
    name: str
    permissions: int = 0
    position: int = 1
    color: int = 0
    # A bot's own role, created when it joins (role_payload adds tags.bot_id).
    managed: bool = False


# Overwrite target types (developers/resources/channel.mdx "Overwrite Structure": 0 role, 1 member).
ROLE_OVERWRITE = 0
MEMBER_OVERWRITE = 1


@dataclass
class PermissionOverwrite:
    """A channel permission overwrite for a role (@everyone's id is the guild id) or a member."""

    id: int
    type: int = ROLE_OVERWRITE
    allow: int = 0
    deny: int = 0

    def to_payload(self) -> dict[str, Any]:
        """Return the overwrite object Discord sends in a channel's permission_overwrites."""
        return {"id": str(self.id), "type": self.type, "allow": str(self.allow), "deny": str(self.deny)}


@dataclass
class ChannelConfig:
    """A text channel in a guild, with its permission overwrites."""

    id: int
    name: str
    type: int = GUILD_TEXT
    position: int = 0
    topic: str | None = None
    overwrites: list[PermissionOverwrite] = field(default_factory=list)


@dataclass
class MemberConfig:
    """A user's membership of a guild."""

    user: UserConfig
    roles: list[int] = field(default_factory=list)
    nick: str | None = None


@dataclass
class GuildConfig:
    """A guild (server) the bot is in, with its roles, text channels and members."""

    id: int
    name: str
    owner_id: int
    channels: list[ChannelConfig] = field(default_factory=list)
    members: list[MemberConfig] = field(default_factory=list)
    roles: list[RoleConfig] = field(default_factory=list)
    everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS
    # Permissions of the bot's managed role (what it was invited with); the bot also has @everyone's.
    bot_permissions: int = DEFAULT_EVERYONE_PERMISSIONS
    # Id of that managed role; None: the guild id + 999 (synthetic, like every id of the default world).
    bot_role_id: int | None = None

    def everyone_role(self) -> RoleConfig:
        """Return the @everyone role (created on demand, id = guild id)."""
        for role in self.roles:
            if role.id == self.id:
                return role
        role = RoleConfig(id=self.id, name="@everyone", permissions=self.everyone_permissions, position=0)
        self.roles.insert(0, role)
        return role

    def bot_role(self) -> RoleConfig:
        """Return the bot's managed role (created on demand), whose permissions are `bot_permissions`."""
        role_id = self.id + 999 if self.bot_role_id is None else self.bot_role_id
        for role in self.roles:
            if role.id == role_id:
                role.permissions = self.bot_permissions
                return role
        role = RoleConfig(id=role_id, name="Tripwire", permissions=self.bot_permissions, managed=True)
        self.roles.append(role)
        return role

    def role(self, role_id: int) -> RoleConfig | None:
        """Return a role by id, if any."""
        return next((r for r in self.roles if r.id == role_id), None)

    def member(self, user_id: int) -> MemberConfig | None:
        """Return the member with this user id, if any."""
        return next((m for m in self.members if m.user.id == user_id), None)

    def roles_of(self, user_id: int, bot_id: int | None = None) -> list[int]:
        """Return the role ids a member has (the bot has its managed role), without @everyone."""
        member = self.member(user_id)
        roles = list(member.roles) if member is not None else []
        if bot_id is not None and user_id == bot_id:
            roles.append(self.bot_role().id)
        return roles

    def permissions_of(self, user_id: int, bot_id: int | None = None) -> int:
        """Compute a member's base (guild-level) permissions: compute_base_permissions in permissions.mdx."""
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        value = self.everyone_role().permissions
        held = set(self.roles_of(user_id, bot_id))
        for role in self.roles:
            if role.id in held:
                value |= role.permissions
        return ALL_PERMISSIONS if value & ADMINISTRATOR else value


@dataclass
class RateLimitRule:
    """`limit` requests per `per` seconds in one bucket."""

    limit: int
    per: float


@dataclass
class RateLimitConfig:
    """Per-route buckets and the global limit, with Discord's defaults for message creation."""

    enabled: bool = True
    # POST /channels/{channel_id}/messages: 5 per 5 s per channel, as Discord documents for bots.
    message_create: RateLimitRule = field(default_factory=lambda: RateLimitRule(5, 5.0))
    # Followups/edits through an interaction token (per webhook id + token).
    webhook: RateLimitRule = field(default_factory=lambda: RateLimitRule(5, 2.0))
    # Every other bot route, per route and major parameter.
    default: RateLimitRule = field(default_factory=lambda: RateLimitRule(50, 1.0))
    # Route-specific overrides keyed by "METHOD /template",
    # e.g. "PATCH /channels/{channel_id}/messages/{message_id}".
    routes: dict[str, RateLimitRule] = field(default_factory=dict)
    # Requests per second across all bot-authenticated routes.
    global_per_second: int = 50
    # rate-limits.mdx "Invalid Request Limit aka Cloudflare bans": 10,000 responses of 401, 403 or 429
    # (except 429s with X-RateLimit-Scope: shared) per 10 minutes from one IP address earn a temporary ban.
    invalid_request_limit: int = 10_000
    invalid_request_window: float = 600.0
    # How long the ban lasts is not documented ("temporarily restricted"); assumption: one hour.
    invalid_request_ban: float = 3600.0


@dataclass
class EmulatorConfig:
    """Everything needed to start an emulator: identities, guilds, timings and limits."""

    token: str = "emulator-bot-token"
    bot: UserConfig = field(
        default_factory=lambda: UserConfig(id=1_190_000_000_000_000_001, username="Tripwire", bot=True)
    )
    application_id: int = 1_190_000_000_000_000_001
    application_name: str = "Tripwire"
    app_owner: UserConfig = field(
        default_factory=lambda: UserConfig(id=1_190_000_000_000_000_100, username="owner")
    )
    guilds: list[GuildConfig] = field(default_factory=list)
    # Users known to the world but not in any guild (for DMs and user options).
    users: list[UserConfig] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0
    heartbeat_interval_ms: int = 41_250
    rate_limits: RateLimitConfig = field(default_factory=RateLimitConfig)
    attachment_size_limit: int = DEFAULT_ATTACHMENT_SIZE_LIMIT
    # Discord drops an interaction not answered within 3 s (callback then gives 404 code 10062).
    # None disables the check.
    interaction_ack_timeout: float | None = 3.0
    # Gateway limits and timings (gateway_config.py): intents, versions, send rate, identify limits.
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    # Refuse a command over 8,000 characters (application-commands.mdx "Application Command Size").
    enforce_command_size: bool = True
    # application-commands.mdx L177: 200 command creates per day, per guild (None: no limit).
    command_creates_per_day: int | None = 200
    command_create_window: float = 86_400.0
    # message.mdx L1072: a message request is at most 25 MiB (attachment_size_limit is per file).
    message_request_size_limit: int = 25 * 1024 * 1024
    # Interaction tokens are valid for 15 minutes (interactions/receiving-and-responding.mdx, "Interaction
    # tokens are valid for **15 minutes**"): later followups and GET/PATCH/DELETE of @original or of a
    # followup answer 401 code 50027. Seconds from the interaction's creation; None: tokens never expire.
    interaction_token_ttl: float | None = 15 * 60.0
    # Create Message's enforce_nonce checks the nonce "for uniqueness in the past few minutes"
    # (resources/message.mdx); the documents give no figure, 3 minutes is assumed. After the window the
    # same nonce creates a new message. Seconds; None: the nonce is remembered for ever.
    nonce_window: float | None = 180.0

    def all_users(self) -> dict[int, UserConfig]:
        """Return every user the world knows by id (bot, app owner, members, extra users)."""
        users: dict[int, UserConfig] = {self.bot.id: self.bot, self.app_owner.id: self.app_owner}
        for guild in self.guilds:
            for member in guild.members:
                users[member.user.id] = member.user
        for user in self.users:
            users[user.id] = user
        return users


# Stable ids for the default world, so tests and the standalone CLI can name them.
GUILD_ID = 1_190_000_000_000_001_000
ALERTS_CHANNEL_ID = 1_190_000_000_000_001_101
GENERAL_CHANNEL_ID = 1_190_000_000_000_001_102
PRIVATE_CHANNEL_ID = 1_190_000_000_000_001_103
MOD_ROLE_ID = 1_190_000_000_000_001_201
OWNER_ID = 1_190_000_000_000_002_001
MEMBER_ID = 1_190_000_000_000_002_002
CLOSED_DMS_ID = 1_190_000_000_000_002_003
MOD_ID = 1_190_000_000_000_002_004


def default_config(**overrides: Any) -> EmulatorConfig:
    """Return a one-guild world: #alerts, #general, a private #staff-only, four members (synthetic)."""
    owner = UserConfig(id=OWNER_ID, username="alice", global_name="Alice")
    member = UserConfig(id=MEMBER_ID, username="bob", global_name="Bob")
    closed = UserConfig(id=CLOSED_DMS_ID, username="carol", global_name="Carol", dms_closed=True)
    mod = UserConfig(id=MOD_ID, username="dave", global_name="Dave")
    guild = GuildConfig(
        id=GUILD_ID,
        name="Tripwire Test Server",
        owner_id=OWNER_ID,
        roles=[RoleConfig(id=MOD_ROLE_ID, name="Moderator", permissions=MANAGE_GUILD, position=1)],
        channels=[
            ChannelConfig(id=ALERTS_CHANNEL_ID, name="alerts", position=0),
            ChannelConfig(id=GENERAL_CHANNEL_ID, name="general", position=1),
            # Private: @everyone (the bot included) may not view it; the Moderator role may.
            ChannelConfig(
                id=PRIVATE_CHANNEL_ID,
                name="staff-only",
                position=2,
                overwrites=[
                    PermissionOverwrite(GUILD_ID, deny=VIEW_CHANNEL),
                    PermissionOverwrite(MOD_ROLE_ID, allow=VIEW_CHANNEL),
                ],
            ),
        ],
        members=[
            MemberConfig(user=owner),
            MemberConfig(user=member),
            MemberConfig(user=closed),
            MemberConfig(user=mod, roles=[MOD_ROLE_ID]),
        ],
    )
    config = EmulatorConfig(guilds=[guild], app_owner=owner)
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


@dataclass
class ChannelRecord:
    """A channel as the emulator tracks it at run time (guild text channel or DM)."""

    id: int
    type: int
    name: str | None = None
    guild_id: int | None = None
    position: int = 0
    topic: str | None = None
    recipient_id: int | None = None
    overwrites: list[PermissionOverwrite] = field(default_factory=list)
    deleted: bool = False


@dataclass
class StoredAttachment:
    """A file the bot uploaded, with its exact bytes."""

    id: int
    filename: str
    data: bytes = field(repr=False)
    content_type: str | None
    url: str
    description: str | None = None
    width: int | None = None
    height: int | None = None

    @property
    def size(self) -> int:
        """Return the size in bytes."""
        return len(self.data)

    def to_payload(self) -> dict[str, Any]:
        """Return the attachment object; discord/message.py Attachment requires url and proxy_url."""
        payload: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
        }
        if self.description is not None:
            payload["description"] = self.description
        if self.width is not None and self.height is not None:
            payload["width"] = self.width
            payload["height"] = self.height
        return payload


@dataclass
class StoredMessage:
    """A message as it stands now, plus every earlier version and whether it was deleted."""

    id: int
    channel_id: int
    payload: dict[str, Any] = field(repr=False)
    attachment_files: list[StoredAttachment] = field(default_factory=list, repr=False)
    history: list[dict[str, Any]] = field(default_factory=list, repr=False)
    deleted: bool = False
    # "channel" (REST send), "interaction" (callback), "followup", "user" (sent by a simulated user).
    source: str = "channel"
    interaction_id: int | None = None
    # True while a deferred ("thinking") response is still waiting for its content.
    loading: bool = False
    # When the emulator stored it (time.monotonic()), for the nonce window.
    stored_at: float = field(default_factory=time.monotonic, repr=False)

    def __repr__(self) -> str:
        files = [a.filename for a in self.attachment_files]
        return (
            f"<StoredMessage id={self.id} channel={self.channel_id} content={self.content!r} "
            f"embeds={len(self.embeds)} files={files} edits={self.edits} deleted={self.deleted}>"
        )

    @property
    def content(self) -> str:
        """Return the current text content."""
        return str(self.payload.get("content") or "")

    @property
    def embeds(self) -> list[dict[str, Any]]:
        """Return the current embeds as dicts."""
        return list(self.payload.get("embeds") or [])

    @property
    def components(self) -> list[dict[str, Any]]:
        """Return the current component rows as dicts."""
        return list(self.payload.get("components") or [])

    @property
    def flags(self) -> int:
        """Return the message flags bitfield."""
        return int(self.payload.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        """Return whether only the invoking user can see the message (flag 64)."""
        return bool(self.flags & 64)

    @property
    def attachments(self) -> list[StoredAttachment]:
        """Return the current attachments with their bytes."""
        return list(self.attachment_files)

    @property
    def edits(self) -> int:
        """Return how many times the message was edited."""
        return len(self.history)


@dataclass
class InteractionRecord:
    """One interaction the emulator dispatched and everything the bot did in answer."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    channel_id: int | None
    guild_id: int | None
    user_id: int
    created_at: float
    callback: dict[str, Any] | None = None
    callback_type: int | None = None
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    # Message the component was on (type 3 interactions).
    component_message_id: int | None = None
    # Set once a deferred (5/6) response got its content via edit or first followup.
    completed: bool = False
    choices: list[dict[str, Any]] | None = None
    modal: dict[str, Any] | None = None
