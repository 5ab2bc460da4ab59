"""What a chart draws of a rule's indicator: plain data, from ``indicator_data``, drawn by ``indicators``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Where a plot goes: over the candles (moving averages, Bollinger bands), or a pane of its own below them
# (an oscillator from 0 to 100: RSI, Stoch RSI; or scaled to its values: MACD around zero).
Placement = Literal["price", "oscillator", "pane"]
# How a series is drawn: a line, the histogram of a MACD, or one edge of a filled band.
SeriesStyle = Literal["line", "histogram", "band"]

# Artist gids, so tests find each element among a figure's artists.
GID_INDICATOR_LINE = "indicator-line"  # one Line2D per series; its label names it ("RSI(14, 4h)")
GID_INDICATOR_BAND = "indicator-band"  # the fill between Bollinger bands
GID_INDICATOR_LEVEL = "indicator-level"  # a rule's level in a pane (RSI 70, MACD zero)
GID_INDICATOR_HISTOGRAM = "indicator-histogram"  # MACD histogram bars
GID_INDICATOR_PANE = "indicator-pane"  # the pane's title text


@dataclass(frozen=True, slots=True)
class IndicatorSeries:
    """One output of an indicator over the chart's window: (time, value) pairs, times in UTC ms."""

    name: str  # "RSI(14, 4h)", "upper", "signal"
    times: tuple[int, ...]
    values: tuple[float, ...]
    style: SeriesStyle = "line"


@dataclass(frozen=True, slots=True)
class IndicatorPlot:
    """A rule's indicator as a chart shows it."""

    rule_id: str
    label: str  # "RSI(14, 4h) · btc-rsi-1a2b"
    placement: Placement
    series: tuple[IndicatorSeries, ...]
    # Horizontal lines in its pane: the rule's levels (RSI above=70), zero for a MACD.
    levels: tuple[float, ...] = ()
