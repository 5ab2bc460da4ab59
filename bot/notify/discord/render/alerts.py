"""Embeds of the outbox's alert payloads (an alert, its resolve notice) and of ops messages.

The footer names the rule, the detector, the symbol and the data source, and ``/why <event>`` for the
stored evidence behind the alert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import discord

from bot.notify.discord.render.base import (
    CRITICAL,
    DOWN,
    ENDED,
    FIELD_VALUE_LIMIT,
    UP,
    WARNING,
    fit,
    fit_lines,
    ts,
)
from bot.notify.discord.render.values import value_fields

# Value fields an alert embed shows; the rest stay in /why and the stored alert.
MAX_VALUE_FIELDS = 12


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
    without = [str(name) for name in payload.get("without") or ()]
    if without:
        lines.append(f"⚠️ Liquidation totals without {', '.join(without)} (feed down)")
    embed = discord.Embed(
        title=str(payload.get("title") or "Alert"),
        description="\n".join(lines),
        colour=alert_colour(payload),
        timestamp=datetime.fromtimestamp(at / 1000, tz=UTC) if at else None,
    )
    values = payload.get("values") or {}
    if isinstance(values, Mapping):
        for name, text in value_fields(str(payload.get("detector", "")), values)[:MAX_VALUE_FIELDS]:
            embed.add_field(name=name, value=text)
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
