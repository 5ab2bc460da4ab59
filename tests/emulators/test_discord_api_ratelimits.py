"""The invalid-request limit (Cloudflare ban), shared-scope 429s and configurable per-route buckets.

developers/topics/rate-limits.mdx. Limits and windows are made small so nothing waits long.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import discord
import pytest

from tests.emulators.discord_api import DiscordEmulator, RateLimitRule, client_options
from tests.emulators.discord_api.fixtures import ConnectBot
from tests.emulators.discord_api.ratelimit import InvalidRequestLimiter
from tests.emulators.discord_api.state import (
    ALERTS_CHANNEL_ID,
    PRIVATE_CHANNEL_ID,
    EmulatorConfig,
    RateLimitConfig,
    default_config,
)


def test_invalid_requests_are_counted_in_a_sliding_window_and_shared_429s_are_not() -> None:
    limiter = InvalidRequestLimiter(RateLimitConfig(invalid_request_limit=3, invalid_request_window=10.0))
    for at, status, scope in [(0.0, 403, None), (1.0, 200, None), (2.0, 429, "shared"), (3.0, 401, None)]:
        limiter.record("ip", status, scope, now=at)
    assert limiter.count("ip", now=3.0) == 2 and not limiter.banned("ip", now=3.0)
    limiter.record("ip", 404, None, now=4.0)  # only 401, 403 and 429 are invalid
    limiter.record("ip", 429, "user", now=10.5)  # the 403 at 0.0 has left the window
    assert limiter.count("ip", now=10.5) == 2 and not limiter.banned("ip", now=10.5)
    limiter.record("ip", 403, None, now=11.0)
    assert limiter.banned("ip", now=11.0) and limiter.bans == ["ip"]
    assert not limiter.banned("other", now=11.0)
    assert not limiter.banned("ip", now=11.0 + 3600.0)  # the default ban (an assumption) is an hour


@pytest.fixture
def discord_config() -> EmulatorConfig:
    """The default world with an invalid-request limit of 5 per minute and a 0.3 s ban."""
    config = default_config(heartbeat_interval_ms=500)
    config.rate_limits.invalid_request_limit = 5
    config.rate_limits.invalid_request_window = 60.0
    config.rate_limits.invalid_request_ban = 0.3
    return config


async def _get(session: aiohttp.ClientSession, emu: DiscordEmulator, path: str) -> aiohttp.ClientResponse:
    headers = {"Authorization": f"Bot {emu.config.token}"}
    async with session.get(emu.api_base + path, headers=headers) as resp:
        await resp.read()
        return resp


async def test_too_many_invalid_requests_earn_a_cloudflare_ban(discord_emu: DiscordEmulator) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(4):
            assert (await _get(session, discord_emu, f"/channels/{PRIVATE_CHANNEL_ID}")).status == 403
        assert (await _get(session, discord_emu, "/users/@me")).status == 200  # 4 of 5: not banned yet
        assert (await _get(session, discord_emu, f"/channels/{PRIVATE_CHANNEL_ID}")).status == 403
        banned = await _get(session, discord_emu, "/users/@me")  # a valid request, refused all the same
        assert banned.status == 429
        assert banned.headers["Content-Type"].startswith("text/html")
        assert "Via" not in banned.headers and "X-RateLimit-Limit" not in banned.headers
        await asyncio.sleep(0.35)  # the test world's ban lasts 0.3 s
        assert (await _get(session, discord_emu, "/users/@me")).status == 200
    assert len(discord_emu.invalid_requests.bans) == 1


async def test_discord_py_sees_the_ban_as_an_error_not_a_rate_limit(
    discord_emu: DiscordEmulator, connected_bot: ConnectBot
) -> None:
    # A bucket large enough that discord.py does not sleep out the window after the fifth send.
    discord_emu.config.rate_limits.message_create = RateLimitRule(50, 1.0)
    async with connected_bot(
        lambda: discord.Client(intents=discord.Intents.default(), **client_options())
    ) as bot:
        hidden = bot.get_partial_messageable(PRIVATE_CHANNEL_ID)
        for _ in range(5):
            with pytest.raises(discord.Forbidden):
                await hidden.send("x")
        with pytest.raises(discord.HTTPException) as banned:
            await bot.get_partial_messageable(ALERTS_CHANNEL_ID).send("fine")
        assert banned.value.status == 429 and not isinstance(banned.value, discord.Forbidden)


async def test_shared_scope_429s_do_not_count_toward_the_ban(discord_emu: DiscordEmulator) -> None:
    path = f"/channels/{ALERTS_CHANNEL_ID}"
    discord_emu.fail_next("GET", path, 429, times=8, scope="shared", retry_after=0.01)
    async with aiohttp.ClientSession() as session:
        for _ in range(8):
            resp = await _get(session, discord_emu, path)
            assert resp.status == 429 and resp.headers["X-RateLimit-Scope"] == "shared"
        assert (await _get(session, discord_emu, path)).status == 200
        # The same number of user-scope 429s does.
        discord_emu.fail_next("GET", path, 429, times=5, retry_after=0.01)
        for _ in range(5):
            assert (await _get(session, discord_emu, path)).status == 429
        assert (await _get(session, discord_emu, path)).headers["Content-Type"].startswith("text/html")


async def test_a_shared_429_has_discords_resource_body(discord_emu: DiscordEmulator) -> None:
    discord_emu.fail_next("GET", "/users/@me", 429, scope="shared", retry_after=1.5)
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            discord_emu.api_base + "/users/@me", headers={"Authorization": f"Bot {discord_emu.config.token}"}
        ) as resp,
    ):
        body: dict[str, Any] = await resp.json()
    assert resp.status == 429 and resp.headers["X-RateLimit-Scope"] == "shared"
    assert body == {"message": "The resource is being rate limited.", "retry_after": 1.5, "global": False}


async def test_discord_py_learns_a_route_limit_other_than_five_per_five_seconds(
    discord_emu: DiscordEmulator, connected_bot: ConnectBot
) -> None:
    # Rate limits "should not be hard coded" (rate-limits.mdx): a world with 3 per 0.4 s per channel.
    discord_emu.config.rate_limits.message_create = RateLimitRule(3, 0.4)
    async with connected_bot(
        lambda: discord.Client(intents=discord.Intents.default(), **client_options())
    ) as bot:
        channel = bot.get_partial_messageable(ALERTS_CHANNEL_ID)
        await asyncio.gather(*(channel.send(f"n{i}") for i in range(8)))
    sends = discord_emu.requests_matching("POST", f"/channels/{ALERTS_CHANNEL_ID}/messages")
    assert len(sends) == 8 and discord_emu.count_429 == 0
    assert {r.response_headers["X-RateLimit-Limit"] for r in sends} == {"3"}
    # 8 sends at 3 per window need three windows: the client waited for the resets it was told.
    assert sends[-1].at - sends[0].at >= 0.8
