"""The emulator routes like a sharded gateway (developers/events/gateway.mdx, "Sharding").

Each session identified with `shard: [shard_id, num_shards]` gets READY and GUILD_CREATE for the guilds
`(guild_id >> 22) % num_shards` gives it, and only those guilds' events; events without a guild (DMs, DM
interactions) go to shard 0 only. Raw websocket clients, so what each shard receives is read as sent.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.sharding import alerts_channel_of, shard_of, sharded_config
from tests.emulators.discord_api.state import GUILD_ID, MEMBER_ID, EmulatorConfig
from tests.emulators.test_discord_api_gateway_strict import GUILDS, RawGateway, raw_gateway, ready

GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
INTENTS = GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES


@pytest.fixture
def discord_config() -> EmulatorConfig:
    """Return the default guild plus three: one on shard 0 and two on shard 1 of 2.

    max_concurrency 2 lets shards 0 and 1 IDENTIFY together (rate-limit keys 0 and 1).
    """
    config = sharded_config([0, 1, 1], 2)
    config.gateway.max_concurrency = 2
    return config


async def dispatched(gw: RawGateway, timeout: float = 0.3) -> list[tuple[str, Any]]:  # noqa: ASYNC109
    """Return the (event, data) pairs that arrive until the gateway is quiet for `timeout`."""
    events = []
    while True:
        try:
            message = await gw.recv(timeout)
        except TimeoutError:
            return events
        if message is None:
            return events
        if message["op"] == 0:
            events.append((message["t"], message["d"]))


def guild_ids(emu: DiscordEmulator, shard: int) -> set[str]:
    return {str(g) for g in emu.world.guilds if shard_of(g, 2) == shard}


async def test_ready_and_guild_create_carry_only_the_shards_guilds(discord_emu: DiscordEmulator) -> None:
    assert shard_of(GUILD_ID, 2) == 0 and len(guild_ids(discord_emu, 0)) == 2
    async with raw_gateway(discord_emu) as zero, raw_gateway(discord_emu) as one:
        ready_zero = await ready(zero, discord_emu, shard=[0, 2], intents=INTENTS)
        ready_one = await ready(one, discord_emu, shard=[1, 2], intents=INTENTS)
        created_zero = {d["id"] for t, d in await dispatched(zero) if t == "GUILD_CREATE"}
        created_one = {d["id"] for t, d in await dispatched(one) if t == "GUILD_CREATE"}
    assert {g["id"] for g in ready_zero["guilds"]} == created_zero == guild_ids(discord_emu, 0)
    assert {g["id"] for g in ready_one["guilds"]} == created_one == guild_ids(discord_emu, 1)


async def test_a_guilds_events_reach_only_its_shard_and_dms_only_shard_0(
    discord_emu: DiscordEmulator,
) -> None:
    on_one = next(g for g in discord_emu.world.guilds if shard_of(g, 2) == 1)
    async with raw_gateway(discord_emu) as zero, raw_gateway(discord_emu) as one:
        await ready(zero, discord_emu, shard=[0, 2], intents=INTENTS)
        await ready(one, discord_emu, shard=[1, 2], intents=INTENTS)
        await asyncio.gather(dispatched(zero), dispatched(one))  # the GUILD_CREATEs
        discord_emu.user_message(alerts_channel_of(on_one), MEMBER_ID, "in a shard 1 server")
        discord_emu.set_role_permissions(on_one, on_one, 0)
        dm = discord_emu.world.open_dm(MEMBER_ID)
        discord_emu.user_message(dm.id, MEMBER_ID, "a direct message")
        got_zero, got_one = await asyncio.gather(dispatched(zero), dispatched(one))
    # Without MESSAGE_CONTENT a guild message's content is blanked; its channel says where it was.
    assert [(t, d.get("channel_id")) for t, d in got_one] == [
        ("MESSAGE_CREATE", str(alerts_channel_of(on_one))),
        ("GUILD_ROLE_UPDATE", None),
    ]
    assert [(t, d.get("content")) for t, d in got_zero] == [("MESSAGE_CREATE", "a direct message")]


async def test_an_interaction_goes_to_its_guilds_shard_and_a_dm_interaction_to_shard_0(
    discord_emu: DiscordEmulator,
) -> None:
    on_one = next(g for g in discord_emu.world.guilds if shard_of(g, 2) == 1)
    guild = discord_emu.world.guilds[on_one]
    channel = discord_emu.world.channels[alerts_channel_of(on_one)]
    dm = discord_emu.world.open_dm(MEMBER_ID)
    async with raw_gateway(discord_emu) as zero, raw_gateway(discord_emu) as one:
        await ready(zero, discord_emu, shard=[0, 2], intents=INTENTS)
        await ready(one, discord_emu, shard=[1, 2], intents=INTENTS)
        await asyncio.gather(dispatched(zero), dispatched(one))
        data = {"id": "1", "name": "price", "type": 1}
        discord_emu.driver.dispatch(2, data, guild=guild, channel=channel, user_id=MEMBER_ID)
        discord_emu.driver.dispatch(2, data, guild=None, channel=dm, user_id=MEMBER_ID)
        got_zero, got_one = await asyncio.gather(dispatched(zero), dispatched(one))
    assert [d.get("guild_id") for t, d in got_one if t == "INTERACTION_CREATE"] == [str(on_one)]
    assert [d.get("guild_id") for t, d in got_zero if t == "INTERACTION_CREATE"] == [None]


async def test_two_sessions_of_one_shard_both_get_its_events(discord_emu: DiscordEmulator) -> None:
    # "You can establish multiple sessions with the same [shard_id, num_shards]" (Sharding).
    on_one = next(g for g in discord_emu.world.guilds if shard_of(g, 2) == 1)
    async with raw_gateway(discord_emu) as first, raw_gateway(discord_emu) as second:
        await ready(first, discord_emu, shard=[1, 2], intents=INTENTS)
        await asyncio.sleep(0.15)  # max_concurrency 1: one IDENTIFY per identify_window (0.1 s here)
        await ready(second, discord_emu, shard=[1, 2], intents=INTENTS)
        await asyncio.gather(dispatched(first), dispatched(second))
        discord_emu.set_role_permissions(on_one, on_one, 0)
        got = await asyncio.gather(dispatched(first), dispatched(second))
    assert [[t for t, _ in events] for events in got] == [["GUILD_ROLE_UPDATE"]] * 2
