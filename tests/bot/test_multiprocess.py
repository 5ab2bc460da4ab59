"""The multi-process bot end to end (issue 21's Done-when): ``tripwire launch`` on real PostgreSQL runs two
market processes and two Discord clusters over four shards, with three servers spread over the shards,
while the bundled scenario's breakout streams through the exchange emulator (tests/bot/roles_support.py);
the market leader and then a cluster are killed with SIGKILL mid-stream. The standby leads within 10 s,
the launcher starts a replacement for the cluster, which delivers its servers' queued alerts, and every
alert is delivered exactly once to each server, counted in the Discord emulator.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from pathlib import Path

import psycopg
import pytest

from tests.bot.roles_support import Process, market_config, price_path, write_config
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.sharding import (
    alerts_channel_of,
    guild_id_on_shard,
    shard_of,
    sharded_config,
)
from tests.emulators.discord_api.state import EmulatorConfig
from tests.emulators.exchanges.fixtures import EmulatorFactory
from tests.feeds.helpers import wait_for

SHARDS, CLUSTERS = 4, ("0-1", "2-3")
# The three servers' shards: one in the first cluster, two in the second (the one killed).
SERVER_SHARDS = (1, 2, 3)
STEP_S = 0.6
POLL_S = 0.5
TAKEOVER_BOUND_S = 10.0


@pytest.fixture
def discord_config() -> EmulatorConfig:
    """Return the emulator's world with three more servers, on shards 1, 2 and 3 of 4."""
    # Two shards IDENTIFY together: the launcher starts clusters 5 s apart.
    return sharded_config(SERVER_SHARDS, SHARDS, max_concurrency=2)


def servers() -> list[int]:
    """Return the three servers' guild ids (as sharded_config made them)."""
    return [guild_id_on_shard(shard, SHARDS, index) for index, shard in enumerate(SERVER_SHARDS)]


def delivered(emu: DiscordEmulator, channel: int, notes: list[str]) -> dict[str, int]:
    """Return how many messages of ``channel`` show each rule's note (one alert each, grouping off)."""
    texts = [json.dumps(m.payload, ensure_ascii=False) for m in emu.messages_in(channel)]
    return {note: sum(1 for text in texts if f"📝 {note}" in text) for note in notes}


def pid_of(log: str, pattern: str) -> int:
    """Return the last pid ``pattern`` (with one group) finds in the launcher's log."""
    found = re.findall(pattern, log)
    assert found, f"{pattern!r} not in:\n{log[-3000:]}"
    return int(found[-1])


def outbox_rows(pg_url: str) -> list[tuple[str, str, int, int]]:
    """Return (target, status, queued at, delivered at) of every outbox row."""
    with psycopg.connect(pg_url) as conn:
        return [
            (str(t), str(s), int(c), int(d or 0))
            for t, s, c, d in conn.execute(
                "SELECT target, status, created_at, delivered_at FROM outbox ORDER BY id"
            )
        ]


def firing(pg_url: str) -> int:
    """Return how many firing alert events are recorded."""
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT count(*) FROM alert_events WHERE state = 'firing'").fetchone()
        return int(row[0]) if row else 0


async def test_launch_survives_killing_the_market_leader_and_a_cluster_and_delivers_every_alert_once(
    make_emulator: EmulatorFactory, discord_emu: DiscordEmulator, pg_url: str, tmp_path: Path
) -> None:
    assert {shard_of(g, SHARDS) for g in servers()} == set(SERVER_SHARDS)
    emu = await make_emulator(shift_to="now", kline_push_s=0.25)
    path = price_path(emu)
    config = market_config(emu, pg_url, path.levels, POLL_S)
    config["routes"] = [{"guild_id": g, "channel_id": alerts_channel_of(g)} for g in servers()]
    # One message per alert, so the emulator counts alerts as messages; the note names the level.
    config["engine"] |= {"group_window_seconds": 0, "channel_max_per_minute": 60}
    for rule in config["rules"]:
        rule["note"] = f"scenario {rule['id']}"
    notes = [str(rule["note"]) for rule in config["rules"]]
    config_path = write_config(tmp_path / "tripwire.toml", config)
    env = {
        "TRIPWIRE_DISCORD_TOKEN": discord_emu.config.token,
        "TRIPWIRE_DISCORD_API_BASE": discord_emu.api_base,
        "TRIPWIRE_DISCORD_GATEWAY_URL": discord_emu.gateway_url,
    }
    argv = ["launch", "--config", str(config_path), "--shard-count", str(SHARDS), "--clusters", "2"]
    launcher = Process("launch", argv, tmp_path / "launch.log", env=env).start(tmp_path)
    try:
        await wait_for(
            lambda: (
                launcher.text().count("Discord cluster of") >= 2 and "market role: leading" in launcher.text()
            ),
            within=45,
            what="the market leader and both clusters",
        )
        await wait_for(lambda: "standing by" in launcher.text(), within=10, what="a standby")
        await wait_for(
            lambda: any(c.subscriptions for c in emu.ws_connections("binance-spot")), within=20, what="klines"
        )
        await asyncio.sleep(1.0)
        kills: dict[str, float] = {}
        seen: dict[str, asyncio.Task[tuple[float, float]]] = {}
        for price in path.prices:
            emu.binance.klines.script_price("BTCUSDT", price)
            await asyncio.sleep(STEP_S)
            events = firing(pg_url)
            if "market" not in kills and events >= 3:
                os.kill(pid_of(launcher.text(), r"market role: leading \(pid (\d+)"), signal.SIGKILL)
                kills["market"] = time.monotonic()
                seen["market"] = asyncio.create_task(_logged_after(launcher, "market role: leading"))
            elif "market" in kills and "cluster" not in kills and events >= 6:
                os.kill(pid_of(launcher.text(), r"launch: discord-2-3 started \(pid (\d+)"), signal.SIGKILL)
                kills["cluster"] = time.monotonic()
                cluster_killed_ms = int(time.time() * 1000)
                seen["cluster"] = asyncio.create_task(_logged_after(launcher, "Discord cluster of"))
        assert set(kills) == {"market", "cluster"}, (
            f"the path ended before both kills: {firing(pg_url)} alerts"
        )
        took = {what: (await seen[what])[0] - kills[what] for what in kills}
        replacement_ready_ms = int((await seen["cluster"])[1] * 1000)
        # Every alert reaches every server once the replacement cluster delivers what queued for its shards.
        channels = [alerts_channel_of(g) for g in servers()]
        await wait_for(
            lambda: all(all(n >= 1 for n in delivered(discord_emu, c, notes).values()) for c in channels),
            within=40,
            what="every alert in every server",
        )
        await asyncio.sleep(2.0)  # time for a repeat, were one coming
        counts = {c: delivered(discord_emu, c, notes) for c in channels}
        assert all(n == 1 for per in counts.values() for n in per.values()), counts
        rows = outbox_rows(pg_url)
        assert len(rows) == len(notes) * len(channels) and {r[1] for r in rows} == {"delivered"}, rows
        # Alerts of the killed cluster's servers were queued while it was down, and its replacement sent them.
        killed_targets = {f"channel:{alerts_channel_of(g)}" for g in servers() if shard_of(g, SHARDS) >= 2}
        waited = [
            r for r in rows if r[0] in killed_targets and cluster_killed_ms < r[2] < replacement_ready_ms
        ]
        assert waited and all(r[3] >= replacement_ready_ms for r in waited), (waited, replacement_ready_ms)
        assert "launch: discord-2-3 exited -9" in launcher.text()
        print(
            f"{len(notes)} alerts x {len(channels)} servers delivered exactly once ({len(rows)} outbox rows,"
            f" {sum(len(discord_emu.messages_in(c)) for c in channels)} messages); after SIGKILL the standby"
            f" market process led in {took['market']:.2f} s (lease polled every {POLL_S} s) and the"
            f" replacement of cluster 2-3 was ready in {took['cluster']:.2f} s (the launcher restarted it"
            f" after its 1 s backoff) and delivered the {len(waited)} alerts queued for its servers meanwhile"
        )
        assert took["market"] <= TAKEOVER_BOUND_S, took
    finally:
        if launcher.popen is not None and launcher.popen.poll() is None:
            launcher.popen.send_signal(signal.SIGTERM)
        code = launcher.popen.wait(timeout=60) if launcher.popen is not None else None
    assert code == 0, launcher.text()[-4000:]
    # Stopped in order: the market processes before the clusters, whose last pass delivers what was queued.
    stopped = re.findall(r"launch: (\S+) stopped", launcher.text())
    assert [name.split("-")[0] for name in stopped] == ["market", "market", "discord", "discord"], stopped


async def _logged_after(process: Process, marker: str) -> tuple[float, float]:
    """Return the monotonic and wall times ``marker`` is first logged after now (polled every 5 ms)."""
    start = len(process.text())
    await wait_for(lambda: marker in process.text()[start:], within=40, what=f"{process.name}: {marker}")
    return time.monotonic(), time.time()
