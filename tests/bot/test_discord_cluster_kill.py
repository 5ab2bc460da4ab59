"""A Discord cluster killed with SIGKILL: its replacement posts what was queued meanwhile, nothing twice.

Real processes (`tripwire run --role discord`), real PostgreSQL, the Discord emulator in this process.
The killed cluster's shard lease ends with its database session, so the replacement takes the shard as
soon as PostgreSQL sees the connection gone; it then delivers the rows queued while no cluster ran.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from storage.db import open_database
from storage.repo import Repo
from storage.rows import RuleRow
from tests.bot.discord.support import bot_messages, queue_alerts
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, emu: DiscordEmulator, url: str) -> Path:
    path = tmp_path / "cluster.toml"
    path.write_text(
        f'symbols = ["BTCUSDT"]\n[storage]\nurl = "{url}"\n[engine]\ngroup_window_seconds = 0\n'
        f"[discord]\nguild_ids = [{GUILD_ID}]\n"
        f'api_base = "{emu.api_base}"\ngateway_url = "{emu.gateway_url}"\n',
        encoding="utf-8",
    )
    return path


async def start_cluster(config: Path, emu: DiscordEmulator) -> asyncio.subprocess.Process:
    env = {**os.environ, "TRIPWIRE_DISCORD_TOKEN": emu.config.token, "PYTHONPATH": str(ROOT)}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--config", str(config),
        "--role", "discord", "--shards", "0", "--shard-count", "1",
        env=env, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


def now_ms() -> int:
    """Return the wall clock in ms (alerts queued long ago would be posted together, marked late)."""
    return int(time.time() * 1000)


def alert_titles(emu: DiscordEmulator) -> list[str]:
    return [m.embeds[0]["title"] for m in bot_messages(emu, ALERTS_CHANNEL_ID) if m.embeds]


async def stop(process: asyncio.subprocess.Process, sig: int) -> bytes:
    if process.returncode is None:
        process.send_signal(sig)
    await asyncio.wait_for(process.wait(), 20)
    assert process.stderr is not None
    return await process.stderr.read()


async def test_a_killed_clusters_replacement_delivers_its_queued_alerts_once(
    discord_emu: DiscordEmulator, pg_url: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path, discord_emu, pg_url)
    market = Repo(open_database(pg_url))
    market.save_rule(
        RuleRow("btc-95k", "discord", "level_cross", "BTCUSDT", {"level": 95000}, guild_id=GUILD_ID)
    )
    channel = f"channel:{ALERTS_CHANNEL_ID}"
    first = await start_cluster(config, discord_emu)
    try:
        queue_alerts(market, channel, ["before the kill"], rule_id="btc-95k", guild_id=GUILD_ID, now=now_ms())
        await discord_emu.wait_until(lambda: alert_titles(discord_emu) == ["before the kill"], timeout=30)
        await discord_emu.wait_until(lambda: market.outbox_depth() == 0, timeout=5)
    finally:
        err = await stop(first, signal.SIGKILL)
    assert first.returncode == -signal.SIGKILL, err.decode()[-2000:]
    # Queued while no cluster runs (the market role goes on).
    queued = ["while down 1", "while down 2", "while down 3"]
    queue_alerts(market, channel, queued, rule_id="btc-95k", guild_id=GUILD_ID, now=now_ms())
    replacement = await start_cluster(config, discord_emu)
    try:
        await discord_emu.wait_until(lambda: len(alert_titles(discord_emu)) >= 4, timeout=30)
        await discord_emu.wait_until(lambda: market.outbox_depth() == 0, timeout=5)
        await asyncio.sleep(1.0)  # a further pass that would post something again
    finally:
        err = await stop(replacement, signal.SIGTERM)
    assert replacement.returncode == 0, err.decode()[-2000:]
    assert alert_titles(discord_emu) == ["before the kill", *queued]
    market.close()
