"""Two clients of one bot token share one global limit through Redis, checked at the Discord emulator.

The emulator enforces Discord's 50 requests/s itself; here the shared window is set to 4 per second so a
handful of messages shows it: whatever each client sends, the emulator never sees more than 4 of their
requests in any second (counted from the times it received them).
"""

from __future__ import annotations

import asyncio

import discord

from bot.discord.shared_limit import share_global_limit
from bot.notify.shared_limit import RedisWindow
from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.fixtures import ConnectBot
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID
from tests.redis_server import fresh_key, require_redis


def most_in_any_second(times: list[float]) -> int:
    ordered = sorted(times)
    return max(sum(1 for t in ordered[i:] if t - start < 1.0) for i, start in enumerate(ordered))


async def test_two_clients_together_stay_within_the_shared_window(
    discord_emu: DiscordEmulator, connected_bot: ConnectBot
) -> None:
    url, key = require_redis(), fresh_key()
    windows = [RedisWindow.from_url(url, key, 4, 1.0) for _ in range(2)]
    make = lambda: discord.Client(intents=discord.Intents.none(), **client_options())  # noqa: E731
    try:
        async with connected_bot(make) as first, connected_bot(make) as second:
            began = discord_emu.requests[-1].at
            for client, window in zip((first, second), windows, strict=True):
                share_global_limit(client, window)
            sends = [
                client.get_partial_messageable(channel).send(f"message {n}")
                for client, channel in ((first, ALERTS_CHANNEL_ID), (second, GENERAL_CHANNEL_ID))
                for n in range(4)
            ]
            await asyncio.gather(*sends)
    finally:
        for window in windows:
            await window.close()
    posts = [r.at for r in discord_emu.requests if r.method == "POST" and r.at > began and r.status == 200]
    assert len(posts) == 8
    assert most_in_any_second(posts) <= 4
    assert sum(w.waits for w in windows) > 0
