"""ReplayFeed: a replay's rows into the history at their instant, and into the database by ``store``.

The rows are SYNTHETIC (a few hand-made candles and liquidation events).
"""

from __future__ import annotations

import math

from bot.replay.feed import ReplayFeed
from detectors.market_history import MarketHistory
from feeds.replay import Batch
from storage.repo import Repo
from storage.rows import Candle, Liquidation

T0 = 1_768_392_000_000  # 2026-01-14 12:00 UTC
MINUTE = 60_000


def candle(open_time: int, close: float) -> Candle:
    return Candle("BTCUSDT", "1m", open_time, "binance", close, close + 5, close - 5, close, 3.0, None, True)


def test_rows_reach_the_history_at_once_and_the_database_at_store(repo: Repo) -> None:
    history = MarketHistory()
    feed = ReplayFeed(repo, history)
    event = Liquidation("BTCUSDT", T0 + MINUTE, "binance", "long", 95_000.0, 2.0, 190_000.0)
    taken = feed.take(Batch(candles=[candle(T0, 95_000.0)], liquidations=[event]))
    assert taken == 2
    view = history.view("BTCUSDT", T0 + 2 * MINUTE)
    assert view.liquidations(T0, T0 + 2 * MINUTE).long_usd == 190_000.0
    assert repo.candles("BTCUSDT", "1m") == []  # nothing written before ``store``
    assert feed.waiting_rows == 2

    feed.store()
    assert repo.candles("BTCUSDT", "1m") == [candle(T0, 95_000.0)]
    assert repo.liquidations("BTCUSDT") == [event]
    assert feed.waiting_rows == 0
    feed.store()  # nothing left to write: the rows are not written twice
    assert len(repo.liquidations("BTCUSDT")) == 1


def test_repeated_events_of_an_instant_are_counted_once(repo: Repo) -> None:
    history = MarketHistory()
    feed = ReplayFeed(repo, history)
    event = Liquidation("BTCUSDT", T0, "binance", "short", 95_000.0, 1.0, 95_000.0)
    other = event._replace(qty=2.0, usd=190_000.0)
    # Two recorded files holding the same event: its repeat never reaches the history's totals.
    feed.take(Batch(liquidations=[event, other, event._replace(price=95_000.0 + 0.0)]))
    feed.store()
    assert history.view("BTCUSDT", T0 + MINUTE).liquidations(T0, T0 + MINUTE).short_usd == 285_000.0
    assert sorted(repo.liquidations("BTCUSDT")) == sorted([event, other])


def test_refused_rows_are_neither_remembered_nor_stored(repo: Repo) -> None:
    history = MarketHistory()
    feed = ReplayFeed(repo, history)
    bad = candle(T0 + MINUTE, 95_000.0)._replace(c=math.nan)
    assert feed.take(Batch(candles=[candle(T0, 95_000.0), bad])) == 2  # rows handed over, as counted
    feed.store()
    assert repo.candles("BTCUSDT", "1m") == [candle(T0, 95_000.0)]
    assert history.view("BTCUSDT", T0 + 3 * MINUTE).last_price() == (T0 + MINUTE, 95_000.0)
    assert feed.guard.refused["candles:binance:number"] == 1
