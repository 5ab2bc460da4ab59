"""Pytest fixtures: a running Discord emulator with discord.py pointed at it, and a bot connector.

tests/emulators/conftest.py imports them; a conftest elsewhere gets them with one line:

    from tests.emulators.discord_api.fixtures import connected_bot, discord_config, discord_emu  # noqa: F401

Then:

    async def test_something(discord_emu, connected_bot):
        async with connected_bot(make_my_bot) as bot:      # a factory or a discord.Client instance
            reply = await discord_emu.slash("price", {"symbol": "BTCUSDT"})

Override `discord_config` in a test module (or with @pytest.mark.parametrize(..., indirect=True)) to
change guilds, rate limits or timings.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import discord
import pytest

from .conformance import check_and_tally
from .harness import connected_bot as _connected_bot
from .harness import patch_discord_py
from .server import DiscordEmulator
from .state import EmulatorConfig, default_config

BotSource = discord.Client | Callable[[], discord.Client]
ConnectBot = Callable[..., AbstractAsyncContextManager[discord.Client]]


@pytest.fixture
def discord_config() -> EmulatorConfig:
    """Return the default one-guild world with a 0.5 s heartbeat (fast, yet well under heartbeat_timeout).

    IDENTIFYs are limited to one per 0.1 s instead of 5 s (BotRunner's identify hook waits that long
    before a re-IDENTIFY, as discord.py waits 5 s); every other gateway limit is Discord's.
    """
    config = default_config(heartbeat_interval_ms=500)
    config.gateway.identify_window = 0.1
    return config


def check_discord_py_compression(emu: DiscordEmulator) -> None:
    """Fail unless every connection discord.py made used its default transport compression.

    discord.py always asks for zlib-stream (zstd-stream when zstandard imports); this catches a helper
    that turns it off, and the emulator sending such a client an uncompressed frame. With
    TRIPWIRE_GATEWAY_FRAME_STATS set to a file, the frame counts are appended to it (one line a test).
    """
    expected = discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE
    sent = compressed = 0
    for conn in emu.gateway.connections:
        identify = conn.session.identify if conn.session is not None else {}
        if identify.get("properties", {}).get("browser") != "discord.py":
            continue  # a raw test client
        assert conn.query.get("compress") == expected, f"discord.py connected with {conn.query}"
        assert conn.compressed_frames == conn.frames_sent, f"uncompressed frames sent to discord.py: {conn}"
        sent += conn.frames_sent
        compressed += conn.compressed_frames
    stats = os.environ.get("TRIPWIRE_GATEWAY_FRAME_STATS")
    if stats:
        with open(stats, "a", encoding="utf-8") as out:
            out.write(f"{sent} {compressed} {emu.gateway.frames_sent} {emu.gateway.compressed_frames}\n")


def _pending_tasks() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if not t.done() and t is not asyncio.current_task()}


@pytest.fixture
async def discord_emu(
    discord_config: EmulatorConfig, request: pytest.FixtureRequest
) -> AsyncIterator[DiscordEmulator]:
    """Yield a running emulator with discord.py's REST base and gateway URL patched to it.

    At teardown every request of the test and every answer is checked against Discord's OpenAPI
    document (conformance/); any mismatch fails the test. A test that sends bad requests on purpose
    marks itself `@pytest.mark.discord_invalid_requests`: the ones the emulator refused are then expected;
    `(accepted="page: why")` expects accepted ones too, where the documentation overrules the document.
    """
    before = _pending_tasks()
    async with DiscordEmulator(discord_config) as emu:
        with patch_discord_py(emu):
            yield emu
    check_discord_py_compression(emu)
    # Give cancelled tasks one loop turn to finish, then fail on anything the test left running.
    await asyncio.sleep(0)
    leaked = [t for t in _pending_tasks() - before if not t.get_name().startswith("pytest")]
    assert not leaked, f"tasks left running after the test: {leaked}"
    # Every request of the test and every answer must fit Discord's OpenAPI document.
    marker = request.node.get_closest_marker("discord_invalid_requests")
    report = check_and_tally(
        emu.requests,
        invalid_requests_expected=marker is not None,
        even_accepted=marker is not None and bool(marker.kwargs.get("accepted")),
    )
    if report.mismatches:
        pytest.fail(report.describe(), pytrace=False)


@pytest.fixture
def connected_bot(discord_emu: DiscordEmulator) -> ConnectBot:
    """Return `connect(bot_or_factory, **kw)`: an async context manager yielding a ready, connected bot."""

    def connect(source: BotSource, **kwargs: object) -> AbstractAsyncContextManager[discord.Client]:
        bot = source if isinstance(source, discord.Client) else source()
        return _connected_bot(bot, discord_emu, **kwargs)  # type: ignore[arg-type]

    return connect
