"""Embeds of the large-liquidation feed (outbox payloads of kind ``liqfeed``), as the Discord sink posts them.

Sides are the liquidated *position's*: a liquidated long is a forced sale (red, the price was falling), a
liquidated short a forced buy (green). Times are Discord timestamps, so every reader sees their own zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import discord

from bot.liqfeed.feed import size_marker
from bot.notify.discord.render.base import DOWN, ENDED, UP, WARNING, fit, ts
from bot.parsing import format_duration
from detectors.base import format_price, format_usd, short_symbol
from feeds.liq_coverage import COVERAGE

EXCHANGE_NAMES = {source: c.name for source, c in COVERAGE.items()}


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
    without = [exchange_name(str(s)) for s in payload.get("without") or ()]
    if without and kind != "mode":
        names = ", ".join(without)
        what = "feed down, its" if len(without) == 1 else "feeds down, their"
        embed.add_field(name="Totals without", value=f"{names}: {what} liquidations are missing")
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
