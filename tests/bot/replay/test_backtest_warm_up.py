"""A backtest ingests, before its window, the history the rule's indicators need (not only 7 days).

BTC's daily RSI(14) on the bundled hours (2026-01-01..20): TA-Lib's, over the daily closes, is 68.69 on the
17th's close and 61.86 on the 18th's, so RSI crossing below 65 happens at 2026-01-19 00:00. The rule needs
16 closed days; a three-day window from the 18th only sees it with more than a week of history before it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

import numpy as np
import pytest
import talib

from bot.cli.common import scenario_data_repo
from bot.replay.backtest import backtest, warm_up_span
from detectors.level_cross import LevelCrossSettings
from detectors.rsi import RsiSettings
from feeds.replay import parse_time
from storage.repo import Repo
from storage.rows import DAY_MS, HOUR_MS
from tests.bot.replay.test_backtest import SCENARIO

RSI_1D_BELOW_65 = {
    "detector": "rsi",
    "symbol": "BTCUSDT",
    "interval": "1d",
    "period": 14,
    "below": 65,
    "cooldown_seconds": 0,
}


@pytest.fixture(scope="module")
def stored() -> Iterator[Repo]:
    """The bundled data stored (not replayed)."""
    repo = scenario_data_repo(SCENARIO)
    yield repo
    repo.close()


def test_the_span_is_the_warm_up_and_one_candle_more() -> None:
    assert warm_up_span(RsiSettings(interval="1d", period=14, above=70)) == 17 * DAY_MS
    assert warm_up_span(RsiSettings(interval="4h", period=14, above=70)) == 17 * 4 * HOUR_MS
    assert warm_up_span(LevelCrossSettings(level=95000)) == 0


def test_a_daily_rsi_fires_in_a_three_day_window_where_talib_crosses(stored: Repo) -> None:
    with (SCENARIO / "binance_spot_BTCUSDT_1h_2026-01-01_2026-01-20.csv").open() as fh:
        closes: dict[str, float] = {}
        for row in csv.DictReader(fh):
            closes[row["timestamp"][:10]] = float(row["close"])  # the day's last hour: its close
    days = sorted(closes)
    rsi = talib.RSI(np.array([closes[d] for d in days]), 14)
    crossed = [
        parse_time(days[i]) + DAY_MS  # the day's candle closes at the next midnight
        for i in range(1, len(days))
        if rsi[i - 1] >= 65 > rsi[i]
    ]
    assert crossed == [parse_time("2026-01-19T00:00Z")]
    result = backtest(stored, RSI_1D_BELOW_65, end=parse_time("2026-01-21"), days=3, chart=False)
    assert result.start == parse_time("2026-01-18")
    assert [a.at for a in result.fired] == crossed
