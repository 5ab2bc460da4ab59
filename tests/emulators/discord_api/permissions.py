"""Channel permissions computed as developers/topics/permissions.mdx says, and the checks REST applies.

`channel_permissions` is the document's `compute_permissions` (base permissions, then the @everyone,
role and member overwrites). `effective` adds its "Implicit Permissions": without VIEW_CHANNEL nothing
else counts; without SEND_MESSAGES neither do MENTION_EVERYONE, SEND_TTS_MESSAGES, ATTACH_FILES and
EMBED_LINKS. Interaction payloads carry the first (member.permissions is "total permissions of the member
in the channel, including overwrites", developers/resources/guild.mdx); REST decides with the second.
"""

from __future__ import annotations

from .state import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    ATTACH_FILES,
    EMBED_LINKS,
    MEMBER_OVERWRITE,
    MENTION_EVERYONE,
    ROLE_OVERWRITE,
    SEND_MESSAGES,
    SEND_TTS_MESSAGES,
    VIEW_CHANNEL,
    ChannelRecord,
    GuildConfig,
    PermissionOverwrite,
)

# What "Implicit Permissions" says denying SEND_MESSAGES takes away.
_NEEDS_SEND = MENTION_EVERYONE | SEND_TTS_MESSAGES | ATTACH_FILES | EMBED_LINKS


def _overwrite(channel: ChannelRecord, target_id: int, kind: int) -> PermissionOverwrite | None:
    return next((o for o in channel.overwrites if o.id == target_id and o.type == kind), None)


def channel_permissions(guild: GuildConfig, channel: ChannelRecord, user_id: int, bot_id: int) -> int:
    """Return a member's permissions in a channel: base permissions with the overwrites applied."""
    base = guild.permissions_of(user_id, bot_id)
    # ADMINISTRATOR (and the owner, whose base is ALL) bypasses every overwrite.
    if base & ADMINISTRATOR:
        return ALL_PERMISSIONS
    permissions = base
    everyone = _overwrite(channel, guild.id, ROLE_OVERWRITE)
    if everyone is not None:
        permissions &= ~everyone.deny
        permissions |= everyone.allow
    # Role overwrites are combined first (allow wins over deny between roles), then applied together.
    allow = deny = 0
    for role_id in guild.roles_of(user_id, bot_id):
        role = _overwrite(channel, role_id, ROLE_OVERWRITE)
        if role is not None:
            allow |= role.allow
            deny |= role.deny
    permissions &= ~deny
    permissions |= allow
    member = _overwrite(channel, user_id, MEMBER_OVERWRITE)
    if member is not None:
        permissions &= ~member.deny
        permissions |= member.allow
    return permissions


def effective(permissions: int) -> int:
    """Apply the implicit denials: no VIEW_CHANNEL means nothing; no SEND_MESSAGES drops what needs it."""
    if permissions & ADMINISTRATOR:
        return permissions
    if not permissions & VIEW_CHANNEL:
        return 0
    if not permissions & SEND_MESSAGES:
        permissions &= ~_NEEDS_SEND
    return permissions
