"""Embeds of /liqfeed (the feed's settings) and /liqprice; the feed's own messages are the sink's.

The feed messages are rendered by ``bot.notify.discord.render.liqfeed``.
"""

from __future__ import annotations

import discord

from bot.liqfeed.settings import LiqFeedView
from bot.notify.discord.render.base import ENDED, NEUTRAL, WARNING, fit, ts
from bot.notify.discord.render.liqfeed import exchange_name
from bot.services.liqprice import LiqPriceView
from detectors.base import format_price, format_usd, short_symbol


def liqfeed_settings_embed(view: LiqFeedView) -> discord.Embed:
    """Render /liqfeed set, off and show."""
    settings = view.settings
    if settings is None:
        title = "Liquidation feed switched off" if view.changed else "No liquidation feed"
        return fit(
            discord.Embed(
                title=title,
                description="Start one with `/liqfeed set channel min_usd [symbols] [exchanges]`.",
                colour=ENDED,
            )
        )
    embed = discord.Embed(
        title="Liquidation feed set" if view.changed else "Liquidation feed",
        description=f"Every liquidation {settings.describe()} is posted in <#{settings.channel_id}>.",
        colour=NEUTRAL,
    )
    embed.add_field(name="Channel", value=f"<#{settings.channel_id}>")
    embed.add_field(name="Threshold", value=format_usd(settings.min_usd))
    embed.add_field(name="Symbols", value=", ".join(settings.symbols) or "all")
    embed.add_field(name="Exchanges", value=", ".join(exchange_name(e) for e in settings.exchanges) or "all")
    if view.mode is not None:
        embed.add_field(
            name="Now",
            value="live: each batch as it arrives"
            if view.mode == "live"
            else "summaries (a storm of liquidations)",
        )
    if settings.set_by is not None:
        embed.add_field(name="Set by", value=f"<@{settings.set_by}> {ts(settings.set_at)}")
    return fit(embed)


def liqprice_embed(view: LiqPriceView, on_map: str | None = None) -> discord.Embed:
    """Render /liqprice; ``on_map`` says where the liquidation price sits on the modelled map."""
    asset = short_symbol(view.symbol)
    price = view.liquidation_price
    what = f"{asset} {view.side} {view.leverage:g}x from {format_price(view.entry)}"
    lines = []
    if price is None:
        title = f"{what}: not liquidated above $0"
        lines.append("The margin covers a fall all the way to zero.")
    else:
        title = f"{what}: liquidation ≈ {format_price(price)}"
        move = view.move_from_entry_pct or 0.0
        lines.append(
            f"A {abs(move):.2f}% {'fall' if move < 0 else 'rise'} from entry "
            f"({format_price(abs(price - view.entry))}) liquidates it."
        )
    if view.current_price is not None and view.current_at is not None:
        now = f"{format_price(view.current_price)} ({view.current_source}, {ts(view.current_at)})"
        if view.already_past:
            lines.append(
                f"⚠️ The current price {now} is already past it: such a position would be liquidated."
            )
        elif price is not None and view.distance_pct is not None and view.distance_usd is not None:
            direction = "fall" if view.distance_usd < 0 else "rise"
            lines.append(
                f"From the current price {now}: a {abs(view.distance_pct):.2f}% {direction} "
                f"({format_price(abs(view.distance_usd))})."
            )
    else:
        lines.append("No current price is stored for this symbol yet.")
    embed = discord.Embed(
        title=title, description="\n".join(lines), colour=WARNING if view.already_past else NEUTRAL
    )
    embed.add_field(name="Liquidation price", value=format_price(price) if price is not None else "none")
    embed.add_field(name="Entry", value=format_price(view.entry))
    embed.add_field(name="Leverage", value=f"{view.leverage:g}x isolated")
    if view.notional is not None:
        embed.add_field(name="Size", value=format_usd(view.notional))
    embed.add_field(name="Maintenance margin", value=f"{view.mmr * 100:.2f}% (cum {format_usd(view.cum)})")
    if on_map is not None:
        embed.add_field(name="On the liquidation map (/liqmap)", value=on_map, inline=False)
    embed.set_footer(text=view.assumptions)
    return fit(embed)
