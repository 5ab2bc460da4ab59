"""``python -m bot.discord``: the front end on its own, run as a process against the emulator the way a
person tries Tripwire locally (token and endpoints from the environment)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.emulators.discord_api import DiscordEmulator

ROOT = Path(__file__).resolve().parents[3]


async def test_the_front_end_runs_against_the_emulator_and_stops_on_sigint(
    discord_emu: DiscordEmulator, tmp_path: Path
) -> None:
    token = discord_emu.config.token
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TRIPWIRE_DISCORD_TOKEN": token,
        "TRIPWIRE_DISCORD_API_BASE": discord_emu.api_base,
        "TRIPWIRE_DISCORD_GATEWAY_URL": discord_emu.gateway_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.discord",
        "--at",
        "2026-01-14T12:00Z",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=20)
        assert line.decode().strip() == "connected; press Ctrl-C to stop"
        # The bundled config syncs globally (no guild_ids).
        assert {c["name"] for c in discord_emu.commands_synced(None)} >= {"price", "alert", "setup"}
        reply = await discord_emu.slash("price", {"symbol": "BTCUSDT"})
        assert reply.embeds[0]["title"] == "BTC is at $94,792.99"
    finally:
        process.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(process.communicate(), timeout=15)
    assert process.returncode == 0, err.decode()
    assert token not in out.decode() + err.decode()
