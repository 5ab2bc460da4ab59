"""Draw the liquidation map as a PNG: heatmap (price × time), the open map's profile, realized liquidations.

Layout: the heatmap (intensity = modelled USD of open positions whose liquidation price is in that bin at
that hour) with the close price over it, the current price and the largest clusters labelled with their
size and distance; on its right the map as it stands (longs and shorts per bin); under it the realized
liquidations per hour (shorts up, longs down), on the same time axis. Every element has a ``gid`` (the
``GID_*`` names) so tests find it among the figure's artists. Pure: a ``LiqMapView`` in, PNG bytes out,
through the Agg canvas as ``bot.charts.draw`` does.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from bot.charts.draw import render_png, to_x
from bot.charts.spec import PALETTES, Palette
from bot.liqmap.view import LABELLED_CLUSTERS, LiqMapView
from detectors.base import format_usd
from storage.rows import HOUR_MS

GID_HEATMAP = "liqmap-heatmap"
GID_PRICE = "liqmap-price"
GID_CURRENT = "liqmap-current-price"
GID_CLUSTER = "liqmap-cluster"
GID_CLUSTER_LABEL = "liqmap-cluster-label"
GID_PROFILE_LONGS = "liqmap-profile-longs"
GID_PROFILE_SHORTS = "liqmap-profile-shorts"
GID_REALIZED_SHORTS = "liqmap-realized-shorts"
GID_REALIZED_LONGS = "liqmap-realized-longs"
GID_TITLE = "liqmap-title"


def _price_axis(value: float, _pos: object) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.4g}"


def _heatmap(ax: Axes, view: LiqMapView, palette: Palette) -> None:
    data = view.heatmap
    times = np.array([to_x(t) for t in data.times])
    x_edges = np.concatenate([[times[0] - HOUR_MS / 86_400_000], times]) if len(times) else times
    matrix = np.array(data.rows, dtype=float)
    peak = float(matrix.max()) if matrix.size else 0.0
    mesh = ax.pcolormesh(
        x_edges,
        np.array(data.bin_edges),
        matrix,
        cmap="inferno",
        norm=PowerNorm(gamma=0.5, vmin=0.0, vmax=peak if peak > 0 else 1.0),
        shading="flat",
    )
    mesh.set_gid(GID_HEATMAP)
    (line,) = ax.plot(times, data.closes, color=palette.line, linewidth=1.0)
    line.set_gid(GID_PRICE)
    current = ax.axhline(view.price, color=palette.marker, linewidth=1.0, linestyle="--")
    current.set_gid(GID_CURRENT)
    ax.text(
        0.005,
        view.price,
        f" {view.price:,.2f}",
        color=palette.marker,
        va="bottom",
        fontsize=8,
        transform=ax.get_yaxis_transform(),
    ).set_gid(GID_CURRENT)
    ax.set_ylim(view.low, view.high)
    if len(x_edges):
        ax.set_xlim(float(x_edges[0]), float(x_edges[-1]))
    ax.yaxis.set_major_formatter(FuncFormatter(_price_axis))


def _clusters(ax: Axes, view: LiqMapView, palette: Palette) -> None:
    for cluster in view.clusters[:LABELLED_CLUSTERS]:
        colour = palette.shorts if cluster.side == "short" else palette.longs
        band = ax.axhspan(cluster.low, cluster.high, xmin=0.985, xmax=1.0, color=colour, alpha=0.9)
        band.set_gid(GID_CLUSTER)
        distance = cluster.distance_pct(view.price)
        span = f"{cluster.low:,.0f}–{cluster.high:,.0f}"
        label = f"{cluster.side}s {span}  {format_usd(cluster.usd)}  {distance:+.1f}%"
        ax.annotate(
            label,
            xy=(0.98, cluster.mid),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="center",
            fontsize=8,
            color=palette.text,
            bbox={"boxstyle": "round,pad=0.2", "fc": palette.background, "ec": colour, "alpha": 0.85},
        ).set_gid(GID_CLUSTER_LABEL)


def _profile(ax: Axes, view: LiqMapView, palette: Palette) -> None:
    # Steps, not bars: one artist per side instead of one rectangle per bin (drawing stays fast).
    edges = np.array(view.heatmap.bin_edges)
    longs = np.array([p[0] for p in view.heatmap.profile])
    shorts = np.array([p[1] for p in view.heatmap.profile])
    ax.stairs(longs, edges, orientation="horizontal", fill=True, color=palette.longs, gid=GID_PROFILE_LONGS)
    ax.stairs(
        longs + shorts,
        edges,
        baseline=longs,
        orientation="horizontal",
        fill=True,
        color=palette.shorts,
        gid=GID_PROFILE_SHORTS,
    )
    ax.axhline(view.price, color=palette.marker, linewidth=1.0, linestyle="--")
    ax.set_title("open now", fontsize=8, color=palette.muted)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: format_usd(v) if v else "0"))
    ax.xaxis.set_major_locator(MaxNLocator(2))
    ax.tick_params(axis="x", labelsize=7)
    ax.tick_params(axis="y", labelleft=False)


def _realized(ax: Axes, view: LiqMapView, palette: Palette) -> None:
    # One step artist per side over the hours (shorts up, longs down), as fast to draw as a line.
    hours = [h for h, _, _ in view.realized]
    if hours:
        edges = np.array([to_x(h) for h in hours] + [to_x(hours[-1] + HOUR_MS)])
        shorts = np.array([s for _, _, s in view.realized])
        longs = np.array([-lg for _, lg, _ in view.realized])
        ax.stairs(shorts, edges, fill=True, color=palette.shorts, gid=GID_REALIZED_SHORTS)
        ax.stairs(longs, edges, fill=True, color=palette.longs, gid=GID_REALIZED_LONGS)
    ax.axhline(0, color=palette.grid, linewidth=0.8)
    ax.set_ylabel("realized", fontsize=8, color=palette.muted)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: format_usd(abs(v)) if v else "0"))
    dates = mdates.DateFormatter("%m-%d\n%H:%M")  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(dates)


def _style(fig: Figure, axes: list[Axes], palette: Palette) -> None:
    fig.set_facecolor(palette.background)
    for ax in axes:
        ax.set_facecolor(palette.background)
        ax.tick_params(colors=palette.muted, labelsize=8)
        for spine in ax.spines.values():
            spine.set_color(palette.grid)


def build_liqmap_figure(view: LiqMapView, theme: str = "dark") -> Figure:
    """Return the map's figure (not drawn yet)."""
    palette = PALETTES[theme]
    fig = Figure(figsize=(12, 7), dpi=100)
    grid = fig.add_gridspec(2, 2, width_ratios=(5, 1), height_ratios=(4, 1.1), hspace=0.08, wspace=0.03)
    heat = fig.add_subplot(grid[0, 0])
    profile = fig.add_subplot(grid[0, 1], sharey=heat)
    realized = fig.add_subplot(grid[1, 0], sharex=heat)
    _heatmap(heat, view, palette)
    _clusters(heat, view, palette)
    _profile(profile, view, palette)
    _realized(realized, view, palette)
    heat.tick_params(axis="x", labelbottom=False)
    _style(fig, [heat, profile, realized], palette)
    title = fig.suptitle(
        f"{view.symbol} liquidation map (modelled from open interest: {', '.join(view.venues)}) · "
        f"{format_usd(view.open_usd)} open · shorts blue, longs orange",
        color=palette.text,
        fontsize=11,
        x=0.06,
        ha="left",
    )
    title.set_gid(GID_TITLE)
    fig.subplots_adjust(left=0.075, right=0.98, top=0.93, bottom=0.08)
    return fig


def render_liqmap(view: LiqMapView, theme: str = "dark") -> bytes:
    """Render the map to PNG bytes."""
    return render_png(build_liqmap_figure(view, theme))
