"""Embeds for the service's views and for alert payloads.

Titles say what happened in plain words, colours follow the direction, key numbers are fields, times are
Discord timestamps (``<t:unix:R>``: every reader sees them in their own time zone), and the footer names
the rule and the data source. Every embed passes through ``fit`` so it stays within Discord's limits
(title 256, description 4096, 25 fields of 256/1024, footer 2048, 6000 characters in all), which Discord
otherwise answers with a 400 and no message at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import discord

from bot.parsing import format_duration
from bot.service import (
    BROKEN_PREFIX,
    FearGreedView,
    FundingView,
    GuildSetupView,
    LiquidationsView,
    OpenInterestView,
    PriceView,
    RuleView,
    StatusView,
)
from detectors.base import format_price, format_usd, short_symbol

TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
AUTHOR_LIMIT = 256
TOTAL_LIMIT = 6000
# Discord rejects message content longer than 2000 characters (error 50035).
CONTENT_LIMIT = 2000
# Room kept for the "… and N more" line that ends a list cut short.
_MORE_RESERVE = 40

UP = discord.Colour(0x2ECC71)
DOWN = discord.Colour(0xE74C3C)
NEUTRAL = discord.Colour(0x5865F2)
ENDED = discord.Colour(0x95A5A6)
WARNING = discord.Colour(0xE67E22)
CRITICAL = discord.Colour(0xC0392B)

# Alert values that are bookkeeping rather than news.
_HIDDEN_VALUES = {"direction", "fired_event_id"}


def cut(text: str, limit: int) -> str:
    """Return ``text`` shortened to ``limit`` characters, ending in "…" when it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fit_lines(
    lines: Sequence[str],
    limit: int,
    *,
    most: int | None = None,
    more: Callable[[int], str] = lambda left: f"… and {left} more",
) -> list[str]:
    """Return the first ``lines`` (at most ``most``) that fit in ``limit`` characters joined by newlines,
    then a ``more`` line counting the rest: a list cut at a line, never in the middle of one."""
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        last = index == len(lines) - 1
        room = limit - (0 if last else _MORE_RESERVE)
        if (most is not None and index >= most) or used + len(line) > room:
            kept.append(more(len(lines) - index))
            break
        kept.append(line)
        used += len(line) + 1
    return kept


def fit(embed: discord.Embed) -> discord.Embed:
    """Trim an embed in place to Discord's limits and return it."""
    if embed.title:
        embed.title = cut(embed.title, TITLE_LIMIT)
    if embed.description:
        embed.description = cut(embed.description, DESCRIPTION_LIMIT)
    fields = embed.fields
    if len(fields) > FIELD_LIMIT:
        for index in range(len(fields) - 1, FIELD_LIMIT - 1, -1):
            embed.remove_field(index)
    for index, item in enumerate(embed.fields):
        embed.set_field_at(
            index,
            name=cut(item.name or "\u200b", FIELD_NAME_LIMIT),
            value=cut(item.value or "\u200b", FIELD_VALUE_LIMIT),
            inline=bool(item.inline),
        )
    if embed.footer.text:
        embed.set_footer(text=cut(embed.footer.text, FOOTER_LIMIT), icon_url=embed.footer.icon_url)
    # The 6000-character total counts title, description, field names and values, footer and author:
    # drop fields from the end, then shorten the description, until it fits.
    while len(embed) > TOTAL_LIMIT and embed.fields:
        embed.remove_field(len(embed.fields) - 1)
    if len(embed) > TOTAL_LIMIT and embed.description:
        excess = len(embed) - TOTAL_LIMIT
        embed.description = cut(embed.description, max(1, len(embed.description) - excess - 1))
    return embed


def ts(ms: int, style: str = "R") -> str:
    """Return a Discord timestamp for epoch milliseconds (``<t:1768345200:R>``)."""
    return f"<t:{ms // 1000}:{style}>"


def when(ms: int) -> str:
    """Return "in 2 hours (14 Jan 16:00)" style text: relative and absolute, both in the reader's zone."""
    return f"{ts(ms, 'R')} ({ts(ms, 'f')})"


def signed_pct(value: float | None, digits: int = 2) -> str:
    """Format a percentage change with its sign and an arrow, or "n/a"."""
    if value is None or not math.isfinite(value):
        return "n/a"
    arrow = "▲" if value > 0 else "▼" if value < 0 else "•"
    return f"{arrow} {value:+.{digits}f}%"


def rate_pct(rate: float) -> str:
    """Format a funding rate (decimal per interval) as a percentage with four decimals."""
    return f"{rate * 100:+.4f}%"


def colour_for(change: float | None) -> discord.Colour:
    """Return green for up, red for down, blurple otherwise."""
    if change is None or change == 0:
        return NEUTRAL
    return UP if change > 0 else DOWN


# --- market views ---------------------------------------------------------------------------------------


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
    embed = discord.Embed(title=title, description="\n".join(lines), colour=colour)
    for source in view.by_source[:10]:
        embed.add_field(
            name=source.source,
            value=f"Longs {format_usd(source.long_usd)}\nShorts {format_usd(source.short_usd)}",
        )
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


# --- rules, setup and status --------------------------------------------------------------------------------


def _rule_line(rule: RuleView) -> str:
    where = (
        "DM" if rule.deliver == "dm" else f"<#{rule.channel_id}>" if rule.channel_id else "default channel"
    )
    parts = [
        f"`{rule.id}` **{short_symbol(rule.symbol)}** {rule.detector} {rule.summary}".rstrip(),
        f"→ {where}",
    ]
    if rule.role_id:
        parts.append(f"pings <@&{rule.role_id}>")
    if rule.distance_pct is not None and rule.price is not None:
        parts.append(f"price {format_price(rule.price)}, {rule.distance_pct:+.2f}% to the level")
    if not rule.repeat:
        parts.append("one-shot")
    if rule.expires_at:
        parts.append(f"expires {ts(rule.expires_at)}")
    if not rule.enabled:
        reason = rule.status_reason or "paused"
        parts.append(f"⚠️ {reason}" if reason.startswith(BROKEN_PREFIX) else f"⏸ {reason}")
    return " · ".join(parts)


def rule_embed(rule: RuleView, title: str) -> discord.Embed:
    """Render one rule after it was added, removed, paused or resumed."""
    embed = discord.Embed(
        title=title, description=_rule_line(rule), colour=NEUTRAL if rule.enabled else ENDED
    )
    if rule.note:
        embed.add_field(name="Note", value=rule.note, inline=False)
    embed.add_field(name="Cooldown", value=format_duration(rule.cooldown_s))
    embed.set_footer(text=f"rule {rule.id}")
    return fit(embed)


def rules_embed(rules: Sequence[RuleView], *, everyone: bool) -> discord.Embed:
    """Render /alert list: one line per rule, as many as fit."""
    whose = "This server's alerts" if everyone else "Your alerts"
    if not rules:
        return discord.Embed(
            title=f"{whose}: none yet", description="Create one with /alert add.", colour=NEUTRAL
        )
    lines = fit_lines([_rule_line(rule) for rule in rules], DESCRIPTION_LIMIT)
    active = sum(1 for r in rules if r.enabled)
    embed = discord.Embed(title=f"{whose} ({active} active of {len(rules)})", description="\n".join(lines))
    embed.colour = NEUTRAL
    return fit(embed)


def setup_embed(view: GuildSetupView) -> discord.Embed:
    """Render /setup."""
    alert = f"<#{view.alert_channel_id}>" if view.alert_channel_id else "not set"
    ops = f"<#{view.ops_channel_id}>" if view.ops_channel_id else "not set"
    title = "Server settings saved" if view.changed else "Server settings"
    embed = discord.Embed(title=title, colour=NEUTRAL)
    embed.add_field(name="Default alert channel", value=alert)
    embed.add_field(name="Ops channel", value=ops)
    embed.add_field(name="Charts on alerts", value="on" if view.chart_alerts else "off")
    return fit(embed)


def _size(size: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def status_embed(view: StatusView) -> discord.Embed:
    """Render /status."""
    bad = [f for f in view.feeds if f.state not in ("ok", "disabled")]
    embed = discord.Embed(
        title="Tripwire is running" + (f"; {len(bad)} feed(s) need attention" if bad else ""),
        colour=WARNING if bad else UP,
    )
    embed.add_field(name="Version", value=view.version)
    embed.add_field(name="Up since", value=ts(view.started_at))
    embed.add_field(name="Database", value=_size(view.db_size_bytes))
    embed.add_field(name="Alerts", value=f"{view.rules_enabled} active of {view.rules_total}")
    embed.add_field(name="Queued deliveries", value=str(view.outbox_pending))
    symbols = ", ".join(view.symbols) or "none"
    embed.add_field(name="Symbols", value=symbols)
    if view.feeds:
        icons = {"ok": "🟢", "degraded": "🟡", "stale": "🔴", "disabled": "⚪", "refused": "⛔"}
        lines = []
        for feed in view.feeds:
            last = ts(feed.last_success_ms) if feed.last_success_ms else "never"
            lag = f", lag {feed.lag_s:.0f}s" if feed.lag_s is not None else ""
            detail = f" · {feed.detail}" if feed.detail else ""
            lines.append(
                f"{icons.get(feed.state, '⚪')} {feed.name}: {feed.state}, last success {last}{lag}{detail}"
            )
        embed.add_field(name="Feeds", value="\n".join(lines), inline=False)
    else:
        embed.add_field(name="Feeds", value="no feed health reported", inline=False)
    if view.last_alerts:
        lines = [
            f"{ts(a.at)} `{a.rule_id}` {a.title}"
            + (" (late)" if a.late else "")
            + (" (silenced)" if a.silenced else "")
            for a in view.last_alerts
        ]
        embed.add_field(name="Last alerts", value="\n".join(lines), inline=False)
    else:
        embed.add_field(name="Last alerts", value="none yet", inline=False)
    channels = []
    if view.alert_channel_id:
        channels.append(f"alerts <#{view.alert_channel_id}>")
    if view.ops_channel_id:
        channels.append(f"ops <#{view.ops_channel_id}>")
    embed.set_footer(text=f"uptime {format_duration(view.uptime_s)}")
    if channels:
        embed.add_field(name="Channels", value=" · ".join(channels), inline=False)
    return fit(embed)


# --- alerts from the outbox -----------------------------------------------------------------------------


def _label(key: str) -> str:
    # The unit shows in the value ("0.50%", "$2.1M", "15m"), so the name drops its suffix.
    for suffix in ("_pct", "_usd", "_s"):
        if key.endswith(suffix) and len(key) > len(suffix):
            key = key[: -len(suffix)]
            break
    return key.replace("_", " ").strip().capitalize()


def _value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float) and math.isfinite(value):
        if key == "usd" or key.endswith("_usd"):  # a cascade's own total is plain "usd"
            return format_usd(float(value))
        if key.endswith("_pct"):
            return f"{value:.2f}%"
        if key == "duration_s" or key.endswith("_seconds"):
            return format_duration(value)
        if key in ("price", "level", "high", "low", "open", "close", "step") or key.endswith("_price"):
            return format_price(float(value))
        if isinstance(value, int):
            return f"{value:,}"
        return f"{value:,.6g}"
    return str(value)


def value_field(key: str, value: Any) -> tuple[str, str]:
    """Return the (name, value) an alert embed shows for one of the alert's values."""
    return _label(key), _value(key, value)


def alert_colour(payload: Mapping[str, Any]) -> discord.Colour:
    """Return the colour of an alert: grey when ended, else by direction, else by severity."""
    if payload.get("state") == "resolved":
        return ENDED
    direction = payload.get("direction")
    if direction == "up":
        return UP
    if direction == "down":
        return DOWN
    return CRITICAL if payload.get("severity") == "critical" else WARNING


def alert_embed(
    payload: Mapping[str, Any], source: str | None = None, folded: Sequence[Mapping[str, Any]] = ()
) -> discord.Embed:
    """Render an alert (or resolve notice) payload from the outbox, listing the alerts folded into it."""
    at = int(payload.get("at") or 0)
    lines = []
    note = payload.get("note")
    if note:
        lines.append(f"📝 {note}")
    stamp = f"{ts(at)} · {ts(at, 'f')}"
    if payload.get("late"):
        stamp += " · ⏱ late (found after a gap in the data)"
    lines.append(stamp)
    embed = discord.Embed(
        title=str(payload.get("title") or "Alert"),
        description="\n".join(lines),
        colour=alert_colour(payload),
        timestamp=datetime.fromtimestamp(at / 1000, tz=UTC) if at else None,
    )
    values = payload.get("values") or {}
    if isinstance(values, Mapping):
        shown = [
            (k, v) for k, v in values.items() if k not in _HIDDEN_VALUES and not isinstance(v, dict | list)
        ]
        for key, value in shown[:12]:
            embed.add_field(name=_label(str(key)), value=_value(str(key), value))
    if folded:
        # Lesser alerts of the symbol while this one fires (engine inhibition): newest last, the oldest
        # dropped first when the 1024-character field limit is reached.
        lines = [f"• {item.get('title', '?')} · {ts(int(item.get('at') or 0))}" for item in folded]
        newest_first = fit_lines(lines[::-1], FIELD_VALUE_LIMIT, more=lambda left: f"… and {left} earlier")
        embed.add_field(
            name=f"Also while this lasts ({len(lines)})", value="\n".join(newest_first[::-1]), inline=False
        )
    parts = [f"rule {payload.get('rule_id', '?')}", str(payload.get("detector", "?"))]
    symbol = payload.get("symbol")
    if symbol:
        parts.append(str(symbol))
    if source:
        parts.append(f"source {source}")
    event_id = payload.get("event_id")
    if isinstance(event_id, int) and event_id > 0:
        parts.append(f"/why {event_id}")  # the stored evidence behind the alert, on request
    embed.set_footer(text=" · ".join(parts))
    return fit(embed)


def ops_embed(payload: Mapping[str, Any]) -> discord.Embed:
    """Render a message for the ops channel (delivery problems, feed health)."""
    embed = discord.Embed(
        title=str(payload.get("title") or "Tripwire needs attention"),
        description=str(payload.get("text") or ""),
        colour=CRITICAL if payload.get("severity") == "critical" else WARNING,
    )
    rule_id = payload.get("rule_id")
    embed.set_footer(text=f"rule {rule_id}" if rule_id else "Tripwire ops")
    return fit(embed)
