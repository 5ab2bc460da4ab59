"""The large-liquidation feed's grouping: windows, batches, the switch to summaries and back, filters."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.errors import UserError
from bot.liqfeed.feed import (
    LIQFEED_KIND,
    LiquidationFeed,
    Pacing,
    Totals,
    build_liquidation_feed,
    size_marker,
)
from bot.liqfeed.settings import FeedSettings, LiqFeedService
from detectors.market_history import MarketHistory
from feeds.ingest import Ingest
from storage.repo import Repo
from storage.rows import Liquidation
from tests.bot.support import Clock

T0 = 1_768_392_000_000  # 2026-01-14 12:00 UTC
GUILD, CHANNEL = 111, 222
SETTINGS = FeedSettings(GUILD, CHANNEL, 100_000.0)


def liq(
    n: int, at: int, *, usd: float = 250_000.0, side: str = "long", symbol: str = "BTCUSDT"
) -> Liquidation:
    """Return a distinct liquidation event ``n`` at ``at`` (price 95,000, size ``usd``)."""
    return Liquidation(symbol, at, "binance", side, 95_000.0 + n, usd / (95_000.0 + n), usd)  # type: ignore[arg-type]


def queued(repo: Repo) -> list[dict[str, Any]]:
    """Return the payloads the feed wrote to the outbox, in order."""
    rows = repo.due_outbox("discord", 2**62, 1_000)
    assert all(r.kind == LIQFEED_KIND and r.target == f"channel:{CHANNEL}" for r in rows)
    return [r.payload for r in rows]


@pytest.fixture
def clock() -> Clock:
    """Return a clock at noon on the day after the $95,000 break."""
    return Clock(T0)


@pytest.fixture
def feed(repo: Repo, clock: Clock) -> LiquidationFeed:
    """Return a feed for one server, threshold $100k, default pacing."""
    feed = LiquidationFeed(repo, clock)
    feed.load([SETTINGS])
    return feed


def test_size_markers() -> None:
    assert [size_marker(x) for x in (50_000, 100_000, 999_999, 1e6, 9.9e6, 1e7, 3e8)] == [
        "🦐",
        "🐟",
        "🐟",
        "🦈",
        "🦈",
        "🐋",
        "🐋",
    ]


def test_a_single_liquidation_is_posted_when_its_window_closes(
    feed: LiquidationFeed, repo: Repo, clock: Clock
) -> None:
    event = liq(1, T0, usd=2_400_000, side="short")
    feed.on_rows([event])
    clock.now = T0 + 1_999
    assert feed.tick() == 0 and feed.next_due() == T0 + 2_000
    clock.now = T0 + 2_000
    assert feed.tick() == 1
    [payload] = queued(repo)
    assert payload["type"] == "batch" and payload["count"] == 1 and payload["guild_id"] == GUILD
    assert payload["events"] == [
        {
            "symbol": "BTCUSDT",
            "source": "binance",
            "side": "short",
            "usd": 2_400_000,
            "price": 95_001.0,
            "ts": T0,
        }
    ]
    assert (payload["short_usd"], payload["long_usd"], payload["min_usd"]) == (2_400_000, 0, 100_000)
    assert feed.tick() == 0 and feed.next_due() is None


def test_only_matching_and_recent_events_are_posted(feed: LiquidationFeed, repo: Repo, clock: Clock) -> None:
    feed.feed_changed(GUILD, FeedSettings(GUILD, CHANNEL, 100_000.0, ("ETHUSDT",), ("bybit", "okx")))
    wanted = Liquidation("ETHUSDT", T0, "okx", "long", 3_300.0, 100.0, 330_000.0)
    feed.on_rows(
        [
            wanted,
            wanted._replace(usd=99_999.0),  # under the threshold
            wanted._replace(symbol="BTCUSDT"),  # another symbol
            wanted._replace(source="binance"),  # another exchange
            wanted._replace(ts=T0 - 121_000),  # a REST catch-up of an old event: history, not news
        ]
    )
    clock.now = T0 + 2_000
    feed.tick()
    [payload] = queued(repo)
    assert payload["count"] == 1 and payload["events"][0]["source"] == "okx"


def test_a_burst_in_one_window_is_one_message_with_exact_totals(
    feed: LiquidationFeed, repo: Repo, clock: Clock
) -> None:
    burst = [liq(n, T0 + n, usd=100_000 + n * 1_000, side="long" if n % 3 else "short") for n in range(300)]
    feed.on_rows(burst)
    clock.now = T0 + 2_000
    assert feed.tick() == 1
    [payload] = queued(repo)
    longs = [r.usd for r in burst if r.side == "long"]
    shorts = [r.usd for r in burst if r.side == "short"]
    assert (payload["count"], payload["long_count"], payload["short_count"]) == (300, len(longs), len(shorts))
    assert payload["long_usd"] == pytest.approx(sum(longs)) and payload["short_usd"] == pytest.approx(
        sum(shorts)
    )
    assert [e["usd"] for e in payload["events"]] == sorted((r.usd for r in burst), reverse=True)[:10]
    assert feed.mode(GUILD) == "live"


def test_a_burst_over_a_few_seconds_stays_live(feed: LiquidationFeed, repo: Repo, clock: Clock) -> None:
    for second in range(5):
        clock.now = T0 + second * 1_000
        feed.on_rows([liq(second * 100 + n, clock.now) for n in range(100)])
        feed.tick()
    clock.now = T0 + 10_000
    feed.tick()
    payloads = queued(repo)
    assert [p["type"] for p in payloads] == ["batch", "batch"]
    assert sum(p["count"] for p in payloads) == 500 and feed.mode(GUILD) == "live"


def test_a_storm_switches_to_summaries_once_and_back_once(
    feed: LiquidationFeed, repo: Repo, clock: Clock
) -> None:
    sent: list[Liquidation] = []
    for second in range(80):  # ten events every second for 80 s
        clock.now = T0 + second * 1_000
        rows = [liq(second * 10 + n, clock.now, side="short" if n < 7 else "long") for n in range(10)]
        sent += rows
        feed.on_rows(rows)
        feed.tick()
        if second == 50:
            assert feed.mode(GUILD) == "summary"
    for second in range(80, 140):  # then a minute of calm
        clock.now = T0 + second * 1_000
        feed.tick()
    payloads = queued(repo)
    kinds = [p["type"] if p["type"] != "mode" else f"mode:{p['mode']}" for p in payloads]
    # Windows close at 2, 5 and 8 s; the fourth (11 s) would be a fourth message within 10 s. Summaries
    # cover 11-41 s and 41-71 s; 71-101 s had only three windows (74, 77, 80 s): calm, so its summary is
    # the last one and the feed is live again.
    assert kinds == ["batch"] * 3 + ["mode:summary", "summary", "summary", "summary", "mode:live"]
    assert payloads[3]["summary_s"] == 30 and payloads[3]["max_messages"] == 3
    batches, summaries = payloads[:3], payloads[4:7]
    # Every event is in exactly one batch or summary, with the right side.
    assert sum(p["count"] for p in batches + summaries) == len(sent)
    assert sum(p["short_count"] for p in batches + summaries) == 7 * 80
    assert sum(p["long_usd"] for p in batches + summaries) == pytest.approx(3 * 80 * 250_000)
    assert [(p["start_ms"] - T0, p["end_ms"] - T0) for p in summaries] == [
        (11_000, 41_000),
        (41_000, 71_000),
        (71_000, 101_000),
    ]
    assert all(len(p["events"]) == 5 for p in summaries)
    assert feed.mode(GUILD) == "live"

    # Live again: the next event is posted on its own.
    clock.now = T0 + 140_000
    feed.on_rows([liq(9_999, clock.now)])
    clock.now += 2_000
    feed.tick()
    assert queued(repo)[-1]["type"] == "batch" and queued(repo)[-1]["count"] == 1


def test_a_storm_that_stops_inside_an_interval_ends_with_one_last_summary(repo: Repo, clock: Clock) -> None:
    feed = LiquidationFeed(repo, clock, pacing=Pacing(max_messages=1))
    feed.load([SETTINGS])
    for second in range(8):
        clock.now = T0 + second * 1_000
        feed.on_rows([liq(second, clock.now)])
        feed.tick()
    for second in range(8, 40):
        clock.now = T0 + second * 1_000
        feed.tick()
    kinds = [p["type"] for p in queued(repo)]
    assert kinds == ["batch", "mode", "summary", "mode"]
    assert sum(p.get("count", 0) for p in queued(repo)) == 8


def test_settings_changes_apply_at_once(feed: LiquidationFeed, repo: Repo, clock: Clock) -> None:
    feed.on_rows([liq(1, T0)])
    feed.feed_changed(GUILD, None)  # switched off with an event waiting: it is not posted
    assert feed.mode(GUILD) is None and feed.next_due() is None
    clock.now = T0 + 5_000
    assert feed.tick() == 0
    feed.feed_changed(GUILD, FeedSettings(GUILD, CHANNEL, 1_000_000.0))
    feed.on_rows([liq(2, clock.now, usd=500_000), liq(3, clock.now, usd=1_500_000)])
    clock.now += 2_000
    feed.tick()
    assert [e["usd"] for e in queued(repo)[0]["events"]] == [1_500_000]


def test_totals_keep_only_the_largest_events() -> None:
    totals = Totals(keep=3)
    totals.add(liq(n, T0 + n, usd=float(u)) for n, u in enumerate([5, 1, 9, 3, 9, 7]))
    assert [r.usd for r in totals.largest()] == [9, 9, 7]
    assert [r.ts for r in totals.largest()[:2]] == [T0 + 2, T0 + 4]  # the earlier of two equals first
    assert totals.count == 6 and totals.long_usd == 34 and totals.first_ts == T0 and totals.last_ts == T0 + 5


async def test_the_running_feed_wakes_for_new_events_and_stops_cleanly(repo: Repo) -> None:
    real = Clock(T0)
    woken: list[int] = []
    feed = LiquidationFeed(repo, real, pacing=Pacing(batch_s=0.05), on_queued=lambda: woken.append(1))
    feed.load([SETTINGS])
    stop = asyncio.Event()
    task = asyncio.create_task(feed.run(stop, idle_seconds=5.0))
    await asyncio.sleep(0.01)
    feed.on_rows([liq(1, T0)])
    real.now += 50  # the window is due; the loop was told of the event and sleeps only until then
    for _ in range(100):
        if feed.queued:
            break
        await asyncio.sleep(0.01)
    assert feed.queued == 1 and woken == [1]
    stop.set()
    await asyncio.wait_for(task, 1.0)


# --- settings --------------------------------------------------------------------------------------


def test_settings_are_validated_stored_and_handed_to_the_feed(
    repo: Repo, feed: LiquidationFeed, clock: Clock
) -> None:
    service = LiqFeedService(repo, ["BTCUSDT", "ETHUSDT"], clock, runtime=feed)
    view = service.set(GUILD, 7, 333, 250_000, "btc, ETH/USDT btc", "Bybit,okx")
    assert view.settings == FeedSettings(
        GUILD, 333, 250_000.0, ("BTCUSDT", "ETHUSDT"), ("bybit", "okx"), 7, T0
    )
    assert service.show(GUILD).settings == view.settings and service.show(GUILD).mode == "live"
    assert service.all_settings() == [view.settings]
    # Other guild settings are kept.
    row = repo.guild_settings(GUILD)
    assert row is not None and row.settings["liqfeed"]["min_usd"] == 250_000.0
    assert feed.mode(GUILD) == "live"

    for args, message in [
        ((9_999.0,), "The threshold must be between $10.0k and $1.0B"),
        ((-1.0,), "The threshold must be between"),
        ((float("inf"),), "The threshold must be between"),
        ((2e9,), "The threshold must be between"),
        ((100_000.0, "doge"), "Unknown symbol `doge`"),
        ((100_000.0, None, "kraken"), "Unknown exchange `kraken`. Tripwire reads liquidations from: binance"),
    ]:
        with pytest.raises(UserError) as caught:
            service.set(GUILD, 7, 333, *args)  # type: ignore[arg-type]
        assert caught.value.message.startswith(message), caught.value.message
    assert service.settings(GUILD) == view.settings  # a refused change leaves the feed as it was

    assert service.off(GUILD).settings is None and feed.mode(GUILD) is None
    with pytest.raises(UserError, match="no liquidation feed"):
        service.off(GUILD)


def test_a_restarted_feed_picks_up_the_stored_settings_and_listens_to_ingest(
    repo: Repo, clock: Clock
) -> None:
    before, _ = build_liquidation_feed(repo, Ingest(repo, MarketHistory()), ["BTCUSDT"], clock)
    LiqFeedService(repo, ["BTCUSDT"], clock, runtime=before).set(GUILD, 7, CHANNEL, 500_000)
    # A new process: nothing but the database is left.
    ingest = Ingest(repo, MarketHistory())
    woken: list[int] = []
    feed, service = build_liquidation_feed(
        repo, ingest, ["BTCUSDT"], clock, on_queued=lambda: woken.append(1)
    )
    assert service.show(GUILD).mode == "live" and service.runtime is feed
    ingest.liquidations([liq(1, T0, usd=600_000), liq(2, T0, usd=400_000)])
    clock.now = T0 + 2_000
    assert feed.tick() == 1 and woken == [1]
    assert [e["usd"] for e in queued(repo)[0]["events"]] == [600_000]


def test_totals_say_which_venues_they_are_without(repo: Repo, clock: Clock) -> None:
    down = ["htx", "gate"]
    feed = LiquidationFeed(repo, clock, venues_down=lambda: list(down))
    only_binance = FeedSettings(GUILD + 1, CHANNEL, 100_000.0, exchanges=("binance", "gate"))
    feed.load([SETTINGS, only_binance])
    feed.on_rows([liq(1, T0)])
    clock.now = T0 + 2_000
    assert feed.tick() == 2
    payloads = {p["guild_id"]: p for p in queued(repo)}
    assert payloads[GUILD]["without"] == ["gate", "htx"]
    # A server reading only some exchanges hears only about those.
    assert payloads[GUILD + 1]["without"] == ["gate"]
    down.clear()
    feed.on_rows([liq(2, clock.now)])
    clock.now += 2_000
    feed.tick()
    assert "without" not in queued(repo)[-1]
