"""Embeds of the market queries: /price, /liquidations, /funding, /oi and /fng."""

from __future__ import annotations

import discord

from bot.notify.discord.render.base import DOWN, NEUTRAL, UP, colour_for, fit, rate_pct, signed_pct, ts, when
from bot.parsing import format_duration
from bot.services.derivatives import FundingView, OpenInterestView
from bot.services.market import FearGreedView, LiquidationsView, PriceView
from detectors.base import format_price, format_usd, short_symbol
from storage.rows import PredictedFunding


def price_embed(view: PriceView) -> discord.Embed:
    """Render /price."""
    asset = short_symbol(view.symbol)
    embed = discord.Embed(
        title=f"{asset} is at {format_price(view.price)}",
        description=f"{view.symbol} · 24h {signed_pct(view.change_24h_pct)}",
        colour=colour_for(view.change_24h_pct),
    )
    embed.add_field(name="24h high", value=format_price(view.high_24h))
    embed.add_field(name="24h low", value=format_price(view.low_24h))
    volume = f"{view.volume_24h:,.2f} {asset}"
    if view.quote_volume_24h is not None:
        volume += f"\n{format_usd(view.quote_volume_24h)}"
    embed.add_field(name="24h volume", value=volume)
    fresh = f"{view.source}, {view.interval} candles, price as of {ts(view.at)}"
    if view.stale:
        fresh = f"⚠️ stale: {fresh}"
    embed.add_field(name="Source", value=fresh, inline=False)
    embed.set_footer(text=f"source {view.source}")
    return fit(embed)


def _names(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _venue_fields(embed: discord.Embed, view: LiquidationsView) -> None:
    """Add one field per venue (every enabled one, then other stored sources) and what each number means."""
    totals = {s.source: s for s in view.by_source}
    shown: list[str] = []
    for venue in view.venues:
        found = totals.get(venue.source)
        value = (
            f"Longs {format_usd(found.long_usd)}\nShorts {format_usd(found.short_usd)}"
            if found is not None
            else "none recorded"
        )
        if venue.down:
            value += "\n⚠️ feed down"
        embed.add_field(name=f"{venue.name} · {venue.label}", value=value)
        shown.append(venue.source)
    for source in [s for s in view.by_source if s.source not in shown][:10]:
        embed.add_field(
            name=source.source,
            value=f"Longs {format_usd(source.long_usd)}\nShorts {format_usd(source.short_usd)}",
        )
    if view.venues:
        meaning = "\n".join(f"**{v.name}** {v.label}: {v.why}" for v in view.venues)
        embed.add_field(name="What each number counts", value=meaning, inline=False)


def liquidations_embed(view: LiquidationsView) -> discord.Embed:
    """Render /liquidations."""
    scope = short_symbol(view.symbol) if view.symbol else "All symbols"
    window = format_duration(view.window_s)
    total = view.total_usd
    if total <= 0:
        title = f"{scope}: no liquidations recorded in the last {window}"
    else:
        dominant = "shorts" if view.short_usd > view.long_usd else "longs"
        title = f"{scope}: {format_usd(total)} liquidated in the last {window}, mostly {dominant}"
    colour = NEUTRAL if total <= 0 else (UP if view.short_usd > view.long_usd else DOWN)
    lines = [f"Longs {format_usd(view.long_usd)} · Shorts {format_usd(view.short_usd)}"]
    ratio = view.ratio_to_usual
    if ratio is not None and view.usual_usd is not None:
        lines.append(
            f"**{ratio:.1f}×** the usual {window} ({format_usd(view.usual_usd)} on average over the previous "
            f"{view.usual_days} days)"
        )
    elif view.latest_at is None:
        lines.append("No liquidation data has been recorded yet.")
    else:
        lines.append(f"Not enough history for a {view.usual_days}-day comparison yet.")
    if view.without:
        feeds = "its feed is" if len(view.without) == 1 else "their feeds are"
        lines.append(f"⚠️ Total without {_names(view.without)}: {feeds} down.")
    embed = discord.Embed(title=title, description="\n".join(lines), colour=colour)
    _venue_fields(embed, view)
    if view.largest:
        rows = []
        for event in view.largest:
            what = f"{short_symbol(event.symbol)} {event.side}s {format_usd(event.usd)}"
            where = f"{event.source}, {'hour of ' if event.aggregated else ''}{ts(event.ts, 'f')}"
            if event.price:
                what += f" at {format_price(event.price)}"
            rows.append(f"{what} · {where}")
        label = "Largest hours" if all(e.aggregated for e in view.largest) else "Largest liquidations"
        embed.add_field(name=label, value="\n".join(rows), inline=False)
    newest = f"newest data {ts(view.latest_at)}" if view.latest_at is not None else "no data yet"
    embed.add_field(
        name="Window", value=f"{ts(view.start, 'f')} → {ts(view.end, 'f')} · {newest}", inline=False
    )
    embed.set_footer(text="source " + (", ".join(s.source for s in view.by_source) or "none"))
    return fit(embed)


def _hours(h: float) -> str:
    return f"{h:g}h"


def _predicted_line(p: PredictedFunding) -> str:
    """Return "binance: +0.0099% per 8h, due in 3 hours" for one forecast.

    Hyperliquid's row for itself names a boundary already past when the forecast was made (a live
    capture, tests/data/corpus/README.md): no due time is claimed then.
    """
    per = f" per {_hours(p.interval_h)}" if p.interval_h else ""
    due = f", due {ts(p.next_funding_time, 'R')}" if p.next_funding_time > p.ts else ""
    return f"{p.venue}: {rate_pct(p.rate)}{per}{due}"


def funding_embed(view: FundingView) -> discord.Embed:
    """Render /funding: the venue shown with its interval, every venue, and all of them per 8 h."""
    asset = short_symbol(view.symbol)
    payer = "longs pay shorts" if view.rate > 0 else "shorts pay longs" if view.rate < 0 else "nobody pays"
    per_day = 24 / view.interval_h
    embed = discord.Embed(
        title=f"{asset} funding is {rate_pct(view.rate)} per {_hours(view.interval_h)} ({payer})",
        description=(
            f"{view.symbol} on {view.source} · {view.annualized_pct:+.1f}% a year at this rate"
            f" ({per_day:g} settlements a day)"
        ),
        colour=UP if view.rate > 0 else DOWN if view.rate < 0 else NEUTRAL,
    )
    history = (
        f"{view.history_source} settlements" if view.history_settlements else f"{view.history_source} rates"
    )
    change = view.change_24h
    embed.add_field(name="Change 24h", value=rate_pct(change) if change is not None else "n/a")
    embed.add_field(
        name="7-day average", value=rate_pct(view.average_7d) if view.average_7d is not None else "n/a"
    )
    embed.add_field(name="From", value=history)
    estimated = f" (estimated: every {_hours(view.interval_h)})" if view.next_funding_estimated else ""
    embed.add_field(name="Next funding", value=when(view.next_funding_at) + estimated, inline=False)
    for source in view.by_source:
        kind = "settled" if source.settled else "current"
        guess = " (assumed)" if source.interval_from == "assumed" else ""
        nxt = (
            ""
            if source.next_funding_at is None or source.next_funding_estimated
            else f" · next {ts(source.next_funding_at, 'R')}"
        )
        yearly_pct = f"{source.annualized_pct:+.1f}%/yr"
        embed.add_field(
            name=f"{source.source} · every {_hours(source.interval_h)}{guess}",
            value=f"{rate_pct(source.rate)} ({kind}, {ts(source.at)}) · {yearly_pct}{nxt}",
        )
    per_8h, yearly = view.cross_venue_per_8h, view.cross_venue_annualized_pct
    if per_8h is not None and yearly is not None:
        embed.add_field(
            name=f"Across {len(view.by_source)} venues",
            value=f"{rate_pct(per_8h)} per 8h on average ({yearly:+.1f}% a year)",
            inline=False,
        )
    weighted, weighted_yearly = view.oi_weighted_per_8h, view.oi_weighted_annualized_pct
    if weighted is not None and weighted_yearly is not None:
        embed.add_field(
            name=f"Weighted by open interest ({view.oi_weighted_venues} venue"
            + ("s)" if view.oi_weighted_venues != 1 else ")"),
            value=f"{rate_pct(weighted)} per 8h ({weighted_yearly:+.1f}% a year)",
            inline=False,
        )
    if view.predicted:
        embed.add_field(
            name=f"Next settlement, forecast by {view.predicted[0].source} (not a paid rate)",
            value="\n".join(_predicted_line(p) for p in view.predicted),
            inline=False,
        )
    interval_from = {"instrument list": "the venue's instrument list", "settlements": "its settlements"}
    embed.set_footer(
        text=f"source {view.source} · interval from {interval_from.get(view.interval_from, 'a guess (8h)')}"
    )
    return fit(embed)


def open_interest_embed(view: OpenInterestView) -> discord.Embed:
    """Render /oi: the sum over venues (one side of the market), then each venue."""
    asset = short_symbol(view.symbol)
    amount = format_usd(view.usd) if view.usd is not None else f"{view.contracts or 0:,.0f} {asset}"
    venues = len(view.by_source)
    where = f"sum of {venues} venues" if venues > 1 else f"on {view.source}"
    embed = discord.Embed(
        title=f"{asset} open interest is {amount}",
        description=f"{view.symbol} · {where} (one side) · 24h {signed_pct(view.change_24h_pct)}",
        colour=colour_for(view.change_24h_pct),
    )
    embed.add_field(name="1h", value=signed_pct(view.change_1h_pct))
    embed.add_field(name="24h", value=signed_pct(view.change_24h_pct))
    embed.add_field(name="7d", value=signed_pct(view.change_7d_pct))
    if view.contracts is not None and view.usd is not None:
        embed.add_field(name="Contracts", value=f"{view.contracts:,.0f} {asset}")
    for source in view.by_source:
        value = format_usd(source.usd) if source.usd is not None else "n/a"
        coins = f" · {source.contracts:,.0f} {asset}" if source.contracts is not None else ""
        embed.add_field(name=f"{source.source} ({source.sides})", value=f"{value}{coins} · {ts(source.at)}")
    embed.add_field(name="Next funding", value=when(view.next_funding_at), inline=False)
    embed.add_field(name="As of", value=ts(view.at), inline=False)
    embed.set_footer(text=f"source {view.source}")
    return fit(embed)


def fear_greed_embed(view: FearGreedView) -> discord.Embed:
    """Render /fng."""
    label = view.classification or "unclassified"
    embed = discord.Embed(
        title=f"Fear & Greed Index: {view.value} ({label})",
        description=f"Published {view.date}",
        colour=colour_for(view.change_1d),
    )

    def change(delta: int | None, before: int | None) -> str:
        return "n/a" if delta is None or before is None else f"{delta:+d} (from {before})"

    embed.add_field(name="Since yesterday", value=change(view.change_1d, view.yesterday))
    embed.add_field(name="Since last week", value=change(view.change_7d, view.last_week))
    high, low = view.highest_since, view.lowest_since
    # Say whichever extreme is the longer-standing one: "highest since October" is the news.
    if high.days >= low.days:
        text = (
            f"Highest since {high.date} ({high.days} days; it was {high.value})"
            if high.date
            else f"Highest in the {high.days} days on record"
        )
    else:
        text = (
            f"Lowest since {low.date} ({low.days} days; it was {low.value})"
            if low.date
            else f"Lowest in the {low.days} days on record"
        )
    embed.add_field(name="Record", value=text, inline=False)
    embed.set_footer(text=f"source {view.source}")
    return fit(embed)
