"""The standalone emulator process and send_command, driven the way a developer would use them."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import AsyncIterator

import discord
import pytest
from discord import app_commands

from tests.emulators.discord_api import RemoteEmulator, client_options, connected_bot, patch_discord_py
from tests.emulators.discord_api.send_command import format_reply, parse_command
from tests.emulators.discord_api.state import GUILD_ID


class PriceBot(discord.Client):
    """A bot with two guild commands: /price symbol, and /mute, which answers with a button."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), **client_options())
        self.tree = app_commands.CommandTree(self)

        @self.tree.command(name="price", description="Last price", guild=discord.Object(GUILD_ID))
        async def price(interaction: discord.Interaction, symbol: str) -> None:
            embed = discord.Embed(title=f"{symbol} price", description="Last: 97,900.00")
            await interaction.response.send_message(embed=embed)

        @self.tree.command(name="mute", description="Offer a mute button", guild=discord.Object(GUILD_ID))
        async def mute(interaction: discord.Interaction) -> None:
            # No timeout: its timer task would outlive the test's bot.
            view = MuteView(timeout=None)
            await interaction.response.send_message("Mute this alert?", view=view, ephemeral=True)


class MuteView(discord.ui.View):
    """One button that, pressed, edits its message to say so."""

    @discord.ui.button(label="Mute", custom_id="mute-1")
    async def press(self, interaction: discord.Interaction, button: discord.ui.Button[MuteView]) -> None:
        await interaction.response.edit_message(content="Muted.", view=None)
        self.stop()


async def send_command(port: str, *words: str) -> tuple[int, str, str]:
    """Run send_command as a developer does; return its exit status, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.emulators.discord_api.send_command",
        "--port",
        port,
        *words,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=20)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _read_until(stream: asyncio.StreamReader, pattern: str, timeout: float = 10.0) -> re.Match[str]:  # noqa: ASYNC109
    lines: list[str] = []
    async with asyncio.timeout(timeout):
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError("emulator exited early:\n" + "".join(lines))
            lines.append(line)
            if match := re.search(pattern, line):
                return match


@pytest.fixture
async def emulator_process() -> AsyncIterator[tuple[asyncio.subprocess.Process, RemoteEmulator]]:
    """Start `python -m tests.emulators.discord_api --port 0` and yield it with its URLs."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.emulators.discord_api",
        "--port",
        "0",
        "--heartbeat-ms",
        "1000",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    try:
        api = (await _read_until(proc.stdout, r"TRIPWIRE_DISCORD_API_BASE=(\S+)")).group(1)
        gateway = (await _read_until(proc.stdout, r"TRIPWIRE_DISCORD_GATEWAY_URL=(\S+)")).group(1)
        token = (await _read_until(proc.stdout, r"TRIPWIRE_DISCORD_TOKEN=(\S+)")).group(1)
        yield proc, RemoteEmulator(api_base=api, gateway_url=gateway, token=token)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=10)


async def test_standalone_emulator_serves_a_bot_and_send_command(
    emulator_process: tuple[asyncio.subprocess.Process, RemoteEmulator],
) -> None:
    proc, remote = emulator_process
    port = remote.api_base.split(":")[2].split("/")[0]
    with patch_discord_py(remote):
        async with connected_bot(PriceBot(), remote) as bot:
            await bot.tree.sync(guild=discord.Object(GUILD_ID))
            send = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.emulators.discord_api.send_command",
                "--port",
                port,
                "/price",
                "symbol:BTCUSDT",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(send.communicate(), timeout=20)
    assert send.returncode == 0, err.decode()
    first, *rest = out.decode().splitlines()
    # The reply names its message, so a later call can press its buttons.
    assert re.fullmatch(r"reply \(public\) message \d+", first), first
    assert rest == ["  embed [BTCUSDT price] | Last: 97,900.00"]
    proc.terminate()
    assert proc.stdout is not None
    log = (await asyncio.wait_for(proc.stdout.read(), timeout=10)).decode()
    # The emulator logs what the bot posted in readable form.
    assert re.search(r"MESSAGE_CREATE channel=\d+ id=\d+ Tripwire: embed \[BTCUSDT price\]", log), log


async def test_send_command_presses_a_button_of_a_reply(
    emulator_process: tuple[asyncio.subprocess.Process, RemoteEmulator],
) -> None:
    _, remote = emulator_process
    port = remote.api_base.split(":")[2].split("/")[0]
    with patch_discord_py(remote):
        async with connected_bot(PriceBot(), remote) as bot:
            await bot.tree.sync(guild=discord.Object(GUILD_ID))
            code, out, err = await send_command(port, "/mute")
            assert code == 0, err
            message = re.search(r"^reply \(ephemeral\) message (\d+)$", out, re.M)
            button = re.search(r"^  button \[Mute\] custom_id=(\S+)$", out, re.M)
            assert message and button, out
            code, out, err = await send_command(port, "--click", message[1], button[1])
            assert code == 0, err
            # The same message, edited by the button's handler, without its button.
            assert out.splitlines() == [f"reply (ephemeral) message {message[1]}", "  Muted."]
            code, _, err = await send_command(port, "--click", "not-an-id", "mute-1")
            assert code == 2 and "is not a message id" in err
            code, _, err = await send_command(port, "--click", message[1], "mute-1", "/price")
            assert code == 2 and "give no command with it" in err


async def test_send_command_reports_unsynced_command(
    emulator_process: tuple[asyncio.subprocess.Process, RemoteEmulator],
) -> None:
    _, remote = emulator_process
    port = remote.api_base.split(":")[2].split("/")[0]
    send = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.emulators.discord_api.send_command",
        "--port",
        port,
        "/price",
        "symbol:BTCUSDT",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(send.communicate(), timeout=20)
    assert send.returncode == 1
    assert "/price is not synced" in err.decode()


def test_parse_command_splits_path_and_options() -> None:
    words = [
        "/alert",
        "add",
        "detector:level_cross",
        "symbol:BTCUSDT",
        "settings:level=95000",
        "direction=up",
    ]
    assert parse_command(words) == (
        ["alert", "add"],
        {"detector": "level_cross", "symbol": "BTCUSDT", "settings": "level=95000 direction=up"},
    )
    assert parse_command(["/note", "text:a:b"]) == (["note"], {"text": "a:b"})
    # A word without `name:` after an option continues its value, as typed in Discord.
    assert parse_command(["/alert", "symbol:BTC", "add"]) == (["alert"], {"symbol": "BTC add"})
    with pytest.raises(ValueError, match="no command given"):
        parse_command(["symbol:BTC"])


def test_format_reply_shows_what_the_user_sees() -> None:
    reply = {
        "ephemeral": True,
        "deferred": True,
        "content": "done",
        "embeds": [{"title": "T", "fields": [{"name": "Level", "value": "95,000"}]}],
        "attachments": [{"filename": "c.png", "size": 10, "content_type": "image/png", "url": "u"}],
        "components": [{"type": 1, "components": [{"type": 2, "label": "Mute", "custom_id": "mute"}]}],
        "message_id": "1190000000000009001",
        "followups": [{"id": "1190000000000009002", "content": "more", "embeds": []}],
    }
    assert format_reply(reply).splitlines() == [
        "reply (ephemeral, deferred) message 1190000000000009001",
        "  done",
        "  embed [T] | Level: 95,000",
        "  file c.png (10 bytes, image/png) u",
        "  button [Mute] custom_id=mute",
        "  followup message 1190000000000009002: 'more' (0 embeds)",
    ]
