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

Text: nothing is written where it could land on other text. Above the panels, the subtitle and the key
(``bot.charts.layout.KeyLine``) wrap into rows: the levels' rule ids, levels too far to draw, the rules
behind numbered alert markers, spans without data. In the panels, each label is placed by measuring it
(``bot.charts.layout.LabelPlacer``): alert labels by their markers (rule ids when the groups are few and
all fit, else numbers), the liquidation peaks by their bars. A level's price is tagged on the price axis,
clear of the candles, and the tick labels it would cover are left out. Spans without candles are shaded.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import matplotlib

# Before any other matplotlib import: no display here, and no GUI backend pulled in by accident.
matplotlib.use("Agg")

from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, FuncFormatter
from matplotlib.transforms import Bbox, blended_transform_factory

from bot.charts.indicators import PANE_RATIO, draw_overlays, draw_pane, pane_plots
from bot.charts.layout import KeyLine, LabelPlacer, Offset, text_box
from bot.charts.spec import (
    GID_CANDLE_BODIES,
    GID_CANDLE_WICKS,
    GID_GAP,
    GID_GAP_LABEL,
    GID_LEVEL,
    GID_LEVEL_LABEL,
    GID_LEVEL_TAG,
    GID_LEVELS_OFF_CHART,
    GID_LIQ_LONGS,
    GID_LIQ_PEAK,
    GID_LIQ_SHORTS,
    GID_MARKER_KEY,
    GID_MARKER_LABEL,
    GID_MARKERS,
    GID_PRICE_LINE,
    GID_SUBTITLE,
    GID_TITLE,
    GID_VOLUME,
    LEVEL_REACH,
    LINE_THRESHOLD,
    MAX_NAMED_MARKER_GROUPS,
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


def _draw_price(ax: Axes, spec: ChartSpec, palette: Palette) -> None:
    """Draw candles or the close line."""
    bars = spec.candles
    ms = bars[0].interval_ms
    colours = [palette.up if b.c >= b.o else palette.down for b in bars]
    low = min(b.l for b in bars)
    high = max(b.h for b in bars)
    if spec.as_line:
        # A close is the price at the candle's close: plot it there, where alerts about it are marked. The
        # line breaks where candles are missing (NaN), instead of bridging a gap with a made-up slope.
        xs: list[float] = []
        ys: list[float] = []
        for before, bar in zip((None, *bars), bars, strict=False):
            if before is not None and bar.open_time - before.close_time >= ms:
                xs.append(to_x(before.close_time + ms / 2))
                ys.append(math.nan)
            xs.append(to_x(bar.close_time))
            ys.append(bar.c)
        ax.plot(xs, ys, color=palette.line, linewidth=1.1, gid=GID_PRICE_LINE)
        return
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


def split_levels(spec: ChartSpec, low: float, high: float) -> tuple[list[LevelLine], list[LevelLine]]:
    """Split the levels into those near the price range (drawn) and those too far to draw (listed)."""
    reach = max(high - low, high * 0.001) * LEVEL_REACH
    near: list[LevelLine] = []
    far: list[LevelLine] = []
    for level in sorted(spec.levels, key=lambda lv: lv.price):
        (near if low - reach <= level.price <= high + reach else far).append(level)
    return near, far


def _draw_levels(ax: Axes, levels: Sequence[LevelLine], palette: Palette) -> None:
    """Draw each level as a dashed line; its price is tagged on the axis (``_tag_levels``), its name keyed."""
    for level in levels:
        ax.axhline(level.price, color=palette.level, linewidth=1.0, linestyle=(0, (5, 3)), gid=GID_LEVEL)


# Half the height of a tick label, in pixels.
TICK_HALF_PX = 6.0


def _tag_levels(ax: Axes, levels: Sequence[LevelLine], palette: Palette, renderer: RendererBase) -> None:
    """Tag each drawn level's price on the price axis, where no candle is; drop the ticks the tags cover.

    Tags of close levels are pushed apart vertically (the dashed line still marks the exact price).
    """
    on_axis = blended_transform_factory(ax.transAxes, ax.transData)
    tags: list[Text] = []
    lowest_px = -1e9
    for level in sorted(levels, key=lambda lv: lv.price):
        wanted = ax.transData.transform((0, level.price))[1]
        tag = ax.annotate(
            _price_text(level.price),
            xy=(1.0, level.price),
            xycoords=on_axis,
            xytext=(4, 0),
            textcoords="offset points",
            ha="left",
            va="center",
            fontsize=8,
            color=palette.background,
            bbox={"boxstyle": "round,pad=0.25", "facecolor": palette.level, "edgecolor": "none"},
            annotation_clip=False,
            gid=GID_LEVEL_TAG,
        )
        height = text_box(tag, renderer).height + 6
        shown = max(wanted, lowest_px + height)
        tag.xyann = (4, (shown - wanted) * 72 / ax.figure.dpi)
        lowest_px = shown
        tags.append(tag)
    _prune_y_ticks(ax, [text_box(tag, renderer).padded(4) for tag in tags])


def _prune_y_ticks(ax: Axes, covered: Sequence[Bbox] = ()) -> None:
    """Fix the y ticks to those whose label sits inside the panel and off the ``covered`` boxes.

    A label at a panel's top or bottom edge would run into the next panel's tick labels.
    """
    low, high = ax.get_ylim()
    panel = ax.get_window_extent()
    kept = []
    for tick in ax.yaxis.get_major_locator().tick_values(low, high):
        y = ax.transData.transform((0, tick))[1]
        if not panel.y0 + TICK_HALF_PX <= y <= panel.y1 - TICK_HALF_PX:
            continue
        if not any(box.y0 - TICK_HALF_PX <= y <= box.y1 + TICK_HALF_PX for box in covered):
            kept.append(tick)
    # A FixedLocator, not set_yticks: that one builds every tick's artists now, and drawing builds them again.
    ax.yaxis.set_major_locator(FixedLocator(kept))


def _clusters(markers: Sequence[AlertMarker], gap_ms: float) -> list[list[AlertMarker]]:
    """Group markers (sorted by time) whose neighbours are less than ``gap_ms`` apart."""
    groups: list[list[AlertMarker]] = []
    for marker in sorted(markers, key=lambda m: m.at):
        if groups and marker.at - groups[-1][-1].at < gap_ms:
            groups[-1].append(marker)
        else:
            groups.append([marker])
    return groups


def marker_groups(spec: ChartSpec, keyed: bool = False) -> list[list[AlertMarker]]:
    """Return the alert markers grouped as they are labelled.

    Named labels are long: markers within 4% of the window share one. Numbers are short, so only markers
    within 1% (about a candle) share one, and a number sits beside nearly every marker.
    """
    start, end = spec.window
    return _clusters(spec.markers, max(end - start, 1) * (0.01 if keyed else 0.04))


def marker_numbers(spec: ChartSpec) -> dict[str, int]:
    """Number each rule with markers, in the order they first fired (the key's numbers)."""
    ordered = sorted(spec.markers, key=lambda m: m.at)
    return {label: n for n, label in enumerate(dict.fromkeys(m.label for m in ordered), start=1)}


def _draw_markers(ax: Axes, spec: ChartSpec, palette: Palette) -> None:
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


def _label_offsets(below: bool, where: float) -> list[Offset]:
    """Return where to try a marker's label, nearest first: its own side, then the other, further out."""
    # A marker on the panel's very edge (an alert at the window's first or last candle) has its label
    # wholly inside only when the label starts (ends) a little past the marker: tried last.
    if where > 0.85:
        sideways = [(4.0, "right"), (0.0, "center"), (-4.0, "right")]
    elif where < 0.15:
        sideways = [(-4.0, "left"), (0.0, "center"), (4.0, "left")]
    else:
        sideways = [(0.0, "center"), (-4.0, "left"), (4.0, "right")]
    offsets: list[Offset] = []
    for side in (-1, 1) if below else (1, -1):
        for distance in (8.0, 20.0, 32.0, 46.0, 60.0):
            offsets += [(dx, side * distance, ha, "bottom" if side > 0 else "top") for dx, ha in sideways]
    # Last, beside the marker: the one place left at the top or bottom edge of the panel.
    return [*offsets, (8.0, 0.0, "left", "center"), (-8.0, 0.0, "right", "center")]


def _label_markers(ax: Axes, spec: ChartSpec, palette: Palette, placer: LabelPlacer, keyed: bool) -> bool:
    """Label each group of markers with its rule ids (or, ``keyed``, numbers); False if one did not fit."""
    start, end = spec.window
    numbers = marker_numbers(spec)
    for marker in spec.markers:
        x, y = ax.transData.transform((to_x(marker.at), marker.price))
        placer.reserve(Bbox([[x - 6, y - 6], [x + 6, y + 6]]))
    inside = ax.get_window_extent(placer.renderer)
    complete = True
    for group in marker_groups(spec, keyed):
        below = all(m.direction == "down" for m in group)
        anchor = min(group, key=lambda m: m.price) if below else max(group, key=lambda m: m.price)
        labels = list(dict.fromkeys(m.label for m in group))
        text = ",".join(str(numbers[label]) for label in labels) if keyed else "\n".join(labels)
        point = (to_x(anchor.at), anchor.price)
        # A backing of the chart's colour keeps a label legible where it crosses a candle's wick.
        backing = {
            "boxstyle": "square,pad=0.1",
            "facecolor": palette.background,
            "alpha": 0.7,
            "linewidth": 0,
        }
        style: dict[str, Any] = {
            "fontsize": 8,
            "color": palette.marker,
            "gid": GID_MARKER_LABEL,
            "bbox": backing,
        }
        probe = ax.annotate(text, xy=point, xytext=(0, 0), textcoords="offset points", **style)
        placed = placer.place(
            probe,
            _label_offsets(below, (anchor.at - start) / max(end - start, 1)),
            inside,
            tuple(ax.transData.transform(point)),
        )
        probe.remove()
        if placed is None:
            complete = False
            continue
        dx, dy, ha, va = placed.offset
        leader = {"arrowstyle": "-", "color": palette.marker, "linewidth": 0.6, "shrinkA": 1, "shrinkB": 5}
        ax.annotate(
            text,
            xy=point,
            xytext=(dx, dy),
            textcoords="offset points",
            ha=ha,
            va=va,
            arrowprops=leader if placed.leader else None,
            **style,
        )
    return complete


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


def _draw_liquidations(ax: Axes, spec: ChartSpec, palette: Palette) -> None:
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
    ax.text(
        0.005, 0.95, "shorts liquidated", transform=ax.transAxes, color=palette.shorts, fontsize=8, va="top"
    )
    ax.text(0.005, 0.05, "longs liquidated", transform=ax.transAxes, color=palette.longs, fontsize=8)


def _label_liquidation_peaks(ax: Axes, spec: ChartSpec, palette: Palette, placer: LabelPlacer) -> None:
    """Write the tallest bar's USD beside it on each side, where it overlaps nothing (else leave it out)."""
    ms = spec.candles[0].interval_ms
    rows = spec.liquidations
    inside = ax.get_window_extent(placer.renderer)
    for side, colour, sign in (("short_usd", palette.shorts, 1), ("long_usd", palette.longs, -1)):
        peak = max(rows, key=lambda r: float(getattr(r, side)))
        value = float(getattr(peak, side))
        if value <= 0:
            continue
        point = (to_x(peak.open_time + ms / 2), sign * value)
        va = "top" if sign > 0 else "bottom"
        style: dict[str, Any] = {"fontsize": 7, "color": colour, "gid": GID_LIQ_PEAK}
        probe = ax.annotate(format_usd(value), xy=point, xytext=(0, 0), textcoords="offset points", **style)
        offsets: list[Offset] = [
            (dx, -sign * drop, ha, va)
            for drop in (0.0, 8.0, 16.0)
            for dx, ha in ((6.0, "left"), (-6.0, "right"))
        ]
        placed = placer.place(probe, offsets, inside, tuple(ax.transData.transform(point)))
        probe.remove()
        if placed is not None:
            dx, dy, ha, va = placed.offset
            ax.annotate(
                format_usd(value),
                xy=point,
                xytext=(dx, dy),
                textcoords="offset points",
                ha=ha,
                va=va,
                **style,
            )


def _draw_gaps(axes: Sequence[Axes], spec: ChartSpec, palette: Palette) -> None:
    """Shade the spans without candles on every panel, so a gap is not read as a flat market."""
    for begin, end in spec.gaps():
        for ax in axes:
            ax.axvspan(to_x(begin), to_x(end), color=palette.muted, alpha=0.16, linewidth=0, gid=GID_GAP)


def _gap_text(spec: ChartSpec) -> str | None:
    gaps = spec.gaps()
    if not gaps:
        return None
    last_close = spec.candles[-1].close_time
    if len(gaps) == 1 and gaps[0][0] == last_close:
        return f"░ no data since {_when(last_close)}"
    if len(gaps) == 1:
        return f"░ no data {_when(gaps[0][0])} → {_when(gaps[0][1])}"
    return f"░ no data in {len(gaps)} shaded spans"


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%b %d %H:%M")


def _header(fig: Figure, spec: ChartSpec, palette: Palette, renderer: RendererBase) -> KeyLine:
    """Write the title, the subtitle (wrapped) and start the key line below them."""
    height = fig.bbox.height
    fig.text(
        0.015,
        1 - 26 / height,
        spec.title,
        color=palette.text,
        fontsize=13,
        weight="bold",
        va="center",
        gid=GID_TITLE,
    )
    brand = fig.text(
        0.93, 1 - 26 / height, "UTC · Tripwire", color=palette.muted, fontsize=8, va="center", ha="right"
    )
    title_box = text_box(fig.texts[0], renderer)
    if title_box.x1 + 12 > text_box(brand, renderer).x0:
        brand.remove()  # a long title wins over the signature
    key = KeyLine(fig, renderer, top_px=42, left=0.015, right=0.985)
    for part in filter(None, spec.subtitle.split("  ·  ")):
        key.add(part, color=palette.muted, fontsize=9, gid=GID_SUBTITLE)
    key.newline()
    return key


def _key(key: KeyLine, spec: ChartSpec, palette: Palette, keyed: bool) -> None:
    """Name what has no room for text in the panels: levels, levels off the chart, alert numbers, gaps."""
    low, high = price_range(spec)
    near, far = split_levels(spec, low, high)
    for level in near:
        key.add(level.label, color=palette.level, fontsize=8, gid=GID_LEVEL_LABEL)
    if far:
        listed = "   ".join(f"{'↑' if lv.price > high else '↓'} {lv.label}" for lv in far)
        key.add(f"off chart: {listed}", color=palette.level, fontsize=8, gid=GID_LEVELS_OFF_CHART)
    if keyed:
        for label, number in marker_numbers(spec).items():
            key.add(f"{number} {label}", color=palette.marker, fontsize=8, gid=GID_MARKER_KEY)
    gaps = _gap_text(spec)
    if gaps:
        key.add(gaps, color=palette.muted, fontsize=8, gid=GID_GAP_LABEL)


def build_figure(spec: ChartSpec) -> Figure:
    """Build the chart's Figure (no pyplot, so it is safe to call from several threads at once).

    Alert markers are labelled with their rule ids when they are few and every label finds room;
    otherwise they are numbered and the key above the panels names each number's rule.
    """
    keyed = len(marker_groups(spec)) > MAX_NAMED_MARKER_GROUPS
    fig, complete = _compose(spec, keyed)
    if not complete and not keyed:
        fig, _ = _compose(spec, keyed=True)
    return fig


def _compose(spec: ChartSpec, keyed: bool) -> tuple[Figure, bool]:
    """Draw the chart; return it and whether every marker label found room."""
    palette = PALETTES[spec.theme]
    dpi = 100
    fig = Figure(figsize=(spec.width_px / dpi, spec.height_px / dpi), dpi=dpi, facecolor=palette.background)
    # Labels are laid out by measuring them, which needs the renderer the PNG is drawn with.
    renderer = FigureCanvasAgg(fig).get_renderer()  # type: ignore[no-untyped-call]
    key = _header(fig, spec, palette, renderer)
    _key(key, spec, palette, keyed)

    with_liquidations = bool(spec.liquidations)
    ratios = [5.0, 1.2, 1.5] if with_liquidations else [5.0, 1.2]
    panes = pane_plots(spec)  # the rules' oscillators and MACDs, each in a pane below
    ratios += [PANE_RATIO] * len(panes)
    top = 1 - (key.bottom_px() + 8) / fig.bbox.height
    grid = fig.add_gridspec(
        len(ratios), 1, height_ratios=ratios, hspace=0.06, left=0.03, right=0.93, top=top, bottom=0.07
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
    start, end = spec.window
    _draw_price(price_ax, spec, palette)
    draw_overlays(price_ax, spec)  # the rules' moving averages and bands (within price_range)
    low, high = price_range(spec)
    near, _ = split_levels(spec, low, high)
    _draw_levels(price_ax, near, palette)
    prices = [low, high] + [lv.price for lv in near] + [m.price for m in spec.markers]
    pad = (max(prices) - min(prices)) * 0.08 or max(prices) * 0.01 or 1.0
    price_ax.set_ylim(min(prices) - pad, max(prices) + pad)
    price_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _price_text(v)))
    _draw_markers(price_ax, spec, palette)
    _draw_volume(volume_ax, spec, palette)
    if with_liquidations:
        _draw_liquidations(axes[2], spec, palette)
    for plot, pane_ax in zip(panes, pane_axes, strict=True):
        draw_pane(pane_ax, plot, palette)
    _draw_gaps(axes, spec, palette)

    # Half a candle of room on the right, so a marker at the last close is not cut in half.
    price_ax.set_xlim(to_x(start), to_x(end + ms / 2))
    _date_axis(axes[-1])

    # Labels last, once every panel has its final limits: each is placed where it overlaps no other.
    _tag_levels(price_ax, near, palette, renderer)
    for ax in axes[1:]:
        _prune_y_ticks(ax)
    placer = LabelPlacer(renderer)
    placer.reserve_text(text for ax in axes for text in ax.texts)
    if with_liquidations:
        _label_liquidation_peaks(axes[2], spec, palette, placer)
    complete = _label_markers(price_ax, spec, palette, placer, keyed)
    return fig, complete


def price_range(spec: ChartSpec) -> tuple[float, float]:
    """Return the lowest and highest price drawn.

    That is the candles' lows and highs (a line's closes) and the moving averages and bands over them.
    """
    bars = spec.candles
    prices = [b.c for b in bars] if spec.as_line else [b.l for b in bars] + [b.h for b in bars]
    prices += [v for p in spec.indicators if p.placement == "price" for s in p.series for v in s.values]
    return min(prices), max(prices)


def _date_axis(ax: Axes) -> None:
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
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(formatter)


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
    "GID_GAP",
    "GID_GAP_LABEL",
    "GID_LEVEL",
    "GID_LEVELS_OFF_CHART",
    "GID_LEVEL_LABEL",
    "GID_LEVEL_TAG",
    "GID_LIQ_LONGS",
    "GID_LIQ_PEAK",
    "GID_LIQ_SHORTS",
    "GID_MARKERS",
    "GID_MARKER_KEY",
    "GID_MARKER_LABEL",
    "GID_PRICE_LINE",
    "GID_SUBTITLE",
    "GID_TITLE",
    "GID_VOLUME",
    "LEVEL_REACH",
    "LINE_THRESHOLD",
    "MAX_NAMED_MARKER_GROUPS",
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
