"""/liquidations and /status name every enabled liquidation venue with what its number counts, through
the Discord emulator; a venue whose feed is down makes the total say it is without that venue."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from bot.discord.client import TripwireBot
from bot.services import Service
from bot.services.base import FeedStatusView
from feeds.liq_coverage import COVERAGE
from storage.repo import Repo
from storage.rows import Liquidation
from tests.bot.support import Clock, FixedFeeds
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.state import MEMBER_ID

VENUES = [c.source for c in COVERAGE.values()]


def liquidation_feeds(clock: Clock, down: str | None) -> list[FeedStatusView]:
    """Return every venue's liquidation feed, as the live registry reports it; ``down`` is stale."""
    return [
        FeedStatusView(
            f"{c.feed}.liquidations",
            "stale" if c.source == down else "ok",
            clock.now - 2_000,
            coverage=c.line(),
        )
        for c in COVERAGE.values()
    ]


def store(repo: Repo, clock: Clock) -> None:
    """Store one BTC liquidation per venue but HTX, an hour ago (synthetic rows, values invented)."""
    rows = [
        Liquidation(
            "BTCUSDT", clock.now - 3_600_000 + i, source, "short", 95_000.0, 1.0 + i, 95_000.0 * (1 + i)
        )
        for i, source in enumerate(VENUES)
        if source != "htx"
    ]
    repo.insert_liquidations(rows)


async def test_liquidations_show_every_venue_with_its_coverage(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, feeds: FixedFeeds, repo: Repo, clock: Clock
) -> None:
    feeds.list += liquidation_feeds(clock, down=None)
    store(repo, clock)
    reply = await discord_emu.slash("liquidations", {"symbol": "BTCUSDT", "window": "4h"}, user_id=MEMBER_ID)
    embed = reply.embeds[0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    for name, label in [
        ("Binance", "lower bound"),
        ("Bybit", "exact"),
        ("OKX", "lower bound"),
        ("Gate", "lower bound"),
        ("HTX", "exact"),
        ("Deribit", "exact"),
        ("Hyperliquid", "partial"),
    ]:
        assert f"{name} · {label}" in fields, sorted(fields)
    assert fields["HTX · exact"] == "none recorded"  # enabled, nothing liquidated there: still listed
    assert fields["Gate · lower bound"].startswith("Longs $0")
    meaning = fields["What each number counts"]
    assert "**Binance** lower bound: Binance pushes at most one liquidation per symbol per second" in meaning
    assert (
        "**Hyperliquid** partial: backstop liquidations only: public trades against the liquidator vault; "
        "market-order liquidations are not public" in meaning
    )
    assert "Total without" not in embed["description"]

    status = await discord_emu.slash("status", {}, user_id=MEMBER_ID)
    lines = {f["name"]: f["value"] for f in status.embeds[0]["fields"]}["Liquidation coverage"]
    assert "🟢 Hyperliquid: partial (backstop liquidations only" in lines
    assert "🟢 Binance: lower bound (Binance pushes at most one liquidation per symbol per second)" in lines


async def test_a_venue_down_makes_the_total_say_without_it(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, feeds: FixedFeeds, repo: Repo, clock: Clock
) -> None:
    feeds.list += liquidation_feeds(clock, down="gate")
    store(repo, clock)
    reply = await discord_emu.slash("liquidations", {"symbol": "BTCUSDT", "window": "4h"}, user_id=MEMBER_ID)
    embed = reply.embeds[0]
    assert "⚠️ Total without Gate: its feed is down." in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Gate · lower bound"].endswith("⚠️ feed down")
    assert "feed down" not in fields["Bybit · exact"]

    # Two down: both named; the venue back up no longer is.
    two = ("htx.liquidations", "deribit.liquidations")
    feeds.list = [f for f in feeds.list if f.coverage is None] + [
        replace(f, state="stale") if f.name in two else f for f in liquidation_feeds(clock, down=None)
    ]
    again = await discord_emu.slash("liquidations", {"symbol": "BTCUSDT", "window": "4h"}, user_id=MEMBER_ID)
    assert "⚠️ Total without HTX and Deribit: their feeds are down." in again.embeds[0]["description"]


def test_a_feed_message_says_which_venues_its_totals_are_without() -> None:
    from bot.notify.discord.render.liqfeed import liqfeed_embed

    event = {"symbol": "BTCUSDT", "source": "deribit", "side": "short", "usd": 2e6, "price": 95e3, "ts": 1}
    batch = {"type": "batch", "min_usd": 1e5, "count": 1, "long_usd": 0, "short_usd": 2e6, "events": [event]}
    embed = liqfeed_embed({**batch, "without": ["htx", "hyperliquid"]})
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Totals without"] == "HTX, Hyperliquid: feeds down, their liquidations are missing"
    assert "Deribit" in (embed.description or "")
    assert "Totals without" not in {f.name for f in liqfeed_embed(batch).fields}


async def test_a_cascade_alert_says_which_venue_its_totals_are_without(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, service: Service, clock: Clock
) -> None:
    from bot.alerts.engine import make_engine
    from bot.alerts.routing import AlertRouter
    from bot.alerts.rules import sync_config_rules
    from bot.notify.discord.sink import DiscordSink
    from bot.notify.outbox import OutboxDispatcher
    from detectors.market_history import MarketHistory
    from feeds.health import HealthRegistry
    from feeds.ingest import Ingest
    from feeds.liq_coverage import venues_down
    from feeds.replay import parse_time
    from tests.bot.discord.noise_support import scenario_config
    from tests.bot.discord.support import bot_messages, drain
    from tests.bot.discord.test_watchdog import Replayed
    from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID, GUILD_ID

    service.setup(GUILD_ID, ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID)
    config = scenario_config()
    config = config.model_copy(update={"routes": [config.routes[0].model_copy(update={"symbols": []})]})
    health = HealthRegistry(clock)
    feeds = [
        health.register("binance_spot", ["candles"], None, stale_after_s=3600),
        health.register(
            "binance_futures", ["liquidations", "funding", "open_interest"], None, stale_after_s=3600
        ),
    ]
    htx = health.register("htx.liquidations", ["liquidations"], ["BTCUSDT", "ETHUSDT"], stale_after_s=60)
    history = MarketHistory()
    data = Replayed(Ingest(repo, history))
    sync_config_rules(repo, config, 0)
    router = AlertRouter(repo, config.routes, console=False, discord=True)
    engine = make_engine(
        config.engine,
        repo,
        history,
        router,
        stale_kinds=health.stale_kinds,
        report_before_creation=True,
        liquidation_gaps=lambda symbol: [c.name for c in venues_down(health, symbol)],
    )
    engine.load()
    dispatcher = OutboxDispatcher(repo, [DiscordSink(tripwire, repo, engine, clock)], clock)
    fired: list[str] = []
    for moment in ("2026-01-13T22:00Z", "2026-01-13T23:00Z"):  # as the live loop evaluates
        clock.now = parse_time(moment)
        for feed in feeds:
            feed.success(clock.now)
        if moment.startswith("2026-01-13T22"):
            htx.success(clock.now)  # HTX delivered at 22:00, then went quiet: stale by 23:00
        data.until(clock.now)
        fired += [e.rule_id for e in engine.evaluate(clock.now) if e.state == "firing"]
        await drain(repo, dispatcher, clock)
    # Binance's liquidations are fresh, so the cascade is not held back; its totals lack HTX's.
    assert "btc-liquidations" in fired
    messages = [m for m in bot_messages(discord_emu, ALERTS_CHANNEL_ID) if m.embeds]
    text = "\n".join(str(e.get("description")) for m in messages for e in m.embeds)
    assert "⚠️ Liquidation totals without HTX (feed down)" in text


def test_the_readme_states_every_venues_coverage_as_the_table_does() -> None:
    """The README's coverage table is written by hand: it must name every venue with its label."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\s*\| ([A-Za-z]+) \| (exact|lower bound|partial) \| ", readme, re.MULTILINE)
    assert sorted(rows) == sorted((c.name, c.label) for c in COVERAGE.values())
