"""Embeds of /liqmap show (around its heatmap PNG) and /liqmap accuracy."""

from __future__ import annotations

import discord

from bot.liqmap.view import LiqMapView
from bot.notify.discord.render.base import NEUTRAL, fit, ts
from bot.services.liqmap import AccuracyView
from detectors.base import format_usd

MODEL_NOTE = (
    "Modelled, not measured: positions opened where open interest rose, split over the [liqmap] leverage "
    "distribution, placed at their liquidation price with the venue's margin tiers. Read the sizes as "
    "relative. /liqmap accuracy shows how past sweeps compared with realized liquidations."
)


def liqmap_filename(view: LiqMapView) -> str:
    """Return the attachment's file name."""
    return f"liqmap-{view.symbol.lower()}.png"


def liqmap_embed(view: LiqMapView, filename: str) -> discord.Embed:
    """Render /liqmap show: the nearest clusters above and below, the largest ones, the heatmap."""
    embed = discord.Embed(
        title=f"{view.symbol} liquidation map · ±{view.range_pct:g}%",
        description=(
            f"Price {view.price:,.2f} at {ts(view.at, 'f')} · {format_usd(view.open_usd)} of modelled "
            f"positions open ({', '.join(view.venues)})"
        ),
        colour=NEUTRAL,
    )
    above = view.cluster_line(view.above) if view.above else "no cluster in range"
    below = view.cluster_line(view.below) if view.below else "no cluster in range"
    embed.add_field(name="Nearest above", value=above, inline=False)
    embed.add_field(name="Nearest below", value=below, inline=False)
    largest = "\n".join(view.cluster_line(c) for c in view.clusters[:5]) or "none in range"
    embed.add_field(name="Largest clusters", value=largest, inline=False)
    embed.set_image(url=f"attachment://{filename}")
    embed.set_footer(text=MODEL_NOTE)
    return fit(embed)


def accuracy_embed(view: AccuracyView) -> discord.Embed:
    """Render /liqmap accuracy: hit rate and typical error per venue."""
    embed = discord.Embed(title="Liquidation map: how its sweeps compared with reality", colour=NEUTRAL)
    if not view.venues:
        embed.description = (
            "No sweep has been graded yet: a sweep is graded when price runs through at least "
            f"{format_usd(view.min_sweep_usd)} of modelled liquidations and a venue's liquidations of that "
            "time are stored."
        )
        return fit(embed)
    embed.description = (
        f"A sweep is a hit when the venue's realized liquidations (same side, same hours, in the band when "
        f"the venue reports prices) are within ×{view.hit_factor:g} of the modelled USD. Symbols: "
        f"{', '.join(view.symbols)}."
    )
    for venue in view.venues:
        bias = venue.realized_usd / venue.modelled_usd if venue.modelled_usd else 0.0
        embed.add_field(
            name=venue.venue,
            value=(
                f"{venue.hits}/{venue.sweeps} hits ({venue.hit_rate:.0%}) · "
                f"typical miss ×{venue.typical_factor:.2f}"
                f"\nrealized {format_usd(venue.realized_usd)} vs modelled {format_usd(venue.modelled_usd)} "
                f"(×{bias:.2f})"
            ),
            inline=False,
        )
    return fit(embed)
