"""A stale feed on the replayed breakout, through the real feed-health registry, engine, watchdog, Discord
sink and emulator: its alerts are held back until it recovers, and the ops channel hears of it once when
it goes stale and once when it is back, however it flaps."""

from __future__ import annotations

import pytest

from bot.alerts.engine import make_engine
from bot.alerts.routing import AlertRouter
from bot.alerts.rules import sync_config_rules
from bot.discord.client import TripwireBot
from bot.notify.discord.sink import DiscordSink
from bot.notify.grouping import GroupingPolicy
from bot.notify.outbox import OutboxDispatcher
from bot.ops.watchdog import FeedWatchdog, watch
from bot.services import Service
from detectors.market_history import MarketHistory
from feeds.health import HealthRegistry
from feeds.ingest import Ingest
from feeds.replay import parse_time
from storage.repo import Repo
from tests.bot.discord.noise_support import BTC_LINES, ETH_LINES, listed, scenario_config
from tests.bot.discord.support import bot_messages, drain
from tests.bot.scenario import scenario_data
from tests.bot.support import Clock
from tests.emulators.discord_api import DiscordEmulator, RateLimitRule
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID, GUILD_ID

S = 1000


class Replayed:
    """The bundled data fed into an Ingest up to a moment, as the feeds would have delivered it."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest = ingest
        self.done = 0

    def until(self, moment: int) -> None:
        """Ingest every row available after the last call and at or before ``moment``."""
        for available_at, batch in scenario_data().timeline():
            if self.done < available_at <= moment:
                self.ingest.candles(batch.candles)
                self.ingest.liquidation_buckets(batch.liquidation_buckets)
                self.ingest.liquidations(batch.liquidations)
                self.ingest.funding(batch.funding)
                self.ingest.open_interest(batch.open_interest)
                self.ingest.fear_greed(batch.fear_greed)
        self.done = moment


@pytest.fixture(autouse=True)
def roomy_rate_limits(discord_emu: DiscordEmulator) -> None:
    """Let the emulator take bursts quickly."""
    discord_emu.config.rate_limits.message_create = RateLimitRule(50, 1.0)


async def test_a_stale_feed_holds_its_alerts_back_and_is_reported_once_each_way(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, service: Service, clock: Clock
) -> None:
    service.setup(GUILD_ID, ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID)  # ops notices go to #general
    config = scenario_config()
    config = config.model_copy(update={"routes": [config.routes[0].model_copy(update={"symbols": []})]})
    health = HealthRegistry(clock)
    spot = health.register("binance_spot", ["candles"], None, stale_after_s=60)
    futures = health.register(
        "binance_futures", ["liquidations", "funding", "open_interest"], None, stale_after_s=60
    )
    history = MarketHistory()
    data = Replayed(Ingest(repo, history))
    sync_config_rules(repo, config, 0)
    router = AlertRouter(repo, config.routes, console=False, discord=True)
    engine = make_engine(
        config.engine, repo, history, router, stale_kinds=health.stale_kinds, report_before_creation=True
    )
    engine.load()
    watchdog = FeedWatchdog(repo, clock, debounce_ms=120 * S)
    watch(health, watchdog)
    sink = DiscordSink(
        tripwire,
        repo,
        engine,
        clock,
        grouping=GroupingPolicy.from_config(config.engine),
    )
    dispatcher = OutboxDispatcher(repo, [sink], clock)
    recorded: dict[str, list[str]] = {}

    async def at(moment: str, *succeeded: object, evaluate: bool = False) -> None:
        clock.now = parse_time(moment)
        for feed in succeeded:
            feed.success(clock.now)  # type: ignore[attr-defined]
        data.until(clock.now)
        health.check()
        watchdog.check()
        if evaluate:
            recorded[moment] = [e.rule_id for e in engine.evaluate(clock.now) if e.state == "firing"]
        await drain(repo, dispatcher, clock)

    await at("2026-01-13T22:00Z", spot, futures, evaluate=True)
    await at("2026-01-13T22:30Z", spot)  # Binance futures went quiet at 22:00: stale now
    await at("2026-01-13T22:32:30Z", spot)  # ...still: reported
    await at("2026-01-13T22:40Z", spot, futures)  # a single poll gets through (a flap)...
    await at("2026-01-13T22:42Z", spot)  # ...and it is stale again, within the debounce
    await at("2026-01-13T23:00Z", spot, evaluate=True)  # the cascade's hour closes while it is stale
    await at("2026-01-13T23:00:20Z", spot, futures)  # it recovers
    await at("2026-01-13T23:00:30Z", spot, futures, evaluate=True)
    await at("2026-01-13T23:02:20Z", spot, futures)  # fresh for the whole debounce: back

    # Held back while the liquidation data was stale, fired as soon as it was fresh again.
    assert (
        "btc-liquidations" not in recorded["2026-01-13T23:00Z"] and "btc-95k" in recorded["2026-01-13T23:00Z"]
    )
    assert recorded["2026-01-13T23:00:30Z"] == ["btc-liquidations", "btc-squeeze"]
    ops = bot_messages(discord_emu, GENERAL_CHANNEL_ID)
    assert [m.embeds[0]["title"] for m in ops] == [
        "Feed binance_futures is stale",
        "Feed binance_futures is back",
    ]
    assert "Alerts computed from its data are held back" in ops[0].embeds[0]["description"]
    assert "is ok again after 30m 20s without fresh data" in ops[1].embeds[0]["description"]
    candles_only, held_back = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    # Without the cascade firing, nothing inhibits the lesser BTC alerts: they are lines of their own.
    assert listed(candles_only) == [
        BTC_LINES[2],
        "BTC broke above $95,000 (round level)",
        "BTC volume spike: 3,452 BTC in 1h, 4.4× the 24h average (price +1.8% to $95,757.21)",
        *ETH_LINES,
    ]
    assert listed(held_back) == BTC_LINES[:2]
