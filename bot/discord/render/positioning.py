"""Render /positioning: open interest and funding across venues, long/short readings, DVOL, ETF flows."""

from __future__ import annotations

import discord

from bot.notify.discord.render.base import DOWN, NEUTRAL, UP, fit, rate_pct, ts
from bot.services.positioning import PositioningView
from detectors.base import format_usd, short_symbol
from detectors.etf_flow import ordinal
from detectors.positioning import EtfLine, LongShortLine

METRIC_NAMES = {
    "accounts": "accounts long/short",
    "top_accounts": "top-trader accounts",
    "top_positions": "top-trader positions",
    "taker_volume": "taker buy/sell volume",
}


def _ratio_line(line: LongShortLine) -> str:
    share = f" ({line.long_share * 100:.0f}% long)" if line.long_share is not None else ""
    return f"{line.source}: {line.ratio:.2f}{share} · {line.period} to {ts(line.at)}"


def etf_text(line: EtfLine) -> str:
    """Return "+$646.0M net on 2026-01-14, third inflow day in a row · sosovalue, read <time>"."""
    sign = "+" if line.net_usd >= 0 else "-"
    text = f"{sign}{format_usd(abs(line.net_usd))} net on {line.date}"
    if line.days_in_a_row >= 2:
        word = "inflow" if line.net_usd > 0 else "outflow"
        text += f", {ordinal(line.days_in_a_row)} {word} day in a row"
    return f"{text} · {line.source}, read {ts(line.fetched_at)}"


def positioning_embed(view: PositioningView) -> discord.Embed:
    """Render /positioning: the market's summed OI and OI-weighted funding, each venue, ratios, DVOL."""
    asset = short_symbol(view.symbol)
    market = view.market
    rate = market.rate_per_8h
    oi = format_usd(market.oi_usd) if market.oi_usd is not None else "n/a"
    funding = "n/a" if rate is None else f"{rate_pct(rate)} per 8h ({market.annualized_pct or 0:+.1f}%/yr)"
    weighting = "weighted by open interest" if market.weighted else "plain average (no open interest known)"
    embed = discord.Embed(
        title=f"{asset} positioning: {oi} open interest, funding {funding}",
        description=f"{view.symbol} · open interest summed over venues (one side) · funding {weighting}",
        colour=UP if (rate or 0) > 0 else DOWN if (rate or 0) < 0 else NEUTRAL,
    )
    for venue in market.venues:
        parts = []
        if venue.oi_usd is not None:
            share = market.share(venue.source)
            parts.append(f"OI {format_usd(venue.oi_usd)}" + (f" ({share * 100:.0f}%)" if share else ""))
        if venue.rate is not None:
            yearly = venue.annualized_pct or 0.0
            parts.append(f"funding {rate_pct(venue.rate)} per {venue.interval_h:g}h ({yearly:+.1f}%/yr)")
        embed.add_field(name=venue.source, value=" · ".join(parts) or "n/a")
    by_metric: dict[str, list[str]] = {}
    for line in view.long_short:
        by_metric.setdefault(line.metric, []).append(_ratio_line(line))
    for metric, lines in by_metric.items():
        embed.add_field(name=METRIC_NAMES.get(metric, metric), value="\n".join(lines), inline=False)
    if view.dvol is not None:
        d = view.dvol
        change = f" ({d.change_24h_pct:+.1f}% in 24h)" if d.change_24h_pct is not None else ""
        embed.add_field(
            name=f"{d.currency} implied volatility (DVOL)",
            value=f"{d.close:.1f}%/yr{change} · {d.source} {ts(d.at)}",
            inline=False,
        )
    if view.etf is not None:
        embed.add_field(
            name=f"{view.etf.asset} spot ETFs (US), last day", value=etf_text(view.etf), inline=False
        )
    stopped = f" · without {', '.join(view.without)} (its open interest stopped)" if view.without else ""
    embed.set_footer(text="venues: " + (", ".join(v.source for v in market.venues) or "none") + stopped)
    return fit(embed)
