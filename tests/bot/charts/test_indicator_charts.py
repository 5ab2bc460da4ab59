"""/chart draws the indicator of each indicator rule shown, checked through the figure's artists.

On the bundled scenario (real BTCUSDT hours from 2026-01-01): an RSI pane with the rule's levels, moving
averages and Bollinger bands over the candles, a MACD pane; the RSI drawn is TA-Lib's on the same candles.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from itertools import pairwise

import numpy as np
import pytest
import talib
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text

from bot.charts.data import chart_spec_from_repo
from bot.charts.draw import build_figure, render_png
from bot.charts.indicator_data import indicator_plots
from bot.charts.indicator_spec import (
    GID_INDICATOR_BAND,
    GID_INDICATOR_HISTOGRAM,
    GID_INDICATOR_LEVEL,
    GID_INDICATOR_LINE,
    GID_INDICATOR_PANE,
    IndicatorPlot,
    IndicatorSeries,
)
from detectors.indicators import RSI as RsiIndicator
from feeds.replay import parse_time
from storage.db import open_database
from storage.repo import Repo, RuleRow
from tests.bot.scenario import seed

H = 3_600_000
START = parse_time("2026-01-10")
END = parse_time("2026-01-17")

RSI = RuleRow(
    "btc-rsi", "config", "rsi", "BTCUSDT", {"interval": "1h", "period": 14, "above": 70, "below": 30}
)
MAS = RuleRow(
    "btc-ma", "config", "ma_cross", "BTCUSDT", {"interval": "1h", "fast": 20, "slow": 50, "kind": "ema"}
)
BANDS = RuleRow("btc-bb", "config", "bollinger", "BTCUSDT", {"interval": "4h", "period": 20, "mult": 2.0})
MACD = RuleRow("btc-macd", "config", "macd", "BTCUSDT", {"interval": "1h"})
LEVEL = RuleRow("btc-95k", "config", "level_cross", "BTCUSDT", {"level": 95000})
ETH_RSI = replace(RSI, id="eth-rsi", symbol="ETHUSDT")


@pytest.fixture(scope="module")
def repo() -> Iterator[Repo]:
    """The bundled scenario's rows in an in-memory database."""
    db = open_database(":memory:")
    repo = Repo(db)
    seed(repo)
    yield repo
    db.conn.close()


def artists(fig: Figure, gid: str) -> list[Artist]:
    return list(fig.findobj(lambda a: a.get_gid() == gid))


def lines_in(ax: Axes) -> dict[str, Line2D]:
    return {str(line.get_label()): line for line in ax.get_lines() if line.get_gid() == GID_INDICATOR_LINE}


def talib_rsi(repo: Repo, since: int) -> dict[int, float]:
    """Return TA-Lib's RSI(14) of the stored hours from ``since``, by candle middle."""
    rows = repo.candles("BTCUSDT", "1h", since, END)
    values = talib.RSI(np.array([r.c for r in rows]), 14)
    return {r.open_time + H // 2: float(v) for r, v in zip(rows, values, strict=True)}


def _worst(series: IndicatorSeries, expected: dict[int, float]) -> float:
    return max(abs(v - expected[t]) for t, v in zip(series.times, series.values, strict=True))


def test_rsi_gets_a_pane_with_its_levels_and_tallibs_values(repo: Repo) -> None:
    [plot] = indicator_plots(repo, [RSI, LEVEL, ETH_RSI], "BTCUSDT", START, END)
    assert (plot.rule_id, plot.placement, plot.levels) == ("btc-rsi", "oscillator", (30.0, 70.0))
    spec = replace(chart_spec_from_repo(repo, "BTCUSDT", "1h", START, END, [RSI]), indicators=(plot,))
    fig = build_figure(spec)
    price, _volume, _liquidations, pane = fig.axes
    assert lines_in(price) == {} and set(lines_in(pane)) == {"RSI(14, 1h)"}
    assert pane.get_ylim() == (0.0, 100.0)
    levels = [line for line in pane.get_lines() if line.get_gid() == GID_INDICATOR_LEVEL]
    assert sorted(float(line.get_ydata()[0]) for line in levels) == [30.0, 70.0]  # type: ignore[index]
    [title] = [t for t in artists(fig, GID_INDICATOR_PANE) if isinstance(t, Text)]
    assert title.get_text() == "RSI(14, 1h) · btc-rsi"
    # One value per hour of the window (and the hour before it, so the line starts at the left edge), under
    # its candle, equal to TA-Lib's RSI over the stored hours.
    [series] = plot.series
    assert len(series.times) == (END - START) // H + 1
    assert series.times[0] == START - H // 2 and series.times[-1] == END - H // 2
    # Fed from warm-up + settling candles before the window: TA-Lib on those same candles, to 1e-6.
    fresh = RsiIndicator(14)
    fed_from = START - H - (fresh.warmup + fresh.settle - 1) * H
    assert abs(_worst(series, talib_rsi(repo, fed_from)) - 0.0) < 1e-6
    # And within 0.01 RSI points of TA-Lib fed since the first stored hour, as a long chart shows it.
    assert _worst(series, talib_rsi(repo, parse_time("2026-01-01"))) < 0.01
    assert render_png(fig).startswith(b"\x89PNG")


def test_moving_averages_and_bands_go_over_the_candles_macd_gets_its_pane(repo: Repo) -> None:
    plots = indicator_plots(repo, [MAS, BANDS, MACD, RSI], "BTCUSDT", START, END)
    assert [p.rule_id for p in plots] == ["btc-ma", "btc-bb", "btc-macd"]  # at most three per chart
    spec = replace(chart_spec_from_repo(repo, "BTCUSDT", "1h", START, END, [MAS]), indicators=plots)
    fig = build_figure(spec)
    price, *_, macd_pane = fig.axes
    assert len(fig.axes) == 4  # price, volume, liquidations and one pane: moving averages need none
    over = lines_in(price)
    assert set(over) == {
        "EMA(20, 1h)",
        "EMA(50, 1h)",
        "BB(20, 2, 4h) upper",
        "BB(20, 2, 4h) lower",
        "BB(20, 2, 4h) middle",
    }
    [band] = artists(fig, GID_INDICATOR_BAND)
    assert band.axes is price
    # The 4h bands step once per four hourly candles: 42 values over the week, and the one before it.
    [upper] = [s for p in plots for s in p.series if s.name.endswith("upper")]
    assert len(upper.times) == 43 and all(b - a == 4 * H for a, b in pairwise(upper.times))
    assert {"MACD(12, 26, 9, 1h) macd", "MACD(12, 26, 9, 1h) signal"} == set(lines_in(macd_pane))
    [histogram] = artists(fig, GID_INDICATOR_HISTOGRAM)
    assert isinstance(histogram, PolyCollection) and histogram.axes is macd_pane
    assert len(histogram.get_paths()) == (END - START) // H + 1
    [zero] = [line for line in macd_pane.get_lines() if line.get_gid() == GID_INDICATOR_LEVEL]
    assert float(zero.get_ydata()[0]) == 0.0  # type: ignore[index]
    # The y-range of the price panel holds the bands.
    low, high = price.get_ylim()
    assert low <= min(upper.values) and max(upper.values) <= high


def test_no_indicator_rule_no_pane(repo: Repo) -> None:
    assert indicator_plots(repo, [LEVEL, ETH_RSI], "BTCUSDT", START, END) == ()
    fig = build_figure(chart_spec_from_repo(repo, "BTCUSDT", "1h", START, END, [LEVEL]))
    assert len(fig.axes) == 3 and artists(fig, GID_INDICATOR_LINE) == []
    weekly = replace(RSI, id="btc-rsi-1w", settings={**RSI.settings, "interval": "1w"})
    plots: tuple[IndicatorPlot, ...] = indicator_plots(repo, [weekly], "BTCUSDT", START, END)
    assert plots == ()  # two closed weeks: nothing to draw yet
