"""Embeds of the large-liquidation feed (outbox payloads of kind ``liqfeed``), /liqfeed and /liqprice.

Sides are the liquidated *position's*: a liquidated long is a forced sale (red, the price was falling), a
liquidated short a forced buy (green). Times are Discord timestamps, so every reader sees their own zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import discord

from bot.discord.render.base import DOWN, ENDED, NEUTRAL, UP, WARNING, fit, ts
from bot.liqfeed.feed import size_marker
from bot.liqfeed.settings import LiqFeedView
from bot.parsing import format_duration
from bot.services.liqprice import LiqPriceView
from detectors.base import format_price, format_usd, short_symbol

EXCHANGE_NAMES = {"binance": "Binance", "bybit": "Bybit", "okx": "OKX"}


def exchange_name(source: str) -> str:
    """Return an exchange's display name."""
    return EXCHANGE_NAMES.get(source, source)


def _side_colour(long_usd: float, short_usd: float) -> discord.Colour:
    return DOWN if long_usd >= short_usd else UP


def event_line(event: Mapping[str, Any]) -> str:
    """Return one liquidation as a line: marker, asset, side, size, price, exchange, time."""
    usd = float(event.get("usd") or 0)
    price = float(event.get("price") or 0)
    at = f" at {format_price(price)}" if price > 0 else ""
    where = exchange_name(str(event.get("source")))
    return (
        f"{size_marker(usd)} **{short_symbol(str(event.get('symbol')))}** {event.get('side')} "
        f"{format_usd(usd)}{at} · {where} · {ts(int(event.get('ts') or 0), 'T')}"
    )


def _events(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    events = payload.get("events")
    return [e for e in events if isinstance(e, Mapping)] if isinstance(events, Sequence) else []


def _totals(embed: discord.Embed, payload: Mapping[str, Any]) -> None:
    embed.add_field(
        name="Longs liquidated",
        value=f"{format_usd(float(payload.get('long_usd') or 0))} ({int(payload.get('long_count') or 0)})",
    )
    embed.add_field(
        name="Shorts liquidated",
        value=f"{format_usd(float(payload.get('short_usd') or 0))} ({int(payload.get('short_count') or 0)})",
    )


def liqfeed_embed(payload: Mapping[str, Any]) -> discord.Embed:
    """Render a feed message: one liquidation, a batch, a summary, or a change of mode."""
    kind = payload.get("type")
    threshold = f"Liquidation feed · ≥ {format_usd(float(payload.get('min_usd') or 0))}"
    if kind == "mode":
        embed = _mode_embed(payload)
    elif kind == "summary":
        embed = _summary_embed(payload)
    else:
        embed = _batch_embed(payload)
    embed.set_footer(text=threshold)
    return fit(embed)


def _batch_embed(payload: Mapping[str, Any]) -> discord.Embed:
    events = _events(payload)
    count = int(payload.get("count") or len(events))
    long_usd, short_usd = float(payload.get("long_usd") or 0), float(payload.get("short_usd") or 0)
    if count == 1 and events:
        event = events[0]
        usd = float(event.get("usd") or 0)
        symbol = str(event.get("symbol"))
        return discord.Embed(
            title=f"{size_marker(usd)} {short_symbol(symbol)} {event.get('side')} liquidated: "
            f"{format_usd(usd)}",
            description=(
                f"{exchange_name(str(event.get('source')))} · {symbol} · at "
                f"{format_price(float(event.get('price') or 0))} · {ts(int(event.get('ts') or 0), 'T')}"
            ),
            colour=DOWN if event.get("side") == "long" else UP,
        )
    lines = [event_line(e) for e in events]
    listed_usd = sum(float(e.get("usd") or 0) for e in events)
    if count > len(events):
        lines.append(f"… and {count - len(events)} smaller ({format_usd(long_usd + short_usd - listed_usd)})")
    embed = discord.Embed(
        title=f"💥 {count} liquidations: {format_usd(long_usd + short_usd)}",
        description="\n".join(lines),
        colour=_side_colour(long_usd, short_usd),
    )
    _totals(embed, payload)
    return embed


def _summary_embed(payload: Mapping[str, Any]) -> discord.Embed:
    count = int(payload.get("count") or 0)
    long_usd, short_usd = float(payload.get("long_usd") or 0), float(payload.get("short_usd") or 0)
    start, end = int(payload.get("start_ms") or 0), int(payload.get("end_ms") or 0)
    embed = discord.Embed(
        title=f"📊 {count} liquidations in {format_duration((end - start) / 1000)}: "
        f"{format_usd(long_usd + short_usd)}",
        description=f"{ts(start, 'T')} → {ts(end, 'T')}",
        colour=_side_colour(long_usd, short_usd),
    )
    _totals(embed, payload)
    largest = [event_line(e) for e in _events(payload)]
    if largest:
        embed.add_field(name="Largest", value="\n".join(largest), inline=False)
    return embed


def _mode_embed(payload: Mapping[str, Any]) -> discord.Embed:
    if payload.get("mode") == "summary":
        every = format_duration(float(payload.get("summary_s") or 0))
        within = format_duration(float(payload.get("per_s") or 0))
        return discord.Embed(
            title="🌊 Liquidations are coming faster than this channel can show",
            description=(
                f"More than {payload.get('max_messages')} messages in {within} would be needed, so the feed "
                f"switches to one summary every {every} until it calms down."
            ),
            colour=WARNING,
        )
    return discord.Embed(
        title="✅ Liquidations have calmed down",
        description="The feed posts them as they arrive again.",
        colour=ENDED,
    )


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


def liqprice_embed(view: LiqPriceView) -> discord.Embed:
    """Render /liqprice."""
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
    embed.set_footer(text=view.assumptions)
    return fit(embed)
