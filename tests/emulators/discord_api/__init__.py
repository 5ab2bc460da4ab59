"""A local Discord API emulator (REST + gateway) for end-to-end tests of a real discord.py 2.7.1 bot.

Named `discord_api`, not `discord`, so it never shadows discord.py.
"""

from __future__ import annotations

from .driver import InteractionReply, InteractionTimeout
from .faults import Fault
from .harness import (
    TEST_CLIENT_OPTIONS,
    BotRunner,
    RemoteEmulator,
    client_options,
    connected_bot,
    no_identify_delay,
    patch_discord_py,
)
from .recording import RecordedRequest
from .server import DiscordEmulator
from .state import (
    ChannelConfig,
    EmulatorConfig,
    GuildConfig,
    MemberConfig,
    RateLimitConfig,
    RateLimitRule,
    RoleConfig,
    StoredAttachment,
    StoredMessage,
    UserConfig,
    default_config,
)

__all__ = [
    "TEST_CLIENT_OPTIONS",
    "BotRunner",
    "ChannelConfig",
    "DiscordEmulator",
    "EmulatorConfig",
    "Fault",
    "GuildConfig",
    "InteractionReply",
    "InteractionTimeout",
    "MemberConfig",
    "RateLimitConfig",
    "RateLimitRule",
    "RecordedRequest",
    "RemoteEmulator",
    "RoleConfig",
    "StoredAttachment",
    "StoredMessage",
    "UserConfig",
    "client_options",
    "connected_bot",
    "default_config",
    "no_identify_delay",
    "patch_discord_py",
]
