"""Draw the indicators of the rules a chart shows: lines over the candles, or panes of their own below.

Moving averages and Bollinger bands go over the candles (a band's edges with a light fill between them);
an oscillator (RSI, Stoch RSI) gets a pane from 0 to 100 with the rule's levels; a MACD gets a pane scaled
to its values, its line and signal over a histogram, with the zero line. ``bot.charts.draw`` calls
``pane_plots`` to size its grid, then ``draw_overlays`` and ``draw_pane``. Every artist has a ``gid``
(``bot.charts.indicator_spec``) and every series line its name as label, so tests find them.
"""

from __future__ import annotations

from itertools import cycle, pairwise

from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection

from bot.charts.indicator_spec import (
    GID_INDICATOR_BAND,
    GID_INDICATOR_HISTOGRAM,
    GID_INDICATOR_LEVEL,
    GID_INDICATOR_LINE,
    GID_INDICATOR_PANE,
    IndicatorPlot,
    IndicatorSeries,
)
from bot.charts.spec import ChartSpec, Palette
from storage.rows import DAY_MS

# A pane's height beside the price panel's 5 and the volume panel's 1.2.
PANE_RATIO = 1.6
# Series colours, readable on both themes and unlike the candles' green and red.
SERIES_COLOURS = ("#f0b232", "#4e9bf5", "#c9a0ff", "#f0883e", "#2bb3a8")


def _x(ms: float) -> float:
    return ms / DAY_MS  # matplotlib's date number, as bot.charts.draw.to_x


def pane_plots(spec: ChartSpec) -> list[IndicatorPlot]:
    """Return the plots that need a pane of their own, in the order they are drawn."""
    return [p for p in spec.indicators if p.placement != "price"]


def draw_overlays(ax: Axes, spec: ChartSpec) -> tuple[float, float] | None:
    """Draw the price-placed indicators over the candles; return the value range drawn (None: nothing)."""
    values: list[float] = []
    colours = cycle(SERIES_COLOURS)
    for plot in spec.indicators:
        if plot.placement != "price":
            continue
        bands = [s for s in plot.series if s.style == "band"]
        # A Bollinger plot is one colour: its dashed edges, the fill between them and its middle line.
        band_colour = next(colours) if bands else None
        if len(bands) == 2 and band_colour is not None:
            _fill_band(ax, bands[0], bands[1], band_colour)
        for series in plot.series:
            _line(ax, series, band_colour or next(colours), dashed=series.style == "band")
            values.extend(series.values)
    return (min(values), max(values)) if values else None


def draw_pane(ax: Axes, plot: IndicatorPlot, palette: Palette) -> None:
    """Draw one indicator in its own pane: its lines (and histogram), its levels and its name."""
    drawn: list[float] = []
    colour = 0
    for series in plot.series:
        if series.style == "histogram":
            _histogram(ax, series, palette)
        else:
            _line(ax, series, SERIES_COLOURS[colour % len(SERIES_COLOURS)])
            colour += 1
        drawn.extend(series.values)
    for level in plot.levels:
        ax.axhline(level, color=palette.muted, linewidth=0.8, linestyle=(0, (4, 3)), gid=GID_INDICATOR_LEVEL)
    if plot.placement == "oscillator":
        ax.set_ylim(0, 100)
    elif drawn:
        low, high = min([*drawn, *plot.levels]), max([*drawn, *plot.levels])
        pad = (high - low) * 0.08 or abs(high) * 0.01 or 1.0
        ax.set_ylim(low - pad, high + pad)
    ax.text(
        0.005,
        0.95,
        plot.label,
        transform=ax.transAxes,
        color=palette.text,
        fontsize=8,
        va="top",
        gid=GID_INDICATOR_PANE,
    )


def _line(ax: Axes, series: IndicatorSeries, colour: str, *, dashed: bool = False) -> None:
    ax.plot(
        [_x(t) for t in series.times],
        list(series.values),
        color=colour,
        linewidth=0.9 if dashed else 1.2,
        linestyle="--" if dashed else "-",
        label=series.name,
        gid=GID_INDICATOR_LINE,
    )


def _fill_band(ax: Axes, upper: IndicatorSeries, lower: IndicatorSeries, colour: str) -> None:
    # The two edges share their times (both come from the same candles); the fill follows them.
    ax.fill_between(
        [_x(t) for t in upper.times],
        list(lower.values),
        list(upper.values),
        color=colour,
        alpha=0.08,
        linewidth=0,
        gid=GID_INDICATOR_BAND,
    )


def _histogram(ax: Axes, series: IndicatorSeries, palette: Palette) -> None:
    times = series.times
    step = min((b - a for a, b in pairwise(times)), default=DAY_MS)
    width = _x(step) * 0.7
    bars = [
        [(_x(t) - width / 2, 0.0), (_x(t) + width / 2, 0.0), (_x(t) + width / 2, v), (_x(t) - width / 2, v)]
        for t, v in zip(times, series.values, strict=True)
    ]
    colours = [palette.up if v >= 0 else palette.down for v in series.values]
    ax.add_collection(
        PolyCollection(
            bars,
            facecolors=colours,
            edgecolors=colours,
            alpha=0.6,
            label=series.name,
            gid=GID_INDICATOR_HISTOGRAM,
        )
    )
