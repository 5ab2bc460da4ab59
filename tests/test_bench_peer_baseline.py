"""The peers' way in bench.replay reads the windows it claims: resampled closes, liquidations per minute."""

from __future__ import annotations

import math

from bench.peer_baseline import _closes_of, market_arrays, recompute_for, time_per_candle
from bench.synthetic import START, synthetic_market
from storage.rows import HOUR_MS, MINUTE_MS


def test_liquidations_are_summed_per_candle_minute_and_side() -> None:
    data = synthetic_market(180)  # SYNTHETIC: three hours of the seeded random walk
    market = market_arrays(data)
    btc = market.symbols["BTCUSDT"]
    events = [row for _, batch in data.timeline() for row in batch.liquidations if row.symbol == "BTCUSDT"]
    assert len(btc.t) == 180 and btc.t[0] == START
    assert math.isclose(btc.liq_long.sum(), sum(r.usd for r in events if r.side == "long"))
    assert math.isclose(btc.liq_short.sum(), sum(r.usd for r in events if r.side == "short"))
    first = [r for r in events if r.ts < START + MINUTE_MS]
    assert math.isclose(btc.liq_long[0] + btc.liq_short[0], sum(r.usd for r in first))


def test_closes_are_resampled_to_the_interval_as_pandas_last_does() -> None:
    market = market_arrays(synthetic_market(300))
    btc = market.symbols["BTCUSDT"]
    # At the close of the fifth hour, the hourly closes of the last three hours are the closes of the
    # one-minute candles ending each hour.
    closes = _closes_of(btc, 299, 180, 60)
    assert list(closes) == [btc.c[179], btc.c[239], btc.c[299]]


def test_every_rule_kind_recomputes_a_finite_number() -> None:
    market = market_arrays(synthetic_market(3 * 1440))
    rules = [
        recompute_for("pct_move", _Settings(window_hours=24), "BTCUSDT", 24 * HOUR_MS),
        recompute_for("range_breakout", _Settings(days=1), "BTCUSDT", 24 * HOUR_MS),
        recompute_for("rsi", _Settings(interval="4h", period=14), "BTCUSDT", 16 * 4 * HOUR_MS),
    ]
    seconds, total = time_per_candle(market, rules, 2 * 1440, 10, lambda: 0.0)
    assert seconds == 0.0 and math.isfinite(total) and total != 0.0


class _Settings:
    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)
