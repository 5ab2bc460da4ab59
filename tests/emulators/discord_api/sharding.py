"""Worlds of several guilds placed on chosen shards, for the sharding tests (synthetic ids and names).

A guild's shard is `(guild_id >> 22) % num_shards` (gateway.mdx "Sharding Formula"); these ids are made
so that each guild lands on the shard a test asks for, whatever the number of shards it uses.
"""

from __future__ import annotations

from collections.abc import Sequence

from .state import GUILD_ID, ChannelConfig, EmulatorConfig, GuildConfig, MemberConfig, default_config


def shard_of(guild_id: int, num_shards: int) -> int:
    """Return the shard that holds a guild (the documented formula)."""
    return (guild_id >> 22) % num_shards


def guild_id_on_shard(shard_id: int, num_shards: int, index: int) -> int:
    """Return a synthetic guild id, the index-th of its kind, that shard_id of num_shards holds."""
    timestamp = (GUILD_ID >> 22) + 1000 * (index + 1)
    timestamp += (shard_id - timestamp) % num_shards
    return (timestamp << 22) + 1000


def alerts_channel_of(guild_id: int) -> int:
    """Return the id of the #alerts channel `sharded_config` gives a guild it adds."""
    return guild_id + 101


def sharded_config(shards: Sequence[int], num_shards: int, *, max_concurrency: int = 1) -> EmulatorConfig:
    """Return the default world plus one guild per entry of `shards`, on that shard of num_shards.

    Each added guild has an #alerts channel and the default guild's owner and member (its owner is the
    default owner, so they may manage it). ``max_concurrency`` shards may IDENTIFY together.
    """
    config = default_config(heartbeat_interval_ms=500)
    config.gateway.identify_window = 0.1
    config.gateway.max_concurrency = max_concurrency
    base = config.guilds[0]
    for index, shard in enumerate(shards):
        guild_id = guild_id_on_shard(shard, num_shards, index)
        config.guilds.append(
            GuildConfig(
                id=guild_id,
                name=f"Shard {shard} server {index}",
                owner_id=base.owner_id,
                channels=[ChannelConfig(id=alerts_channel_of(guild_id), name="alerts")],
                members=[MemberConfig(user=m.user) for m in base.members[:2]],
            )
        )
    return config
