"""Changes made by one process reach another's engine and caches at once (real PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bot.alerts.engine import Engine
from bot.roles.changes import cluster_handler, engine_handler
from detectors.market_history import MarketHistory
from storage.changes import ChangeListener
from storage.rows import GuildSettingsRow, RuleRow
from tests.conftest import ConsoleRouter
from tests.storage.test_postgres import _pg


async def until(predicate: Callable[[], bool], within: float) -> float:
    """Wait until ``predicate()`` holds; return how long it took (fail after ``within`` seconds)."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < within, f"not within {within} s"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_a_rule_added_elsewhere_is_evaluated_by_the_market_engine_within_a_second(pg_url: str) -> None:
    market, front = _pg(pg_url), _pg(pg_url)  # the market role's connection and a cluster's
    engine = Engine(market, MarketHistory(), ConsoleRouter())
    stop = asyncio.Event()
    handler = engine_handler(market, engine, lambda: [r.row.id for r in engine.rules()])
    listener = ChangeListener(pg_url, handler)
    task = asyncio.create_task(listener.run(stop))
    try:
        await asyncio.wait_for(listener.listening.wait(), 5)
        with front.transaction():
            front.save_rule(RuleRow("btc-95k", "discord", "level_cross", "BTCUSDT", {"level": 95000}))
        await until(lambda: [r.row.id for r in engine.rules()] == ["btc-95k"], within=1.0)
        front.set_rule_enabled("btc-95k", False, "paused by a member", 0)
        await until(lambda: engine.rules() == [], within=1.0)
    finally:
        stop.set()
        await task
        market.close()
        front.close()


async def test_a_setting_changed_elsewhere_is_read_again_not_served_from_the_cache(pg_url: str) -> None:
    cluster, other = _pg(pg_url), _pg(pg_url)
    row = GuildSettingsRow(guild_id=5, alert_channel_id=1, ops_channel_id=None, settings={}, updated_at=0)
    cluster.save_guild_settings(row)
    assert cluster.guild_settings(5) is not None  # now cached
    woken: list[bool] = []
    stop = asyncio.Event()
    listener = ChangeListener(pg_url, cluster_handler(cluster, lambda: woken.append(True)))
    task = asyncio.create_task(listener.run(stop))
    try:
        await asyncio.wait_for(listener.listening.wait(), 5)
        other.update_guild_settings(5, 1, alert_channel_id=2)

        def moved() -> bool:
            settings = cluster.guild_settings(5)
            return settings is not None and settings.alert_channel_id == 2

        await until(moved, within=1.0)
        # An outbox row queued by another process wakes the cluster's delivery.
        other.enqueue(event_id=None, sink="discord", target="channel:2", kind="ops", payload={}, now=0)
        await until(lambda: bool(woken), within=1.0)
    finally:
        stop.set()
        await task
        cluster.close()
        other.close()
