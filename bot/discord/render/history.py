"""Embeds for /history, /why, /chart and /alert test (``render`` holds the other commands' and alerts').

Times are Discord timestamps (each reader sees their own zone); every embed goes through ``render.fit``
so it stays within Discord's limits.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.charts.spec import ChartSpec
from bot.discord.render.warmup import warm_up_text
from bot.notify.discord.render import alerts as render_alerts
from bot.notify.discord.render.base import DESCRIPTION_LIMIT, FIELD_VALUE_LIMIT, NEUTRAL, fit, fit_lines, ts
from bot.notify.discord.render.values import value_fields
from bot.parsing import format_duration
from bot.replay.backtest import BacktestAlert
from bot.services.backtest import BacktestPreview
from bot.services.history import AlertLine, HistoryPage, WhyRuleView, WhyView
from detectors.base import MARKET_SYMBOL, short_symbol
from storage.rows import DAY_MS, HOUR_MS

SEVERITY_ICONS = {"critical": "🔴", "warning": "🟠", "info": "🔵"}
# Firings listed by /alert test before the rest are counted.
MAX_FIRINGS_SHOWN = 10
# Alert values shown as fields by /why (the rest are bookkeeping or nested).
MAX_VALUE_FIELDS = 12


def chart_filename(symbol: str, interval: str) -> str:
    """Return the attachment name of a chart (letters, digits, dashes: Discord rewrites anything else)."""
    return f"{symbol}-{interval}.png".lower()


def _history_line(item: AlertLine) -> str:
    icon = SEVERITY_ICONS.get(item.severity, "⚪")
    parts = [f"{icon} **#{item.event_id}** {ts(item.at, 'f')} · {item.title} · `{item.rule_id}`"]
    if item.silenced:
        parts.append("🔕 silenced (not posted)")
    if item.folded_into is not None:
        parts.append(f"📎 folded into #{item.folded_into}")
    if item.late:
        parts.append(f"⏱ late (recorded {format_duration((item.recorded_at - item.at) / 1000)} after)")
    return " · ".join(parts)


def history_embed(page: HistoryPage) -> discord.Embed:
    """Render one page of /history."""
    query = page.query
    scope = [query.symbol or "all symbols"]
    if query.rule_id:
        scope.append(f"rule {query.rule_id}")
    if query.since is not None:
        scope.append(f"since {ts(query.since, 'f')}")
    embed = discord.Embed(title="Alert history", colour=NEUTRAL)
    if not page.items:
        embed.description = f"No alerts match ({' · '.join(scope)})."
        return fit(embed)
    heading = f"{' · '.join(scope)} · newest first"
    items = fit_lines([_history_line(item) for item in page.items], DESCRIPTION_LIMIT - len(heading) - 1)
    embed.description = "\n".join([heading, *items])
    embed.set_footer(
        text=f"page {page.page + 1}/{page.pages} · {page.total} alerts · /why <number> explains one"
    )
    return fit(embed)


def why_rule_embed(view: WhyRuleView) -> discord.Embed:
    """Render /why rule: whether the rule can fire yet (its warm-up) and its last alert."""
    can_fire = view.enabled and not view.warming
    state = "can fire" if can_fire else "is warming up" if view.enabled else "is paused"
    embed = discord.Embed(
        title=f"Why {view.rule_id} {state}".replace("`", ""),
        description=f"`{view.detector}` on {short_symbol(view.symbol)} · {_settings(view.summary)}",
        colour=NEUTRAL,
    )
    if not view.enabled:
        embed.add_field(name="Paused", value=view.status_reason or "paused", inline=False)
    if view.warming:
        embed.add_field(name="Warming up", value=warm_up_text(view.warming), inline=False)
    elif view.needs:
        have = ", ".join(f"{count} closed {interval} candles" for interval, count in view.needs.items())
        embed.add_field(name="Warm", value=f"It has the {have} its indicators need.", inline=False)
    last = view.last_alert
    embed.add_field(
        name="Last alert",
        value=f"#{last.event_id} {last.title} {ts(last.at)}" if last is not None else "none yet",
        inline=False,
    )
    embed.set_footer(text=f"rule {view.rule_id}")
    return fit(embed)


def _settings(summary: str | None) -> str:
    """Return a rule's settings as members type them, in code (``min_usd=20000000``), or "defaults"."""
    return f"`{summary}`" if summary else "defaults"


def why_embed(view: WhyView) -> discord.Embed:
    """Render /why: the values that made it fire, the rule then and now, the data and the delivery."""
    ended = view.state == "resolved"
    title = view.title.removeprefix("Ended: ") if ended else view.title
    embed = discord.Embed(
        title=f"Why #{view.event_id} {'ended' if ended else 'fired'}: {title}",
        description=(
            f"{ts(view.at, 'f')} ({ts(view.at)}) · `{view.detector}` on {view.symbol} · {view.severity}"
        ),
        colour=render_alerts.alert_colour({"state": view.state, "direction": view.values.get("direction")}),
    )
    # Each value by its kind and label (the alert an end notice belongs to is named under Delivery).
    for name, text in value_fields(view.detector, view.values)[:MAX_VALUE_FIELDS]:
        embed.add_field(name=name, value=text)
    if view.formula:
        embed.add_field(name="Formula", value=f"`{view.formula}`", inline=False)
    rule = view.rule
    origins = {"config": "config file", "discord": "created in Discord"}
    origin = origins.get(rule.origin or "", "origin unknown")
    behaviour = []
    if rule.repeat is False:
        behaviour.append("one-shot")
    if rule.cooldown_s is not None:
        behaviour.append(f"cooldown {format_duration(rule.cooldown_s)}")
    if rule.pending_s:
        behaviour.append(f"holds {format_duration(rule.pending_s)} before firing")
    if rule.pending_evaluations and rule.pending_evaluations > 1:
        behaviour.append(f"needs {rule.pending_evaluations} evaluations in a row")
    # Settings as members type them (``min_usd=20000000``), so in code like the commands that take them.
    then = f"`{rule.id}` ({origin}) · {_settings(rule.summary)}"
    if behaviour:
        then += " · " + ", ".join(behaviour)
    embed.add_field(name="Rule when it fired", value=then, inline=False)
    now = {
        "unchanged": "unchanged since",
        "changed": f"changed since: {_settings(view.rule_now_summary)}",
        "removed": "removed since (its history is kept)",
    }[view.rule_now]
    embed.add_field(name="Rule now", value=now, inline=False)
    if view.sources:
        lines = [
            f"{s.source} {s.detail}: newest {ts(s.newest_at, 'f')}, "
            + ("at the alert's time" if s.age_s < 1 else f"{format_duration(s.age_s)} before it")
            for s in view.sources
        ]
        embed.add_field(name="Data", value="\n".join(lines), inline=False)
    else:
        embed.add_field(name="Data", value="no stored rows of its sources around that time", inline=False)
    timing = f"market time {ts(view.at, 'f')}, recorded {ts(view.recorded_at, 'f')}"
    timing += " (at once)" if view.delay_s < 1 else f" ({format_duration(view.delay_s)} later)"
    if view.late:
        timing += (
            f"\n⏱ late: recorded more than {format_duration(view.late_after_s)} after its market time "
            "(found after a gap in the data)"
        )
    embed.add_field(name="Timing", value=timing, inline=False)
    embed.add_field(name="Delivery", value=_delivery(view), inline=False)
    embed.set_footer(text=f"alert #{view.event_id} · rule {rule.id} · {view.detector} · {view.symbol}")
    return fit(embed)


def _where(target: str) -> str:
    kind, _, ident = target.partition(":")
    return f"<#{ident}>" if kind == "channel" else "a direct message" if kind == "user" else target


def _delivery(view: WhyView) -> str:
    lines = []
    if view.silenced_by is not None:
        lines.append(f"🔕 silenced by silence #{view.silenced_by}: not posted")
    if view.folded_into is not None:
        lines.append(f"📎 folded into alert #{view.folded_into}'s message")
    if view.fired_event_id is not None:
        lines.append(f"ends alert #{view.fired_event_id}")
    for line in view.deliveries:
        what = {"fold": "listed in", "resolve": "end noted in"}.get(line.kind, "posted in")
        if line.status == "delivered":
            when = f" {ts(line.delivered_at)}" if line.delivered_at else ""
            lines.append(f"{what} {_where(line.target)}{when}")
        elif line.status == "pending":
            lines.append(f"queued for {_where(line.target)}")
        else:
            reason = line.error or "no reason given"
            lines.append(f"not delivered to {_where(line.target)} ({line.status}: {reason})")
    return "\n".join(fit_lines(lines, FIELD_VALUE_LIMIT)) or "not delivered in this server"


def chart_embed(spec: ChartSpec, filename: str) -> discord.Embed:
    """Render /chart around its PNG attachment."""
    embed = discord.Embed(title=spec.title, description=spec.subtitle or None, colour=NEUTRAL)
    embed.set_image(url=f"attachment://{filename}")
    return fit(embed)


def _firings(alerts: Sequence[BacktestAlert]) -> str:
    lines = [f"{ts(a.at, 'f')} ({ts(a.at)}) · {a.title}" for a in alerts]
    return "\n".join(fit_lines(lines, FIELD_VALUE_LIMIT, most=MAX_FIRINGS_SHOWN))


def covered_text(span_ms: int) -> str:
    """Return a backtest's span in days (``7 days``, ``6.5 days``), or hours under a day."""
    if span_ms < DAY_MS:
        hours = round(span_ms / HOUR_MS)
        return f"{hours} hour" + ("" if hours == 1 else "s")
    days = f"{span_ms / DAY_MS:.1f}".removesuffix(".0")
    return f"{days} day" + ("" if days == "1" else "s")


def backtest_embed(preview: BacktestPreview, summary: str, filename: str | None) -> discord.Embed:
    """Render /alert test: how often the rule would have fired over the period, when, and its chart."""
    result = preview.result
    count = result.fire_count
    times = "time" if count == 1 else "times"
    # The span the stored history actually covered, which can be shorter than the period asked for.
    period = covered_text(result.end - result.start)
    rule = result.rule
    name = f"`{rule.id}`" if preview.existing else "this alert"
    embed = discord.Embed(
        title=f"Backtest: {name} would have fired {count} {times} in {period}".replace("`", ""),
        colour=NEUTRAL,
    )
    where = "market-wide" if rule.symbol == MARKET_SYMBOL else f"on {short_symbol(rule.symbol)}"
    span = f"{ts(result.start, 'f')} → {ts(result.end, 'f')}"
    if result.candles:
        span += f" · {result.candles:,} candles"
    engine = f"cooldown {format_duration(rule.cooldown_s)}" + (", one-shot" if not rule.repeat else "")
    lines = [
        f"`{rule.detector}` {where} · {summary or 'defaults'}",
        f"{span} · the live bot's detector and engine ({engine})",
    ]
    asked = covered_text(int(preview.days * DAY_MS))
    if period != asked:
        lines.append(f"The stored history covers {period} of the {asked} asked for.")
    embed.description = "\n".join(lines)
    if result.fired:
        embed.add_field(name="When", value=_firings(result.fired), inline=False)
    else:
        embed.add_field(name="When", value="It would not have fired over this period.", inline=False)
    if preview.warming:
        embed.add_field(name="Live, it is warming up", value=warm_up_text(preview.warming), inline=False)
    if filename is not None:
        embed.set_image(url=f"attachment://{filename}")
    hint = "Enable this rule creates it" if not preview.existing else f"rule {rule.id}"
    embed.set_footer(text=f"replayed in {result.seconds:.1f}s · {hint}")
    return fit(embed)
