"""Render market charts as PNG: candles (or a line), volume, liquidations by side, rule levels, alerts.

Everything here is a pure function of a ``ChartSpec``: no database, no Discord, no pyplot. Figures are
built as ``matplotlib.figure.Figure`` objects and drawn by the Agg canvas, never through pyplot's global
figure manager, so several charts can render at once in worker threads. The intended use from the bot:
build the spec on the event loop (``bot.charts.data``: a few indexed queries, milliseconds), then
``await asyncio.to_thread(render_chart, spec)`` for the 0.1-0.3 s of drawing.

Theme: the PNG has an opaque background in the palette of the chosen theme (``dark`` matches Discord's
dark chat background, ``light`` its light one). An opaque image reads the same in either Discord theme;
a transparent one would put dark text on a dark background for half the users. ``dark`` is the default
because it is Discord's default.

Layout: a price panel (candlesticks up to ``LINE_THRESHOLD`` candles, a close line beyond, where bodies
would be thinner than a pixel), a volume panel, and, when the spec carries liquidation data, a panel of
liquidated USD per candle: shorts liquidated above zero, longs below, in two colours unlike the candles'.
Every drawn element has a ``gid`` (the ``GID_*`` names) so tests find it among the figure's artists.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC

import matplotlib

# Before any other matplotlib import: no display here, and no GUI backend pulled in by accident.
matplotlib.use("Agg")

from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import blended_transform_factory

from bot.charts.indicators import PANE_RATIO, draw_overlays, draw_pane, pane_plots
from bot.charts.spec import (
    GID_CANDLE_BODIES,
    GID_CANDLE_WICKS,
    GID_LEVEL,
    GID_LEVEL_LABEL,
    GID_LEVELS_OFF_CHART,
    GID_LIQ_LONGS,
    GID_LIQ_PEAK,
    GID_LIQ_SHORTS,
    GID_MARKER_LABEL,
    GID_MARKERS,
    GID_PRICE_LINE,
    GID_TITLE,
    GID_VOLUME,
    LEVEL_REACH,
    LINE_THRESHOLD,
    MAX_LABELLED_MARKERS,
    PALETTES,
    AlertMarker,
    ChartSpec,
    LevelLine,
    LiquidationBar,
    MarkerDirection,
    Palette,
    Theme,
)
from detectors.base import format_usd
from storage.rows import DAY_MS


def to_x(ms: float) -> float:
    """Convert UTC epoch ms to matplotlib's date number (days since 1970-01-01, its default epoch)."""
    return ms / DAY_MS


def _rectangles(
    lefts: Sequence[float], bottoms: Sequence[float], width: float, heights: Sequence[float]
) -> list[list[tuple[float, float]]]:
    return [
        [(x, y), (x + width, y), (x + width, y + h), (x, y + h)]
        for x, y, h in zip(lefts, bottoms, heights, strict=True)
    ]


def _price_text(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.6g}"


def _compact(value: float, prefix: str = "") -> str:
    """Return 950, 1.5k, 12k, 109M: one decimal only while it still matters."""
    magnitude = abs(value)
    sign = "-" if value < 0 else ""
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if magnitude >= size:
            digits = 0 if magnitude >= 10 * size else 1
            return f"{sign}{prefix}{magnitude / size:,.{digits}f}{unit}"
    return f"{sign}{prefix}{magnitude:,.0f}"


def _style_axes(ax: Axes, palette: Palette) -> None:
    ax.set_facecolor(palette.background)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.grid(True, color=palette.grid, linewidth=0.6)
    ax.set_axisbelow(True)
    ax.tick_params(colors=palette.muted, labelsize=8, length=0)
    ax.yaxis.tick_right()
    ax.yaxis.set_label_position("right")


def _draw_price(ax: Axes, spec: ChartSpec, palette: Palette) -> tuple[float, float]:
    """Draw candles or the close line; return the price range drawn."""
    bars = spec.candles
    ms = bars[0].interval_ms
    colours = [palette.up if b.c >= b.o else palette.down for b in bars]
    low = min(b.l for b in bars)
    high = max(b.h for b in bars)
    if spec.as_line:
        # A close is the price at the candle's close: plot it there, where alerts about it are marked.
        xs = [to_x(b.open_time + ms) for b in bars]
        ax.plot(xs, [b.c for b in bars], color=palette.line, linewidth=1.1, gid=GID_PRICE_LINE)
        return min(b.c for b in bars), max(b.c for b in bars)
    width = to_x(ms) * 0.7
    centres = [to_x(b.open_time + ms / 2) for b in bars]
    ax.add_collection(
        LineCollection(
            [[(x, b.l), (x, b.h)] for x, b in zip(centres, bars, strict=True)],
            colors=colours,
            linewidths=0.9,
            gid=GID_CANDLE_WICKS,
        )
    )
    # A doji would have zero height and vanish; give every body at least a sliver of the range.
    least = (high - low) * 0.002
    ax.add_collection(
        PolyCollection(
            _rectangles(
                [x - width / 2 for x in centres],
                [min(b.o, b.c) for b in bars],
                width,
                [max(abs(b.c - b.o), least) for b in bars],
            ),
            facecolors=colours,
            edgecolors=colours,
            linewidths=0.5,
            gid=GID_CANDLE_BODIES,
        )
    )
    return low, high


def _draw_levels(ax: Axes, spec: ChartSpec, palette: Palette, low: float, high: float) -> tuple[float, float]:
    """Draw the levels near the price range; list the others in a corner. Return the y-range to show."""
    reach = max(high - low, high * 0.001) * LEVEL_REACH
    shown_low, shown_high = low, high
    off: list[str] = []
    label_at = blended_transform_factory(ax.transAxes, ax.transData)
    for level in sorted(spec.levels, key=lambda lv: lv.price):
        if not low - reach <= level.price <= high + reach:
            arrow = "↑" if level.price > high else "↓"
            off.append(f"{arrow} {level.label}")
            continue
        shown_low, shown_high = min(shown_low, level.price), max(shown_high, level.price)
        ax.axhline(level.price, color=palette.level, linewidth=1.0, linestyle=(0, (5, 3)), gid=GID_LEVEL)
        ax.text(
            0.005,
            level.price,
            level.label,
            transform=label_at,
            color=palette.level,
            fontsize=8,
            va="bottom",
            ha="left",
            gid=GID_LEVEL_LABEL,
        )
    if off:
        ax.text(
            0.005,
            0.98,
            "off chart: " + "   ".join(off),
            transform=ax.transAxes,
            color=palette.level,
            fontsize=8,
            va="top",
            ha="left",
            gid=GID_LEVELS_OFF_CHART,
        )
    return shown_low, shown_high


def _clusters(markers: Sequence[AlertMarker], gap_ms: float) -> list[list[AlertMarker]]:
    """Group markers (sorted by time) whose neighbours are less than ``gap_ms`` apart."""
    groups: list[list[AlertMarker]] = []
    for marker in sorted(markers, key=lambda m: m.at):
        if groups and marker.at - groups[-1][-1].at < gap_ms:
            groups[-1].append(marker)
        else:
            groups.append([marker])
    return groups


def _draw_markers(ax: Axes, spec: ChartSpec, palette: Palette, start: int, end: int) -> None:
    shapes = {"up": "^", "down": "v", "neutral": "o"}
    for direction, shape in shapes.items():
        group = [m for m in spec.markers if m.direction == direction]
        if group:
            ax.scatter(
                [to_x(m.at) for m in group],
                [m.price for m in group],
                marker=shape,
                s=70,
                color=palette.marker,
                edgecolors=palette.background,
                linewidths=0.8,
                zorder=5,
                gid=GID_MARKERS,
            )
    span = max(end - start, 1)
    # Alerts close together (a cross and its daily-close confirmation an hour later) share one label,
    # one rule id per line, instead of printing over each other; so it is labels that can crowd the chart,
    # not markers (a busy evening of the 13th is one label however many rules fired in it).
    clusters = _clusters(spec.markers, span * 0.04)
    if len(clusters) > MAX_LABELLED_MARKERS:
        return
    for group in clusters:
        below = all(m.direction == "down" for m in group)
        anchor = min(group, key=lambda m: m.price) if below else max(group, key=lambda m: m.price)
        labels = list(dict.fromkeys(m.label for m in group))
        where = (anchor.at - start) / span
        ax.annotate(
            "\n".join(labels),
            xy=(to_x(anchor.at), anchor.price),
            xytext=(0, -10 if below else 10),
            textcoords="offset points",
            ha="right" if where > 0.9 else "left" if where < 0.1 else "center",
            va="top" if below else "bottom",
            fontsize=8,
            color=palette.marker,
            gid=GID_MARKER_LABEL,
        )


def _draw_volume(ax: Axes, spec: ChartSpec, palette: Palette) -> None:
    bars = spec.candles
    ms = bars[0].interval_ms
    width = to_x(ms) * (0.7 if not spec.as_line else 1.0)
    colours = [palette.up if b.c >= b.o else palette.down for b in bars]
    ax.add_collection(
        PolyCollection(
            _rectangles(
                [to_x(b.open_time + ms / 2) - width / 2 for b in bars],
                [0.0] * len(bars),
                width,
                [b.volume for b in bars],
            ),
            facecolors=colours,
            linewidths=0,
            alpha=0.55,
            gid=GID_VOLUME,
        )
    )
    ax.set_ylim(0, max(b.volume for b in bars) * 1.1 or 1.0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _compact(v)))
    ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(3))
    unit = f" ({spec.volume_unit})" if spec.volume_unit else ""
    ax.text(0.005, 0.93, f"volume{unit}", transform=ax.transAxes, color=palette.muted, fontsize=8, va="top")


def _draw_liquidations(ax: Axes, spec: ChartSpec, palette: Palette, start: int, end: int) -> None:
    ms = spec.candles[0].interval_ms
    width = to_x(ms) * (0.7 if not spec.as_line else 1.0)
    rows = spec.liquidations
    lefts = [to_x(r.open_time + ms / 2) - width / 2 for r in rows]
    ax.add_collection(
        PolyCollection(
            _rectangles(lefts, [0.0] * len(rows), width, [r.short_usd for r in rows]),
            facecolors=palette.shorts,
            linewidths=0,
            gid=GID_LIQ_SHORTS,
        )
    )
    ax.add_collection(
        PolyCollection(
            _rectangles(lefts, [0.0] * len(rows), width, [-r.long_usd for r in rows]),
            facecolors=palette.longs,
            linewidths=0,
            gid=GID_LIQ_LONGS,
        )
    )
    most_shorts = max((r.short_usd for r in rows), default=0.0)
    most_longs = max((r.long_usd for r in rows), default=0.0)
    # Each side gets room for its own tallest bar, and at least a quarter of the other's, so a week of
    # short squeezes does not waste half the panel on empty long bars (nor hide their label).
    top = max(most_shorts, most_longs / 4, 1.0) * 1.3
    bottom = max(most_longs, most_shorts / 4, 1.0) * 1.3
    ax.set_ylim(-bottom, top)
    ax.axhline(0, color=palette.grid, linewidth=0.8)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _compact(abs(v), "$")))
    ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
    for value, side, colour in (
        (most_shorts, "short_usd", palette.shorts),
        (most_longs, "long_usd", palette.longs),
    ):
        if value <= 0:
            continue
        peak = max(rows, key=lambda r: getattr(r, side))
        sign = 1 if side == "short_usd" else -1
        # Beside the bar, on the side with room (the tallest bar is often the newest one).
        right_edge = (peak.open_time - start) / max(end - start, 1) > 0.85
        ax.annotate(
            format_usd(value),
            xy=(to_x(peak.open_time + ms / 2), sign * value),
            xytext=(-6 if right_edge else 6, 0),
            textcoords="offset points",
            ha="right" if right_edge else "left",
            va="top" if sign > 0 else "bottom",
            fontsize=7,
            color=colour,
            gid=GID_LIQ_PEAK,
        )
    ax.text(
        0.005, 0.95, "shorts liquidated", transform=ax.transAxes, color=palette.shorts, fontsize=8, va="top"
    )
    ax.text(0.005, 0.05, "longs liquidated", transform=ax.transAxes, color=palette.longs, fontsize=8)


def build_figure(spec: ChartSpec) -> Figure:
    """Build the chart's Figure (no pyplot, so it is safe to call from several threads at once)."""
    palette = PALETTES[spec.theme]
    dpi = 100
    fig = Figure(figsize=(spec.width_px / dpi, spec.height_px / dpi), dpi=dpi, facecolor=palette.background)
    with_liquidations = bool(spec.liquidations)
    ratios = [5.0, 1.2, 1.5] if with_liquidations else [5.0, 1.2]
    panes = pane_plots(spec)  # the rules' oscillators and MACDs, each in a pane below
    ratios += [PANE_RATIO] * len(panes)
    grid = fig.add_gridspec(
        len(ratios), 1, height_ratios=ratios, hspace=0.06, left=0.03, right=0.93, top=0.9, bottom=0.07
    )
    price_ax = fig.add_subplot(grid[0])
    volume_ax = fig.add_subplot(grid[1], sharex=price_ax)
    axes = [price_ax, volume_ax]
    if with_liquidations:
        axes.append(fig.add_subplot(grid[2], sharex=price_ax))
    pane_axes = [fig.add_subplot(grid[len(axes) + i], sharex=price_ax) for i in range(len(panes))]
    axes += pane_axes
    for ax in axes:
        _style_axes(ax, palette)
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)

    ms = spec.candles[0].interval_ms
    start = spec.start if spec.start is not None else spec.candles[0].open_time
    end = spec.end if spec.end is not None else spec.candles[-1].open_time + ms
    low, high = _draw_price(price_ax, spec, palette)
    overlays = draw_overlays(price_ax, spec)  # the rules' moving averages and bands
    if overlays is not None:
        low, high = min(low, overlays[0]), max(high, overlays[1])
    shown_low, shown_high = _draw_levels(price_ax, spec, palette, low, high)
    markers_low = min([m.price for m in spec.markers], default=shown_low)
    markers_high = max([m.price for m in spec.markers], default=shown_high)
    shown_low, shown_high = min(shown_low, markers_low), max(shown_high, markers_high)
    pad = (shown_high - shown_low) * 0.08 or shown_high * 0.01 or 1.0
    price_ax.set_ylim(shown_low - pad, shown_high + pad)
    price_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _price_text(v)))
    _draw_markers(price_ax, spec, palette, start, end)
    _draw_volume(volume_ax, spec, palette)
    if with_liquidations:
        _draw_liquidations(axes[2], spec, palette, start, end)
    for plot, pane_ax in zip(panes, pane_axes, strict=True):
        draw_pane(pane_ax, plot, palette)

    # Half a candle of room on the right, so a marker at the last close is not cut in half.
    price_ax.set_xlim(to_x(start), to_x(end + ms / 2))
    # matplotlib.dates ships without type annotations for these two constructors. Day ticks name the
    # month ("Jan 13"), and the first hour tick of a day its date, so no tick needs an offset label.
    locator = mdates.AutoDateLocator(tz=UTC, minticks=4, maxticks=9)  # type: ignore[no-untyped-call]
    formatter = mdates.ConciseDateFormatter(  # type: ignore[no-untyped-call]
        locator,
        tz=UTC,
        formats=["%Y", "%b", "%b %d", "%H:%M", "%H:%M", "%S.%f"],
        zero_formats=["", "%Y", "%b", "%b %d", "%H:%M", "%H:%M"],
        show_offset=False,
    )
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(formatter)

    fig.text(
        0.015, 0.955, spec.title, color=palette.text, fontsize=13, weight="bold", va="center", gid=GID_TITLE
    )
    if spec.subtitle:
        fig.text(0.015, 0.92, spec.subtitle, color=palette.muted, fontsize=9, va="center")
    fig.text(0.93, 0.955, "UTC · Tripwire", color=palette.muted, fontsize=8, va="center", ha="right")
    return fig


def render_png(fig: Figure) -> bytes:
    """Draw a Figure with the Agg canvas and return PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", facecolor=fig.get_facecolor(), metadata={"Software": None})
    return buffer.getvalue()


def render_chart(spec: ChartSpec) -> bytes:
    """Render a chart spec to PNG bytes."""
    return render_png(build_figure(spec))


# The spec types are re-exported: callers that draw import everything from here.
__all__ = [
    "DAY_MS",
    "GID_CANDLE_BODIES",
    "GID_CANDLE_WICKS",
    "GID_LEVEL",
    "GID_LEVELS_OFF_CHART",
    "GID_LEVEL_LABEL",
    "GID_LIQ_LONGS",
    "GID_LIQ_PEAK",
    "GID_LIQ_SHORTS",
    "GID_MARKERS",
    "GID_MARKER_LABEL",
    "GID_PRICE_LINE",
    "GID_TITLE",
    "GID_VOLUME",
    "LEVEL_REACH",
    "LINE_THRESHOLD",
    "MAX_LABELLED_MARKERS",
    "PALETTES",
    "AlertMarker",
    "ChartSpec",
    "LevelLine",
    "LiquidationBar",
    "MarkerDirection",
    "Palette",
    "Theme",
    "build_figure",
    "render_chart",
    "render_png",
    "to_x",
]
