"""``tripwire run`` as a person starts it: a process with its token and endpoints in the environment,
feeds on the local exchange emulator, Discord on the local Discord emulator, stopped with Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.exchanges.fixtures import EmulatorFactory
from tests.emulators.exchanges.tripwire_toml import tripwire_feeds_toml

ROOT = Path(__file__).resolve().parents[3]


async def _read_until(stream: asyncio.StreamReader, marker: str, within: float) -> str:
    """Return what ``stream`` printed up to and including the first line containing ``marker``."""
    seen: list[str] = []

    async def read() -> None:
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError(f"the process ended before printing {marker!r}:\n{''.join(seen)}")
            seen.append(line)
            if marker in line:
                return

    await asyncio.wait_for(read(), timeout=within)
    return "".join(seen)


async def test_run_serves_slash_commands_on_discord_and_stops_on_sigint(
    make_emulator: EmulatorFactory, discord_emu: DiscordEmulator, tmp_path: Path
) -> None:
    exchange = await make_emulator(shift_to="now")
    config = tmp_path / "tripwire.toml"
    config.write_text(
        f'symbols = ["BTCUSDT"]\n[storage]\npath = "{tmp_path / "live.db"}"\n'
        + tripwire_feeds_toml(exchange.base_url, exchange.ws_url)
    )
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
        "bot",
        "run",
        "--config",
        str(config),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        log = await _read_until(process.stderr, "ready in", within=30)
        assert "Discord on" in log.splitlines()[-1]
        # No guild_ids in the config: the commands are synced globally.
        assert {c["name"] for c in discord_emu.commands_synced(None)} >= {"price", "alert", "setup"}
        # The bot answers while the feeds backfill; the price is there once the spot candles are.
        for _ in range(40):
            reply = await discord_emu.slash("price", {"symbol": "btc"})
            if reply.embeds or "No price data" not in (reply.content or ""):
                break
            await asyncio.sleep(0.5)
        assert reply.embeds[0]["title"].startswith("BTC is at $"), reply.content
    finally:
        process.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, err.decode()
    assert token not in log + out.decode() + err.decode()
