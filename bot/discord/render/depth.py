"""Render /depth: bid and ask liquidity within ±0.5/1/2 % of the mid, summed over venues and per venue."""

from __future__ import annotations

import discord

from bot.notify.discord.render.base import NEUTRAL, fit, ts
from bot.services.positioning import DepthBandView, DepthView
from detectors.base import format_usd, short_symbol


def _band(band: DepthBandView) -> str:
    # A snapshot that stopped inside the band holds less than the book: say "at least".
    floor = "" if band.complete else "≥ "
    bids, asks = format_usd(band.bid_usd), format_usd(band.ask_usd)
    return f"±{band.band_bp / 100:g}%: bids {floor}{bids} · asks {floor}{asks}"


def depth_embed(view: DepthView) -> discord.Embed:
    """Render /depth: the venues' sum per band, then each venue's bands and snapshot time."""
    asset = short_symbol(view.symbol)
    embed = discord.Embed(
        title=f"{asset} order-book depth across {len(view.venues)} venue"
        + ("s" if len(view.venues) != 1 else ""),
        description="\n".join(_band(b) for b in view.total),
        colour=NEUTRAL,
    )
    for venue in view.venues:
        embed.add_field(
            name=f"{venue.source} · {ts(venue.at)}",
            value="\n".join(_band(b) for b in venue.bands),
            inline=False,
        )
    if not all(b.complete for b in view.total):
        embed.set_footer(text="≥: the venue's snapshot ends inside the band; the book holds at least this")
    return fit(embed)
