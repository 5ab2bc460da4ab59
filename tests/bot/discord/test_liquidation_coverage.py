"""/liquidations and /status name every enabled liquidation venue with what its number counts, through
the Discord emulator; a venue whose feed is down makes the total say it is without that venue."""

from __future__ import annotations

from dataclasses import replace

from bot.discord.client import TripwireBot
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
