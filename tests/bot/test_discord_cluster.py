"""`tripwire run --role discord`: gateway shards in clusters, on PostgreSQL, against the Discord emulator.

The emulator routes each guild's events to the session of its shard ((guild_id >> 22) % num_shards) and
DMs to shard 0, as Discord does; the clusters here answer commands and post the outbox rows a market role
would queue (queued here through a Repo of the test's own, as the market role's engine writes them).
Guilds and ids are synthetic (tests/emulators/discord_api/sharding.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bot.config import Config, Secrets, parse_config
from bot.discord.sharded import ShardedTripwireBot
from bot.errors import UserError
from bot.roles.discord_cluster import LEASE_CHECK_SECONDS, DiscordCluster
from bot.services.base import FeedStatusView
from bot.services.feed_report import FeedReportWriter
from detectors.liqmap.params import LiqMapParams, _Active, active_params
from storage.changes import ChangeListener
from storage.db import open_database
from storage.repo import Repo
from storage.shards import ShardSlice
from tests.bot.discord.support import bot_messages, queue_alerts
from tests.bot.support import FixedFeeds
from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.harness import identify_delay
from tests.emulators.discord_api.sharding import alerts_channel_of, shard_of, sharded_config
from tests.emulators.discord_api.state import GUILD_ID, OWNER_ID, EmulatorConfig


def cluster_config(emu: DiscordEmulator, url: str, **sections: Any) -> Config:
    """Return a config on PostgreSQL whose commands are synced to every guild of the emulator."""
    return parse_config(
        {
            **sections,
            "symbols": ["BTCUSDT"],
            "storage": {"url": url},
            # Each alert a message of its own, so the emulator's count is the alerts' count.
            "engine": {"group_window_seconds": 0},
            "discord": {
                "guild_ids": sorted(emu.world.guilds),
                "api_base": emu.api_base,
                "gateway_url": emu.gateway_url,
            },
        }
    )


@pytest.fixture(autouse=True)
def quick_identify(monkeypatch: pytest.MonkeyPatch, discord_config: EmulatorConfig) -> None:
    """Wait the emulator's identify window between a cluster's IDENTIFYs, not discord.py's 5 s."""
    monkeypatch.setattr(
        ShardedTripwireBot,
        "before_identify_hook",
        staticmethod(identify_delay(discord_config.gateway.identify_window)),
    )


def new_cluster(
    emu: DiscordEmulator,
    url: str,
    shards: ShardSlice,
    lease_wait_seconds: float = LEASE_CHECK_SECONDS,
    **sections: Any,
) -> DiscordCluster:
    """Return a cluster of ``shards`` connecting to the emulator (``sections``: more config sections)."""
    return DiscordCluster(
        cluster_config(emu, url, **sections),
        Secrets(),
        shards,
        token=emu.config.token,
        discord_options=client_options(),
        lease_wait_seconds=lease_wait_seconds,
    )


@asynccontextmanager
async def running(
    emu: DiscordEmulator, url: str, shards: ShardSlice, **sections: Any
) -> AsyncIterator[DiscordCluster]:
    """Run one cluster until the block ends (``sections``: more config sections)."""
    cluster = new_cluster(emu, url, shards, **sections)
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


def shard_sessions(emu: DiscordEmulator) -> dict[int, Any]:
    """Return the emulator's live sessions by the shard they identified as."""
    return {s.shard[0]: s for s in emu.gateway.sessions.values() if not s.invalidated}


async def add_rule(emu: DiscordEmulator, guild_id: int) -> str:
    """Add a BTC level rule in a guild's #alerts through /alert add; return its id."""
    channel = (
        alerts_channel_of(guild_id) if guild_id != GUILD_ID else min(emu.world.guild_channels(guild_id)).id
    )
    reply = await emu.slash(
        "alert add",
        {
            "detector": "level_cross",
            "symbol": "btc",
            "settings": "level=95000 direction=up",
            "channel": channel,
        },
        guild_id=guild_id,
        channel_id=channel,
        user_id=OWNER_ID,
    )
    assert reply.embeds and reply.embeds[0]["title"].startswith("Alert btc-level-"), reply
    return str(reply.embeds[0]["footer"]["text"].removeprefix("rule "))


def interactions_seen(session: Any) -> set[int]:
    """Return the guilds whose interactions reached a session."""
    return {
        int(e.d["guild_id"]) for e in session.events if e.t == "INTERACTION_CREATE" and e.d.get("guild_id")
    }


def posted(emu: DiscordEmulator, guilds: list[int]) -> dict[int, list[str]]:
    """Return the alert titles posted in each added guild's #alerts."""
    return {g: [m.embeds[0]["title"] for m in bot_messages(emu, alerts_channel_of(g))] for g in guilds}


async def wait_delivered(emu: DiscordEmulator, guilds: list[int], each: int) -> None:
    await emu.wait_until(lambda: all(len(v) >= each for v in posted(emu, guilds).values()), timeout=15)


class TestOneClusterOfTwoShards:
    @pytest.fixture
    def discord_config(self) -> EmulatorConfig:
        # Three servers over two shards, plus the default one.
        return sharded_config([0, 1, 1], 2, max_concurrency=2)

    async def test_each_guilds_command_is_answered_and_its_alert_posted(
        self, discord_emu: DiscordEmulator, pg_url: str
    ) -> None:
        guilds = [g for g in discord_emu.world.guilds if g != GUILD_ID]
        async with running(discord_emu, pg_url, ShardSlice(0, 1, 2)) as cluster:
            assert cluster.parts is not None
            sessions = shard_sessions(discord_emu)
            assert sorted(sessions) == [0, 1]
            await discord_emu.wait_until(
                lambda: all(discord_emu.commands_synced(g) for g in guilds), timeout=10
            )
            rules = {g: await add_rule(discord_emu, g) for g in guilds}
            # Each command reached only the session of its guild's shard, which answered it.
            for shard, session in sessions.items():
                assert interactions_seen(session) == {g for g in guilds if shard_of(g, 2) == shard}
            market = Repo(open_database(pg_url))
            for guild, rule_id in rules.items():
                queue_alerts(
                    market, f"channel:{alerts_channel_of(guild)}", [f"alert in {guild}"], rule_id=rule_id,
                    guild_id=guild, now=cluster.now_ms(),
                )  # fmt: skip
            await wait_delivered(discord_emu, guilds, 1)
            assert posted(discord_emu, guilds) == {g: [f"alert in {g}"] for g in guilds}
            # Marked delivered once Discord confirmed each post (just after the emulator stored it).
            await discord_emu.wait_until(lambda: market.outbox_depth() == 0, timeout=5)
            market.close()

    async def test_status_in_a_cluster_shows_the_market_roles_feed_report_with_its_age(
        self, discord_emu: DiscordEmulator, pg_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        guild = next(g for g in discord_emu.world.guilds if g != GUILD_ID)
        monkeypatch.setattr(_Active, "params", LiqMapParams())  # restored after the test
        async with running(discord_emu, pg_url, ShardSlice(0, 1, 2), liqmap={"long_share": 0.6}) as cluster:
            # /liqmap here models with the config's [liqmap], as the market role's detectors do.
            assert active_params().long_share == 0.6
            await discord_emu.wait_until(lambda: bool(discord_emu.commands_synced(guild)), timeout=10)
            channel = alerts_channel_of(guild)
            before = await discord_emu.slash(
                "status", {}, guild_id=guild, channel_id=channel, user_id=OWNER_ID
            )
            feeds = {f["name"]: f["value"] for f in before.embeds[0]["fields"]}["Feeds"]
            assert "market role: stale" in feeds and "is `tripwire run --role market` running?" in feeds
            # The market role's leader reports (synthetic feed line), in another process in production.
            market = Repo(open_database(pg_url))
            line = FeedStatusView("bybit.liquidations", "ok", cluster.now_ms(), 0.2)
            FeedReportWriter(market, FixedFeeds([line]), cluster.now_ms, writer="market-host:4242").write()
            market.close()
            after = await discord_emu.slash(
                "status", {}, guild_id=guild, channel_id=channel, user_id=OWNER_ID
            )
            feeds = {f["name"]: f["value"] for f in after.embeds[0]["fields"]}["Feeds"]
            assert "market role: ok" in feeds and "from market leader market-host:4242" in feeds
            assert "bybit.liquidations: ok" in feeds
            # A write waiting on a row another process holds stalls the loop no longer than the single
            # process lets it (bot.app.LIVE_BUSY_TIMEOUT_MS).
            assert cluster.parts is not None
            assert cluster.parts.repo.conn.execute("SHOW lock_timeout").fetchone()[0] == "250ms"


class TestTwoClustersOfFourShards:
    @pytest.fixture
    def discord_config(self) -> EmulatorConfig:
        return sharded_config([0, 1, 2, 3, 3], 4, max_concurrency=4)

    async def test_each_cluster_delivers_only_its_guilds_rows_and_nothing_twice(
        self, discord_emu: DiscordEmulator, pg_url: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        guilds = [g for g in discord_emu.world.guilds if g != GUILD_ID]
        market = Repo(open_database(pg_url))
        async with (
            running(discord_emu, pg_url, ShardSlice(0, 1, 4)) as low,
            running(discord_emu, pg_url, ShardSlice(2, 3, 4)) as high,
        ):
            assert sorted(shard_sessions(discord_emu)) == [0, 1, 2, 3]
            # Without [discord] shared_rate_url, each cluster of 2 of 4 shards says its window is its own.
            unshared = [r.getMessage() for r in caplog.records if "shared_rate_url" in r.getMessage()]
            assert len(unshared) == 2 and all("holds 2 of 4 shards" in m for m in unshared), unshared
            await discord_emu.wait_until(
                lambda: all(discord_emu.commands_synced(g) for g in guilds), timeout=10
            )
            rules = {g: await add_rule(discord_emu, g) for g in guilds}
            titles = ["first", "second", "third"]
            for guild, rule_id in rules.items():
                queue_alerts(
                    market, f"channel:{alerts_channel_of(guild)}", [f"{t} in {guild}" for t in titles],
                    rule_id=rule_id, guild_id=guild, now=low.now_ms(),
                )  # fmt: skip
            await wait_delivered(discord_emu, guilds, len(titles))
            await discord_emu.wait_until(lambda: market.outbox_depth() == 0, timeout=5)
            await asyncio.sleep(1.5)  # a pass of either cluster that would post something twice
            assert low.parts is not None and high.parts is not None
            by_low = sum(len(titles) for g in guilds if shard_of(g, 4) <= 1)
            assert (low.parts.dispatcher.delivered, high.parts.dispatcher.delivered) == (
                by_low,
                len(titles) * len(guilds) - by_low,
            )
        # Counted in the emulator: every alert exactly once, in its order.
        assert posted(discord_emu, guilds) == {g: [f"{t} in {g}" for t in titles] for g in guilds}
        assert market.outbox_depth() == 0
        market.close()


async def test_a_second_cluster_for_the_same_shards_waits_for_the_first(
    discord_emu: DiscordEmulator, pg_url: str
) -> None:
    async with running(discord_emu, pg_url, ShardSlice(0, 0, 1)) as first:
        assert first.parts is not None
        second = new_cluster(discord_emu, pg_url, ShardSlice(0, 0, 1), lease_wait_seconds=0.1)
        waiting = asyncio.create_task(second.start())
        await asyncio.sleep(0.5)
        assert not waiting.done()  # shard 0's lease is the first cluster's
        for lease in first.parts.leases:
            lease.release()  # as a dead cluster's session ending releases it
        await asyncio.wait_for(waiting, 10)
        await second.stop()


def test_a_cluster_on_sqlite_is_refused_with_the_reason(tmp_path: Any) -> None:
    config = parse_config({"symbols": ["BTCUSDT"], "storage": {"path": str(tmp_path / "t.db")}})
    with pytest.raises(UserError, match="needs PostgreSQL"):
        DiscordCluster(config, Secrets(), ShardSlice(0, 0, 1), token="t")


class TestALostShardLease:
    @pytest.fixture
    def discord_config(self) -> EmulatorConfig:
        return sharded_config([0], 1)

    async def test_a_cluster_is_ready_only_once_it_hears_the_other_processes_changes(
        self, discord_emu: DiscordEmulator, pg_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        listen = ChangeListener._listen

        async def slow_listen(listener: ChangeListener, *args: Any, **kwargs: Any) -> None:
            await asyncio.sleep(1.0)  # a slow server: the LISTEN comes a second late
            await listen(listener, *args, **kwargs)

        monkeypatch.setattr(ChangeListener, "_listen", slow_listen)
        async with running(discord_emu, pg_url, ShardSlice(0, 0, 1)) as cluster:
            assert cluster.parts is not None
            # Commands are answered from here on, each reading (and caching) its server's settings.
            assert cluster.parts.listener.listening.is_set()

    async def test_a_cluster_whose_shard_lease_is_gone_sends_nothing_more(
        self, discord_emu: DiscordEmulator, pg_url: str
    ) -> None:
        # The lease watcher looks only every 60 s here: what stops the sends is the check before each batch.
        cluster = new_cluster(discord_emu, pg_url, ShardSlice(0, 0, 1), lease_wait_seconds=60)
        parts = await cluster.start()
        market = Repo(open_database(pg_url))
        guild = next(g for g in discord_emu.world.guilds if g != GUILD_ID)
        try:
            await discord_emu.wait_until(lambda: bool(discord_emu.commands_synced(guild)), timeout=10)
            rule_id = await add_rule(discord_emu, guild)
            target = f"channel:{alerts_channel_of(guild)}"
            queue_alerts(market, target, ["before"], rule_id=rule_id, guild_id=guild, now=cluster.now_ms())
            await wait_delivered(discord_emu, [guild], 1)
            # The lease's session ends (as when its connection drops): a replacement may hold shard 0 now.
            market.conn.execute("SELECT pg_terminate_backend(?)", (parts.leases[0].backend_pid(),))
            queue_alerts(market, target, ["after"], rule_id=rule_id, guild_id=guild, now=cluster.now_ms())
            await asyncio.sleep(2.0)  # the NOTIFY wakes the dispatcher at once: a pass would have sent it
            assert posted(discord_emu, [guild]) == {guild: ["before"]}
            assert market.outbox_depth() == 1  # left for the cluster that holds the lease now
            assert cluster.lost_lease and cluster.shutdown.requested
        finally:
            await cluster.stop()
            market.close()


async def test_a_cluster_of_another_shard_count_waits_for_the_running_ones(pg_url: str) -> None:
    config = parse_config({"symbols": ["BTCUSDT"], "storage": {"url": pg_url}})
    four = DiscordCluster(config, Secrets(), ShardSlice(0, 1, 4), token="t", lease_wait_seconds=0.1)
    # Shards 0-3 of 8 hold guilds that shards 0-1 of 4 hold too: both would deliver their rows.
    eight = DiscordCluster(config, Secrets(), ShardSlice(0, 3, 8), token="t", lease_wait_seconds=0.1)
    held = await four._take_leases()
    waiting = asyncio.create_task(eight._take_leases())
    await asyncio.sleep(0.5)
    assert not waiting.done()
    for lease in held:
        lease.release()  # the clusters of 4 shards stopped
    taken = await asyncio.wait_for(waiting, 5)
    assert all(lease.held() for lease in taken)
    for lease in taken:
        lease.release()
