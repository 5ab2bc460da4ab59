"""Embeds for grouped messages: one alert with its folded lines, several alerts, caps and ops notices.

The channel cap's summary reads "+N more alerts"; alerts that ended are marked with how long they lasted.
Late alerts (queued long before they could be delivered: ``bot.notify.grouping``) say so and when they were
queued; several go in one list.

A message is a pure function of the outbox rows it holds (and the resolve rows of its alerts), so an edit
after a crash renders exactly what the interrupted one would have.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import discord

from bot.notify.discord.render import alerts as render_alerts
from bot.notify.discord.render import base as render
from bot.parsing import format_duration
from detectors.base import short_symbol
from storage.repo import OutboxRow

SourceOf = Callable[[str, Mapping[str, Any]], str | None]


@dataclass(frozen=True, slots=True)
class Line:
    """One alert of a message, with the lesser alerts folded under it and its end, if it ended."""

    row: OutboxRow
    folded: tuple[Mapping[str, Any], ...]
    ended: Mapping[str, Any] | None


def lines_of(members: Sequence[OutboxRow], resolves: Sequence[OutboxRow] = ()) -> list[Line]:
    """Arrange a message's rows into lines: folds under their alert, resolve rows as the alert's end."""
    events = {m.event_id for m in members if m.kind in ("alert", "fold") and m.event_id is not None}
    folds: dict[int, list[Mapping[str, Any]]] = {}
    ends: dict[int, Mapping[str, Any]] = {}
    own: list[OutboxRow] = []
    for row in members:
        parent = row.payload.get("parent_event_id")
        fired = row.payload.get("fired_event_id")
        if row.kind == "fold" and parent in events:
            folds.setdefault(int(parent), []).append(row.payload)
        elif row.kind == "resolve" and fired in events:
            ends[int(fired)] = row.payload
        else:
            own.append(row)
    for row in resolves:
        fired = row.payload.get("fired_event_id")
        if isinstance(fired, int) and fired in events:
            ends.setdefault(fired, row.payload)
    lines: list[Line] = []
    for row in own:
        event = row.event_id if row.kind in ("alert", "fold") else None
        folded = tuple(
            _with_end(p, ends.get(int(p.get("event_id") or 0))) for p in folds.get(event or -1, [])
        )
        lines.append(Line(row, folded, ends.get(event) if event is not None else None))
    return lines


def ended_text(end: Mapping[str, Any]) -> str:
    """Return "ended after 1h" for a resolve payload."""
    values = end.get("values")
    duration = values.get("duration_s") if isinstance(values, Mapping) else None
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        return f"ended after {format_duration(duration)}"
    return "ended"


def _with_end(payload: Mapping[str, Any], end: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if end is None:
        return payload
    return {**payload, "title": f"{payload.get('title', '?')} ({ended_text(end)})"}


def message_embed(
    kind: str, lines: Sequence[Line], source_of: SourceOf, *, cap: int | None = None
) -> discord.Embed:
    """Render a grouped message: one alert in full, several as a list, a cap summary, or ops notices."""
    if kind == "summary":
        return _list_embed(lines, f"+{len(lines)} more alerts", _summary_intro(cap), summary=True)
    if kind == "late" or (kind == "alerts" and any(line.row.payload.get("delivered_late") for line in lines)):
        return _late(lines, source_of)
    if kind == "ops":
        if len(lines) == 1:
            return render_alerts.ops_embed(lines[0].row.payload)
        return _ops_list(lines)
    if len(lines) == 1:
        return _single(lines[0], source_of)
    return _list_embed(lines, _list_title(lines), None, summary=False)


def late_note(lines: Sequence[Line]) -> str:
    """Return the line saying alerts are delivered late: when the oldest was queued."""
    queued = min(line.row.created_at for line in lines)
    what = "This alert was" if len(lines) == 1 else "These alerts were"
    return f"⏱ **Delivered late.** {what} queued {render.ts(queued)} and could not be delivered until now."


def _late(lines: Sequence[Line], source_of: SourceOf) -> discord.Embed:
    """Render late alerts: one in full with the late note, several as one list."""
    if len(lines) == 1:
        embed = _single(lines[0], source_of)
        embed.description = f"{late_note(lines)}\n{embed.description or ''}"
        return render.fit(embed)
    return _list_embed(lines, f"{len(lines)} late alerts", late_note(lines), summary=False)


def _single(line: Line, source_of: SourceOf) -> discord.Embed:
    payload = line.row.payload
    embed = render_alerts.alert_embed(
        payload, source_of(str(payload.get("symbol") or ""), payload), line.folded
    )
    if line.ended is not None:
        # The alert's own message says it is over, so nobody reads an old cascade as a current one.
        at = int(line.ended.get("at") or 0)
        embed.colour = render.ENDED
        embed.description = (embed.description or "") + (
            f"\n⏹ **{ended_text(line.ended).capitalize()}** · {render.ts(at)}"
        )
    return render.fit(embed)


def _icon(payload: Mapping[str, Any], ended: bool) -> str:
    if ended or payload.get("state") == "resolved":
        return "⏹"
    direction = payload.get("direction")
    if direction == "up":
        return "🟢"
    if direction == "down":
        return "🔴"
    return {"critical": "🚨", "warning": "🟠"}.get(str(payload.get("severity")), "🔵")


def line_text(line: Line) -> str:
    """Return the text of one line of a listed message (with its folded alerts indented under it)."""
    payload = line.row.payload
    at = int(payload.get("at") or 0)
    icon = _icon(payload, line.ended is not None)
    text = f"{icon} **{payload.get('title', 'Alert')}** · {render.ts(at, 't')}"
    if payload.get("late"):
        text += " · ⏱ late"
    if line.ended is not None:
        text += f" · {ended_text(line.ended)}"
    elif payload.get("state") == "resolved":
        text += f" · {ended_text(payload)}"  # a resolve notice told as a line of its own
    for folded in line.folded:
        text += f"\n  ↳ {folded.get('title', '?')}"
    return text


def _list_title(lines: Sequence[Line]) -> str:
    symbols: list[str] = []
    for line in lines:
        symbol = str(line.row.payload.get("symbol") or "")
        name = "market" if symbol in ("", "MARKET", "*") else short_symbol(symbol)
        if name not in symbols:
            symbols.append(name)
    return f"{len(lines)} alerts: {', '.join(symbols)}"


def _summary_intro(cap: int | None) -> str:
    limit = f"its limit of {cap} messages a minute" if cap else "its messages-per-minute limit"
    return f"This channel reached {limit}; these alerts arrived meanwhile:"


def _colour(lines: Sequence[Line]) -> discord.Colour:
    payloads = [line.row.payload for line in lines if line.ended is None]
    if not payloads:
        return render.ENDED
    if any(p.get("severity") == "critical" for p in payloads):
        return render.CRITICAL
    directions = {p.get("direction") for p in payloads}
    if directions == {"up"}:
        return render.UP
    if directions == {"down"}:
        return render.DOWN
    return render.WARNING


def _list_embed(lines: Sequence[Line], title: str, intro: str | None, *, summary: bool) -> discord.Embed:
    head = [intro] if intro else []
    room = render.DESCRIPTION_LIMIT - sum(len(text) + 1 for text in head)
    shown = head + render.fit_lines([line_text(line) for line in lines], room)
    first = int(lines[0].row.payload.get("at") or 0) if lines else 0
    embed = discord.Embed(
        title=title,
        description="\n".join(shown),
        colour=render.NEUTRAL if summary else _colour(lines),
        timestamp=datetime.fromtimestamp(first / 1000, tz=UTC) if first else None,
    )
    rules: list[str] = []
    for line in lines:
        rule = str(line.row.payload.get("rule_id") or "?")
        if rule not in rules:
            rules.append(rule)
    embed.set_footer(text=f"rules {', '.join(rules)}")
    return render.fit(embed)


def _ops_list(lines: Sequence[Line]) -> discord.Embed:
    texts = [
        f"• **{line.row.payload.get('title', '?')}** {line.row.payload.get('text', '')}" for line in lines
    ]
    critical = any(line.row.payload.get("severity") == "critical" for line in lines)
    embed = discord.Embed(
        title=f"{len(lines)} notices from Tripwire",
        description="\n".join(texts),
        colour=render.CRITICAL if critical else render.WARNING,
    )
    embed.set_footer(text="Tripwire ops")
    return render.fit(embed)
